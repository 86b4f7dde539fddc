"""TensorFlow's own minimal training step, for the benchmark's yardstick: what d2lvgg's step is compared with.

Only TensorFlow and Keras here (the network's layers, ``keras.optimizers.SGD``, the sparse
cross-entropy, one ``tf.function``), on one channels-last batch already in its tensors.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ...model import ir
from ..base import OwnStep
from .device import resolve_device, tf_device
from .network import compile_network


def minimal_step(network: ir.Sequential, x: np.ndarray, y: np.ndarray, device: str) -> OwnStep:
    """``step()`` trains once on the batch and returns its loss; ``read(loss)`` waits for it."""
    label = resolve_device(device)
    with tf_device(label):
        net = compile_network(network)
        optimizer = keras.optimizers.SGD(learning_rate=0.05)
        images, labels = tf.constant(np.transpose(x, (0, 2, 3, 1))), tf.constant(y)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, net(images, training=True))
        optimizer.apply(tape.gradient(loss, net.trainable_variables), net.trainable_variables)
        return loss

    return OwnStep(step, lambda loss: float(loss), label)
