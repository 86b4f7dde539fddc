"""The TensorFlow runner: a Keras network on a device, trained by a ``tf.function`` step with SGD.

Keras keeps images channels-last, so the runner turns the trainer's NCHW batches into NHWC inside
the step; the state functions translate Keras's weights to the neutral (PyTorch) layout and back
(``channels_last``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ...model import ir
from ..base import RunnerBase, StateMapping, World
from ..channels_last import from_neutral, input_shape, to_neutral
from ..feed import DeviceFeed
from .device import resolve_device, tf_device
from .network import compile_network, neutral_layers

BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def _tensors(net: keras.Sequential) -> list[tuple[str, tf.Variable, str]]:
    """Every weight with its neutral name and how its layout differs: 'conv', 'dense', 'flat' or ''."""
    found, channels, after_flatten = [], 0, False
    for path, layer in neutral_layers(net):
        if isinstance(layer, keras.layers.Conv2D):
            channels = layer.filters
            found.append((f"{path}.weight", layer.kernel, "conv"))
            found += [(f"{path}.bias", layer.bias, "")] if layer.use_bias else []
        elif isinstance(layer, keras.layers.Dense):
            found.append((f"{path}.weight", layer.kernel, "flat" if after_flatten else "dense"))
            found += [(f"{path}.bias", layer.bias, "")] if layer.use_bias else []
        elif isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            found += [(f"{path}.{BN_NAMES[name]}", getattr(layer, name), "") for name in BN_NAMES]
        after_flatten = isinstance(layer, keras.layers.Flatten)
    return [(name, variable, kind if kind != "flat" else f"flat:{channels}") for name, variable, kind in found]


def state_to_numpy(model: keras.Sequential) -> dict[str, np.ndarray]:
    """The network's weights and batch-norm statistics under the neutral names and layouts."""
    return {name: to_neutral(v.numpy(), kind) for name, v, kind in _tensors(model)}


def load_numpy_state(model: keras.Sequential, arrays: dict[str, np.ndarray]) -> keras.Sequential:
    """Copy neutral-named arrays into the network, in place; the network."""
    for name, variable, kind in _tensors(model):
        if name in arrays:
            variable.assign(from_neutral(np.asarray(arrays[name], dtype=np.float32), kind))
    return model


def _gather(images: tf.Tensor, labels: tf.Tensor, indices: tf.Tensor, rows: tf.Tensor | None, cols: tf.Tensor | None):
    """A batch of the device's dataset, resized with the pipeline's matrices (``DeviceFeed``)."""
    x = tf.cast(tf.gather(images, indices), tf.float32)
    x = tf.clip_by_value(tf.matmul(rows, tf.matmul(x, cols)), 0.0, 1.0) if rows is not None else x / 255.0
    return x[:, None], tf.gather(labels, indices)


