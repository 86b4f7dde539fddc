"""Weight initialisation in numpy, so every backend can start from the very same numbers.

``xavier`` is the textbook's scheme: Xavier-uniform weights for every convolution and dense
layer. Biases follow PyTorch's default, uniform in +-1/sqrt(fan_in), in every scheme, so a
MindSpore network (whose own default bias is zero) starts identical to a PyTorch one.
``framework`` is the one scheme not drawn here: each backend keeps its own default init.
"""

from __future__ import annotations

import numpy as np

from ..errors import SpecError
from . import ir

SCHEMES = ("xavier", "kaiming", "torch-default", "framework")
NEUTRAL_SCHEMES = SCHEMES[:3]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def initial_weights(network: ir.Sequential, scheme: str = "xavier", seed: int = 0) -> dict[str, np.ndarray]:
    """float32 tensors for every name of ``ir.tensor_shapes(network)``, drawn from ``seed``.

    ``torch-default`` draws PyTorch's default initialisation (Kaiming-uniform, a=sqrt(5)).
    """
    if scheme not in NEUTRAL_SCHEMES:
        raise SpecError(f"unknown init scheme {scheme!r}: choose one of {', '.join(NEUTRAL_SCHEMES)}")
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    shapes = ir.tensor_shapes(network)
    for name, shape in shapes.items():
        layer, kind = name.rsplit(".", 1)
        if kind == "weight" and len(shape) > 1:
            fan_in, fan_out = _fans(shape)
            if scheme == "xavier":
                bound = np.sqrt(6.0 / (fan_in + fan_out))
            elif scheme == "kaiming":
                bound = np.sqrt(6.0 / fan_in)  # He-uniform for ReLU
            else:
                bound = 1.0 / np.sqrt(fan_in)  # PyTorch: kaiming_uniform_(a=sqrt(5))
            values = rng.uniform(-bound, bound, shape)
        elif kind == "bias" and f"{layer}.running_mean" not in shapes:
            fan_in, _ = _fans(shapes[f"{layer}.weight"])
            values = rng.uniform(-1.0, 1.0, shape) / np.sqrt(fan_in)
        elif kind in ("weight", "running_var"):  # batch-norm scale and variance
            values = np.ones(shape)
        else:  # batch-norm shift and mean
            values = np.zeros(shape)
        weights[name] = values.astype(np.float32)
    return weights
