"""Where PyTorch runs: CUDA, Apple's MPS or the CPU, named as the book prints them."""

from __future__ import annotations

import torch

from ...errors import DeviceError
from . import DECLARATION


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r} for the torch backend: use {DECLARATION.devices}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but this PyTorch sees no CUDA GPU: use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' asked for, but Apple's MPS is not available here: use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r} for the torch backend: use {DECLARATION.devices}")
    return device


def has_accelerator(name: str = "auto") -> bool:
    """Whether ``name`` resolves to a GPU (CUDA or Apple's MPS) rather than the CPU."""
    return resolve_device(name).type != "cpu"


def device_label(device: torch.device) -> str:
    """The textbook's spelling: ``cuda:0``, ``cpu``."""
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return str(device)
