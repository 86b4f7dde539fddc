"""VGG in TensorFlow: the book's ``vgg_block`` and ``vgg`` as the TensorFlow tab writes them, then the builder.

``vgg(conv_arch)`` is the chapter's network, as both editions print it in section 7.2: Keras
``Sequential`` blocks whose convolutions carry their ReLU (``activation='relu'``), and the fully
connected part as one more ``Sequential``. Keras works channels-last (NHWC) and builds a layer's
weights on its first call. ``compile_network`` builds any lowered spec from ``LAYERS`` the same
way, a ReLU after a convolution or dense layer folded into it as the book writes it; for the
book's spec the two agree layer for layer (``tests/test_networks.py``). ``neutral_layers`` names
each Keras layer by the IR's index path, which the weights and shapes are keyed by.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ...model import ir
from ..channels_last import input_shape


def vgg_block(num_convs, num_channels):
    """The book's VGG block (7.2.1): 3x3 'same' convolutions with their ReLU, then a 2x2 max-pool."""
    blk = tf.keras.models.Sequential()
    for _ in range(num_convs):
        blk.add(tf.keras.layers.Conv2D(num_channels, kernel_size=3, padding="same", activation="relu"))
    blk.add(tf.keras.layers.MaxPool2D(pool_size=2, strides=2))
    return blk


def vgg(conv_arch):
    """The book's VGG (7.2.2): one block per ``(num_convs, num_channels)``, then the fully connected part."""
    net = tf.keras.models.Sequential()
    # 卷积层部分 (the convolutional part)
    for num_convs, num_channels in conv_arch:
        net.add(vgg_block(num_convs, num_channels))
    # 全连接层部分 (the fully connected part)
    net.add(
        tf.keras.models.Sequential(
            [
                tf.keras.layers.Flatten(),
                tf.keras.layers.Dense(4096, activation="relu"),
                tf.keras.layers.Dropout(0.5),
                tf.keras.layers.Dense(4096, activation="relu"),
                tf.keras.layers.Dropout(0.5),
                tf.keras.layers.Dense(10),
            ]
        )
    )
    return net


class LocalResponseNorm(keras.layers.Layer):
    """PyTorch's ``LocalResponseNorm`` over channels (Keras has none): ``tf.nn.local_response_normalization``.

    TensorFlow sums a window of ``2 * depth_radius + 1`` channels and does not divide ``alpha`` by
    the window, so an odd ``size`` maps exactly: radius ``(size - 1) / 2``, ``alpha / size``.
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if size % 2 == 0:
            raise ValueError(f"LocalResponseNorm: TensorFlow's window is symmetric, so size must be odd, got {size}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        radius = (self.size - 1) // 2
        return tf.nn.local_response_normalization(x, radius, self.k, self.alpha / self.size, self.beta)

    def get_config(self) -> dict:
        return super().get_config() | {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}


class BatchNormalization(keras.layers.BatchNormalization):
    """``BatchNormalization`` whose moving variance takes the batch's unbiased variance, as PyTorch's does.

    Keras averages the biased variance in; the IR (and the saved weights) follow PyTorch, which
    scales it by n / (n - 1). Before Keras's update the moving variance is raised by what makes
    that update come out as PyTorch's (momentum m on the old statistics: (1 - m) / m times the
    biased variance over n - 1).
    """

    def call(self, x, training=None):
        if training:
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
            _, biased = tf.nn.moments(x, axes=[0, 1, 2])
            self.moving_variance.assign_add(biased * ((1 - self.momentum) / self.momentum / (n - 1)))
        return super().call(x, training=training)


def _conv(op: ir.Conv2d, activation: str | None) -> list[keras.layers.Layer]:
    """A ``Conv2D``; padding other than none or 'same' becomes a ``ZeroPadding2D`` in front."""
    same = op.stride == 1 and op.kernel_size % 2 == 1 and op.padding == op.kernel_size // 2
    padding = "same" if same else "valid"
    layers: list[keras.layers.Layer] = [] if same or op.padding == 0 else [keras.layers.ZeroPadding2D(op.padding)]
    return layers + [
        tf.keras.layers.Conv2D(
            op.out_channels, op.kernel_size, op.stride, padding, activation=activation, use_bias=op.bias
        )
    ]


LAYERS = {
    ir.Conv2d: _conv,
    ir.Linear: lambda op, activation: [tf.keras.layers.Dense(op.out_features, activation=activation, use_bias=op.bias)],
    ir.ReLU: lambda op, activation: [tf.keras.layers.ReLU()],
    ir.MaxPool2d: lambda op, activation: [tf.keras.layers.MaxPool2D(pool_size=op.kernel_size, strides=op.stride)],
    ir.Flatten: lambda op, activation: [tf.keras.layers.Flatten()],
    ir.Dropout: lambda op, activation: [tf.keras.layers.Dropout(op.p)],
    ir.BatchNorm2d: lambda op, activation: [BatchNormalization(momentum=1.0 - op.momentum, epsilon=op.eps)],
    ir.LocalResponseNorm: lambda op, activation: [LocalResponseNorm(op.size, op.alpha, op.beta, op.k)],
}
FOLDS_RELU = (ir.Conv2d, ir.Linear)  # the book writes these with activation='relu' when a ReLU follows


def _layers(ops: tuple[ir.Node, ...]) -> list[keras.layers.Layer]:
    """Keras layers for a run of IR ops, each ReLU folded into the convolution or dense layer before it."""
    layers: list[keras.layers.Layer] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        folds = isinstance(op, FOLDS_RELU) and i + 1 < len(ops) and isinstance(ops[i + 1], ir.ReLU)
        layers += LAYERS[type(op)](op, "relu" if folds else None)
        i += 2 if folds else 1
    return layers


def compile_network(node: ir.Sequential) -> keras.Sequential:
    """The blocks as ``Sequential`` models, then the dense part as one more, as the book's ``vgg`` nests them.

    The network is built for the input size its first dense layer was lowered for, so its weights exist.
    """
    blocks = [child for child in node.children if isinstance(child, ir.Sequential)]
    head = node.children[len(blocks) :]
    net = tf.keras.models.Sequential([tf.keras.models.Sequential(_layers(block.children)) for block in blocks])
    net.add(tf.keras.models.Sequential(_layers(head)))
    channels, size = input_shape(node)
    net.build((None, size, size, channels))
    return net


def neutral_layers(net: keras.Sequential) -> list[tuple[str, keras.layers.Layer]]:
    """Each Keras layer with the IR index path of the op it computes (``2.0``), in network order.

    A layer with a folded ReLU also stands for the next index, a ``ZeroPadding2D`` shares its
    convolution's, and the dense part's ``Sequential`` (the one beginning with ``Flatten``) counts
    at the top level, where the IR has its ops.
    """
    found: list[tuple[str, keras.layers.Layer]] = []

    def walk(container: keras.Sequential, prefix: str, index: int) -> int:
        for layer in container.layers:
            if isinstance(layer, keras.Sequential) and isinstance(layer.layers[0], keras.layers.Flatten):
                index = walk(layer, prefix, index)
            elif isinstance(layer, keras.Sequential):
                walk(layer, f"{prefix}{index}.", 0)
                index += 1
            elif not isinstance(layer, keras.layers.ZeroPadding2D):
                found.append((f"{prefix}{index}", layer))
                index += 2 if folds_relu(layer) else 1
        return index

    walk(net, "", 0)
    return found


def folds_relu(layer: keras.layers.Layer) -> bool:
    """Whether the layer applies a ReLU of its own (``activation='relu'``)."""
    return getattr(getattr(layer, "activation", None), "__name__", "") == "relu"
