"""The JAX backend's side of the contract (``backends.base.Backend``), verb by verb.

A network here is a Flax module bound to its variables (what ``compile_network`` returns, or the
book's ``VGG`` after ``bind(init(...))``); ``load_numpy_state`` returns a newly bound one.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from ...model import ir
from .device import has_accelerator, jax_device, resolve_device
from .interop import export_onnx, read_checkpoint
from .minimal import minimal_step
from .network import VGG, Network, compile_network, vgg, vgg_block
from .runner import Runner, load_numpy_state, state_to_numpy

__all__ = [
    "VGG",
    "Network",
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
    "peak_memory_mb",
    "read_checkpoint",
    "resolve_device",
    "state_to_numpy",
    "version",
    "vgg",
    "vgg_block",
]


def version() -> str:
    return f"jax {jax.__version__}, flax {flax.__version__}, optax {optax.__version__}"


def output_shapes(model: nn.Module, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every layer's and block's output for a zero NCHW batch of ``shape``, keyed by index path, in NCHW."""
    module, variables = model.unbind()
    shapes: dict[str, tuple[int, ...]] = {}

    def record(path: str, x: jax.Array) -> None:
        shapes[path] = (x.shape[0], x.shape[3], x.shape[1], x.shape[2]) if x.ndim == 4 else tuple(x.shape)

    def walk(layers, x: jax.Array, prefix: str) -> jax.Array:
        for i, layer in enumerate(layers):
            x = walk(layer.layers, x, f"{prefix}{i}.") if isinstance(layer, nn.Sequential) else layer(x)
            record(f"{prefix}{i}", x)
        return x

    evaluation = module.clone(training=False).bind(variables)
    walk(evaluation.net.layers, jnp.zeros((shape[0], *shape[2:], shape[1])), "")
    return shapes


def param_count(model: nn.Module) -> int:
    return sum(int(np.prod(w.shape)) for w in jax.tree_util.tree_leaves(model.variables["params"]))


def disable_reduced_precision() -> None:
    """Full float32 matrix products everywhere (JAX's default on GPUs is TF32-like bfloat16 passes)."""
    jax.config.update("jax_default_matmul_precision", "highest")


def peak_memory_mb(device_label: str) -> float | None:
    """The most GPU memory this process has held on ``device_label``; ``None`` on the CPU."""
    if device_label == "cpu":
        return None
    stats = jax_device(device_label).memory_stats() or {}
    return stats.get("peak_bytes_in_use", 0) / 2**20


def make_runner(network: ir.Sequential, *, device: str, seed: int, options: dict[str, Any]) -> Runner:
    """A runner for ``network`` (JAX declares no options of its own)."""
    return Runner(network, device=device, seed=seed, **options)
