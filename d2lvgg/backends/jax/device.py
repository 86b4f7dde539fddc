"""Where JAX runs: a GPU or the CPU, named as the other channels-last backend names them (``gpu:0``, ``cpu``)."""

from __future__ import annotations

import jax

from ..gpus import resolve_gpu_or_cpu
from . import DECLARATION


def _gpus() -> list[jax.Device]:
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this jaxlib
        return []


def resolve_device(name: str = "auto") -> str:
    """``auto`` picks the first GPU, else the CPU; a named device must exist."""
    return resolve_gpu_or_cpu(name, len(_gpus()), DECLARATION)


def jax_device(label: str) -> jax.Device:
    """JAX's device for a resolved label."""
    return jax.devices("cpu")[0] if label == "cpu" else _gpus()[int(label.partition(":")[2])]


def has_accelerator(name: str = "auto") -> bool:
    """Whether ``name`` resolves to a GPU rather than the CPU."""
    return resolve_device(name) != "cpu"
