"""Where TensorFlow runs: a GPU or the CPU, named as PaddlePaddle names them (``gpu:0``, ``cpu``)."""

from __future__ import annotations

import tensorflow as tf

from ...errors import DeviceError
from . import DECLARATION


def _gpus() -> int:
    return len(tf.config.list_physical_devices("GPU"))


def resolve_device(name: str = "auto") -> str:
    """``auto`` picks the first GPU, else the CPU; a named device must exist."""
    if name == "auto":
        return "gpu:0" if _gpus() else "cpu"
    kind, _, index = name.lower().partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind != "gpu" or (index and not index.isdigit()):
        raise DeviceError(f"unknown device {name!r} for the tensorflow backend: use {DECLARATION.devices}")
    if not _gpus():
        raise DeviceError(f"device {name!r} asked for, but this TensorFlow sees no GPU: use --device cpu")
    if int(index or 0) >= _gpus():
        raise DeviceError(f"device {name!r} does not exist: {_gpus()} GPU(s) here")
    return f"gpu:{int(index or 0)}"


def tf_device(label: str) -> tf.device:
    """TensorFlow's device scope for a resolved label."""
    return tf.device(label.upper())


def has_accelerator(name: str = "auto") -> bool:
    """Whether ``name`` resolves to a GPU rather than the CPU."""
    return resolve_device(name) != "cpu"
