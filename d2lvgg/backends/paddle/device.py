"""Where PaddlePaddle runs: a CUDA GPU or the CPU, as ``paddle.set_device`` names them."""

from __future__ import annotations

import paddle

from ..gpus import resolve_gpu_or_cpu
from . import DECLARATION


def _gpus() -> int:
    return paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0


def resolve_device(name: str = "auto") -> str:
    """``auto`` picks the first GPU, else the CPU; a named device must exist."""
    return resolve_gpu_or_cpu(name, _gpus(), DECLARATION)


def has_accelerator(name: str = "auto") -> bool:
    """Whether ``name`` resolves to a GPU rather than the CPU."""
    return resolve_device(name) != "cpu"
