"""The TensorFlow backend's side of the contract (``backends.base.Backend``), verb by verb."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ...model import ir
from .device import has_accelerator, resolve_device
from .interop import export_onnx, read_checkpoint
from .minimal import minimal_step
from .network import compile_network, folds_relu, neutral_layers, vgg, vgg_block
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
    return f"tensorflow {tf.__version__}, keras {keras.__version__}"


def output_shapes(model: keras.Sequential, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every IR op's and block's output for a zero NCHW batch of ``shape``, keyed by index path, in NCHW.

    A layer with a folded ReLU gives the ReLU's index its output too; a block's output is its last layer's.
    """
    paths = {id(layer): path for path, layer in neutral_layers(model)}
    shapes: dict[str, tuple[int, ...]] = {}
    x = tf.zeros((shape[0], *shape[2:], shape[1]))
    for layer in _leaves(model):
        x = layer(x, training=False)
        if id(layer) not in paths:  # a ZeroPadding2D: part of the convolution after it
            continue
        nchw = (x.shape[0], x.shape[3], x.shape[1], x.shape[2]) if len(x.shape) == 4 else tuple(x.shape)
        prefix, _, index = paths[id(layer)].rpartition(".")
        indices = [int(index), int(index) + 1] if folds_relu(layer) else [int(index)]
        shapes |= {f"{prefix}.{i}" if prefix else str(i): nchw for i in indices}
        if prefix:
            shapes[prefix] = nchw
    return shapes


def _leaves(container: keras.Sequential) -> list[keras.layers.Layer]:
    """Every layer that is not itself a model, in order."""
    return [leaf for layer in container.layers for leaf in (_leaves(layer) if hasattr(layer, "layers") else [layer])]


def param_count(model: keras.Sequential) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def disable_reduced_precision() -> None:
    """No TensorFloat-32 matrix products on Ampere and later GPUs, for parity checks."""
    tf.config.experimental.enable_tensor_float_32_execution(False)


def peak_memory_mb(device_label: str) -> float | None:
    """The most GPU memory TensorFlow has held on ``device_label``; ``None`` on the CPU."""
    if not device_label.startswith("gpu"):
        return None
    return tf.config.experimental.get_memory_info(device_label.upper())["peak"] / 2**20


def make_runner(network: ir.Sequential, *, device: str, seed: int, options: dict[str, Any]) -> Runner:
    """A runner with the switches in ``options`` (see ``DECLARATION`` in ``__init__``)."""
    return Runner(network, device=device, seed=seed, **options)
