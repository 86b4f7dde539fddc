"""The PaddlePaddle backend's side of the contract (``backends.base.Backend``), verb by verb."""

from __future__ import annotations

from typing import Any

import numpy as np
import paddle
from paddle import nn

from ...model import ir
from .device import has_accelerator, resolve_device
from .interop import export_onnx, read_checkpoint
from .minimal import minimal_step
from .network import compile_network, vgg, vgg_block
from .runner import Runner, load_numpy_state, state_to_numpy

__all__ = [
    "Runner",
    "compile_network",
    "disable_reduced_precision",
    "export_onnx",
    "has_accelerator",
    "load_numpy_state",
    "make_runner",
    "minimal_step",
    "output_shapes",
    "param_count",
    "read_checkpoint",
    "peak_memory_mb",
    "resolve_device",
    "state_to_numpy",
    "version",
    "vgg",
    "vgg_block",
]


def version() -> str:
    return f"paddle {paddle.__version__}"


def output_shapes(model: nn.Layer, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every layer's and block's output for a zero batch of ``shape``, keyed by index path."""
    shapes: dict[str, tuple[int, ...]] = {}

    def walk(container: nn.Sequential, x: paddle.Tensor, prefix: str) -> paddle.Tensor:
        for i, child in enumerate(container.children()):
            name = f"{prefix}{i}"
            x = walk(child, x, f"{name}.") if isinstance(child, nn.Sequential) else child(x)
            shapes[name] = tuple(x.shape)
        return x

    model.eval()
    with paddle.no_grad():
        walk(model, paddle.zeros(shape, dtype="float32"), "")
    return shapes


def param_count(model: nn.Layer) -> int:
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def disable_reduced_precision() -> None:
    """Nothing to do: PaddlePaddle computes in float32 unless asked otherwise."""


def peak_memory_mb(device_label: str) -> float | None:
    """The most GPU memory this process has held; ``None`` on the CPU."""
    return paddle.device.cuda.max_memory_allocated() / 2**20 if device_label.startswith("gpu") else None


def make_runner(network: ir.Sequential, *, device: str, seed: int, options: dict[str, Any]) -> Runner:
    """A runner with the switches in ``options`` (see ``OPTIONS`` in ``__init__``)."""
    return Runner(network, device=device, seed=seed, **options)
