"""Where TensorFlow runs: a GPU or the CPU, named as PaddlePaddle names them (``gpu:0``, ``cpu``)."""

from __future__ import annotations

import tensorflow as tf

from ..gpus import resolve_gpu_or_cpu
from . import DECLARATION


def _gpus() -> int:
    return len(tf.config.list_physical_devices("GPU"))


def resolve_device(name: str = "auto") -> str:
    """``auto`` picks the first GPU, else the CPU; a named device must exist."""
    return resolve_gpu_or_cpu(name, _gpus(), DECLARATION)


def tf_device(label: str) -> tf.device:
    """TensorFlow's device scope for a resolved label."""
    return tf.device(label.upper())


def has_accelerator(name: str = "auto") -> bool:
    """Whether ``name`` resolves to a GPU rather than the CPU."""
    return resolve_device(name) != "cpu"