class Runner(RunnerBase):
    """A Keras network with SGD and cross-entropy; the step is one ``tf.function`` (``xla``: compiled by XLA).

    SGD is written out rather than taken from ``keras.optimizers.SGD``: Keras folds the learning
    rate into its momentum buffer, PyTorch (and the book's recipe) does not, and the two part as
    soon as a schedule changes the rate; weight decay is added to the gradient, as PyTorch does.
    """

    weights = StateMapping(state_to_numpy, load_numpy_state)

    def __init__(
        self,
        network: ir.Sequential,
        *,
        device: str = "auto",
        seed: int = 0,
        device_data: bool = False,
        xla: bool = False,
    ) -> None:
        self.device_label = resolve_device(device)
        self.fast = {"device_data": device_data, "xla": xla}
        self.world = World()
        keras.utils.set_random_seed(seed)  # framework-default init
        with tf_device(self.device_label):
            self.model = compile_network(network)
            self.lr = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.momentum, self.weight_decay = 0.0, 0.0
        self.buffers: list[tf.Variable] = []
        channels, size = input_shape(network)
        self._signature = [tf.TensorSpec([None, channels, size, size], tf.float32), tf.TensorSpec([None], tf.int64)]
        self._train = self._compiled(self._train_step)
        self._evaluate = self._compiled(self._evaluate_batch)
        self._gather = tf.function(_gather, jit_compile=xla)

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> DeviceFeed | None:
        """The dataset in TensorFlow's tensors on the device, or ``None`` when the fast path's device data is off."""
        if not self.fast["device_data"]:
            return None
        with tf_device(self.device_label):
            return DeviceFeed(images, labels, size, put=tf.constant, gather=self._gather)

    def set_optimizer(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """SGD: plain by default (the book's), with momentum and weight decay for the lab recipe."""
        self.lr.assign(lr)
        self.momentum, self.weight_decay = momentum, weight_decay
        weights = self.model.trainable_variables
        self.buffers = [tf.Variable(tf.zeros_like(w), trainable=False) for w in weights] if momentum else []
        self._train = self._compiled(self._train_step)  # traced anew: momentum changes the step's graph

    def _compiled(self, step):
        """``step`` as one graph for every batch size (the last batch of an epoch is smaller)."""
        return tf.function(step, input_signature=self._signature, jit_compile=self.fast["xla"])

    def set_lr(self, lr: float) -> None:
        self.lr.assign(lr)

    def start_epoch(self, seed: int) -> None:
        """Reseed every dropout layer's generator, so an epoch's masks depend on the epoch alone."""
        for i, layer in enumerate(layer for _, layer in neutral_layers(self.model)):
            if isinstance(layer, keras.layers.Dropout):
                layer.seed_generator.state.assign(tf.constant([seed, i], dtype=layer.seed_generator.state.dtype))

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The learning rate and the momentum buffers, if any."""
        state = {"lr": np.array(self.lr.numpy(), dtype=np.float64)}
        return state | {f"momentum_buffer.{i}": b.numpy().copy() for i, b in enumerate(self.buffers)}

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        for i, buffer in enumerate(self.buffers):
            buffer.assign(arrays[f"momentum_buffer.{i}"])

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        weights = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(tf.transpose(x, [0, 2, 3, 1]), training=True)
            loss = self.loss(y, logits)
        for i, (weight, grad) in enumerate(zip(weights, tape.gradient(loss, weights), strict=True)):
            if self.weight_decay:
                grad = grad + self.weight_decay * weight
            if self.momentum:
                grad = self.buffers[i].assign(self.momentum * self.buffers[i] + grad)
            weight.assign_sub(self.lr * grad)
        return self._metrics(loss, logits, y)

    def _evaluate_batch(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = self.model(tf.transpose(x, [0, 2, 3, 1]), training=False)
        return self._metrics(self.loss(y, logits), logits, y)

    @staticmethod
    def _metrics(loss: tf.Tensor, logits: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The batch's summed loss and its number of correct predictions."""
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1, output_type=y.dtype) == y, tf.int32))
        return loss * tf.cast(tf.shape(y)[0], loss.dtype), correct

    def train_step(self, x: Any, y: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """One SGD step on a numpy batch or the feed's; the summed loss and correct predictions, left on the device."""
        with tf_device(self.device_label):
            return self._train(tf.convert_to_tensor(x), tf.cast(y, tf.int64))

    def evaluate(self, x: Any, y: Any) -> tuple[tf.Tensor, tf.Tensor]:
        with tf_device(self.device_label):
            return self._evaluate(tf.convert_to_tensor(x), tf.cast(y, tf.int64))

    def fetch(self, values: list[tf.Tensor]) -> list[float]:
        """The metrics as Python numbers (reading them waits for the steps)."""
        return [float(v) for v in values]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float32 logits in evaluation mode."""
        with tf_device(self.device_label):
            return self.model(tf.transpose(tf.convert_to_tensor(x), [0, 2, 3, 1]), training=False).numpy()
