"""The PyTorch backend's side of the contract (``backends.base.Backend``), verb by verb."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

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
    return f"torch {torch.__version__}"


def output_shapes(model: nn.Module, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every layer's and block's output for a zero batch of ``shape``, keyed by index path."""
    shapes: dict[str, tuple[int, ...]] = {}

    def walk(container: nn.Sequential, x: torch.Tensor, prefix: str) -> torch.Tensor:
        for i, child in enumerate(container):
            name = f"{prefix}{i}"
            x = walk(child, x, f"{name}.") if isinstance(child, nn.Sequential) else child(x)
            shapes[name] = tuple(x.shape)
        return x

    model.eval()
    with torch.no_grad():
        walk(model, torch.zeros(shape), "")
    return shapes


def disable_reduced_precision() -> None:
    """Full float32 everywhere (no TF32 matmuls or convolutions), for parity checks."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def peak_memory_mb(device_label: str) -> float | None:
    """The most CUDA memory this process's tensors have held; ``None`` off CUDA."""
    return torch.cuda.max_memory_allocated() / 2**20 if device_label.startswith("cuda") else None


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def make_runner(network: ir.Sequential, *, device: str, seed: int, options: dict[str, Any]) -> Runner:
    """A runner with the fast-path switches in ``options`` (see ``OPTIONS`` in ``__init__``)."""
    return Runner(network, device=device, seed=seed, **options)
