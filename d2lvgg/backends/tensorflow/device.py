"""Where TensorFlow runs: a GPU or the CPU, named as PaddlePaddle names them (``gpu:0``, ``cpu``)."""

from __future__ import annotations

import tensorflow as tf

from ..cores import pinned_threads
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


def size_thread_pools() -> None:
    """TensorFlow's two CPU thread pools sized to a ``$D2LVGG_THREADS`` pin, before its runtime starts.

    They cannot change once it has (the first tensor starts it): where the user's code started it before
    d2lvgg's backend loaded, they stay as TensorFlow sized them, and a run records the pin as not applied.
    """
    count = pinned_threads()
    if count is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:  # the runtime has started
        pass


def pool_size() -> int:
    """The threads TensorFlow's kernels compute on: 0 for its own choice (every core)."""
    return tf.config.threading.get_intra_op_parallelism_threads()
