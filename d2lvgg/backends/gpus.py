"""Device names of the ``cpu`` / ``gpu`` / ``gpu:N`` kind, resolved the same way for every backend that uses them."""

from __future__ import annotations

from ..errors import DeviceError
from .base import Declaration


def resolve_gpu_or_cpu(name: str, gpus: int, declaration: Declaration) -> str:
    """``auto`` picks the first of ``gpus`` GPUs, else the CPU; a named device must exist."""
    if name == "auto":
        return "gpu:0" if gpus else "cpu"
    kind, _, index = name.lower().partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind != "gpu" or (index and not index.isdigit()):
        raise DeviceError(f"unknown device {name!r} for the {declaration.extra} backend: use {declaration.devices}")
    if not gpus:
        raise DeviceError(f"device {name!r} asked for, but this {declaration.title} sees no GPU: use --device cpu")
    if int(index or 0) >= gpus:
        raise DeviceError(f"device {name!r} does not exist: {gpus} GPU(s) here")
    return f"gpu:{int(index or 0)}"
