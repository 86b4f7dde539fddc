"""The MindSpore backend's side of the contract (``backends.base.Backend``), verb by verb.

Load it through ``d2lvgg.backends.get_backend("mindspore")``, which first sets the environment
variables declared in ``__init__`` (MindSpore reads them once, when it loads).
"""

from __future__ import annotations

from typing import Any

import mindspore as ms
import numpy as np
from mindspore import nn

from ...model import ir
from .device import MODES, has_accelerator, resolve_device
from .interop import export_onnx, read_checkpoint
from .minimal import minimal_step
from .network import compile_network, vgg, vgg_block
from .runner import Runner, load_numpy_state, state_to_numpy

__all__ = [
    "MODES",
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
    return f"mindspore {ms.__version__}"


def output_shapes(model: nn.Cell, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every layer's and block's output for a zero batch of ``shape``, keyed by index path.

    The layers run one by one in PyNative mode, whatever the process's mode: in graph mode each call
    of a layer alone compiles a graph of its own (6.4 s against 0.5 s for VGG-19 at 224 px).
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def walk(container: nn.SequentialCell, x: ms.Tensor, prefix: str) -> ms.Tensor:
        for i in range(len(container)):
            child, name = container[i], f"{prefix}{i}"
            x = walk(child, x, f"{name}.") if isinstance(child, nn.SequentialCell) else child(x)
            shapes[name] = tuple(x.shape)
        return x

    model.set_train(False)
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        walk(model, ms.Tensor(np.zeros(shape, np.float32)), "")
    finally:
        ms.set_context(mode=mode)
    return shapes


def param_count(model: nn.Cell) -> int:
    return sum(int(np.prod(p.shape)) for p in model.trainable_params())


def disable_reduced_precision() -> None:
    """Nothing to do: MindSpore computes in float32 unless asked otherwise."""


def peak_memory_mb(device_label: str) -> float | None:
    """Not measured for MindSpore's devices: the benchmark reports the process's peak RSS."""
    return None


def make_runner(network: ir.Sequential, *, device: str, seed: int, options: dict[str, Any]) -> Runner:
    """A runner in the execution mode ``options["ms_mode"]`` (graph or PyNative), the dataset on the device or not."""
    return Runner(network, device=device, seed=seed, device_data=options["device_data"], mode=options["ms_mode"])
