"""TensorFlow's files and ONNX: Keras weight files refused with the reason, ONNX export through tf2onnx."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ...errors import RunError
from . import DECLARATION


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Refused: Keras files name weights by layer names generated per run (``interop.files`` says so first)."""
    raise RunError(f"{path}: {DECLARATION.refused_files['.keras']}")


def export_onnx(model: keras.Sequential, path: Path, input_shape: tuple[int, ...]) -> bool:
    """Write ``model`` as ONNX with tf2onnx; NCHW input like the other backends', batch dimension free (True)."""
    import tf2onnx

    spec = tf.TensorSpec([None, *input_shape[1:]], tf.float32, name="images")

    @tf.function(input_signature=[spec])
    def logits(images: tf.Tensor) -> tf.Tensor:
        return model(tf.transpose(images, [0, 2, 3, 1]), training=False)

    proto, _ = tf2onnx.convert.from_function(logits, input_signature=[spec], opset=17)
    path.write_bytes(proto.SerializeToString())
    return True
