"""VGG in JAX: the book's ``vgg_block`` and ``VGG`` as d2l-en's JAX tab writes them (Flax linen), then the builder.

A linen module holds no weights: ``init`` makes its variables (``params``, and ``batch_stats``
for batch norm) for an example input, ``apply`` runs it with them, and images are channels-last
(NHWC). The book's ``VGG`` fixes dropout with its ``training`` field; evaluate with
``VGG(arch, training=False)`` and the same variables. ``compile_network`` builds any lowered spec
the same way from ``LAYERS`` and returns it bound to its initial variables (``Module.bind``), which
is what the backend's verbs take as a network. A layer's place in the variables is its IR index
path: ``net/layers_2/layers_1/kernel`` is the neutral ``2.1.weight``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import linen as nn

from ...model import ir
from ..channels_last import input_shape


def vgg_block(num_convs, out_channels):
    """The book's VGG block (8.2.1): 3x3 convolutions padded by 1, each with its ReLU, then a 2x2 max-pool."""
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv(out_channels, kernel_size=(3, 3), padding=(1, 1)))
        layers.append(nn.relu)
    layers.append(lambda x: nn.max_pool(x, window_shape=(2, 2), strides=(2, 2)))
    return nn.Sequential(layers)


class VGG(nn.Module):
    """The book's VGG (8.2.2) as a plain ``nn.Module``: its ``d2l.Classifier`` base and ``lr`` belong to the trainer."""

    arch: list
    num_classes: int = 10
    training: bool = True

    def setup(self):
        conv_blks = []
        for num_convs, out_channels in self.arch:
            conv_blks.append(vgg_block(num_convs, out_channels))

        self.net = nn.Sequential(
            [
                *conv_blks,
                lambda x: x.reshape((x.shape[0], -1)),  # flatten
                nn.Dense(4096),
                nn.relu,
                nn.Dropout(0.5, deterministic=not self.training),
                nn.Dense(4096),
                nn.relu,
                nn.Dropout(0.5, deterministic=not self.training),
                nn.Dense(self.num_classes),
            ]
        )

    def __call__(self, X):
        return self.net(X)


def vgg(conv_arch):
    """The book's network under the name every backend gives it: ``VGG(arch=conv_arch)``."""
    return VGG(arch=conv_arch)


class BatchNorm(nn.Module):
    """Batch norm over channels with PyTorch's statistics: the running variance takes the unbiased batch variance.

    Written out rather than ``nn.BatchNorm``, under its names (``scale``, ``bias``; ``mean``, ``var``
    in ``batch_stats``; ``momentum`` on the old statistics). Flax's layer averages the biased
    variance in, and its statistics, reduced over all N x H x W positions at once, lost enough digits
    on the CPU that one SGD step of ``vgg11_bn`` at 64 px differed from PyTorch's by 1.2e-3 of the
    update (float64 agrees to 3e-15); averaging each image's rows first brings it to 3.7e-5.
    """

    use_running_average: bool
    momentum: float = 0.9
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,))
        bias = self.param("bias", nn.initializers.zeros, (channels,))
        running_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((channels,), jnp.float32))
        running_var = self.variable("batch_stats", "var", lambda: jnp.ones((channels,), jnp.float32))
        if self.use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            rows = x.reshape(x.shape[0], -1, channels)
            mean = rows.mean(axis=1).mean(axis=0)
            var = jnp.square(rows - mean).mean(axis=1).mean(axis=0)
            if not self.is_initializing():
                n = rows.shape[0] * rows.shape[1]
                running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
                running_var.value = self.momentum * running_var.value + (1 - self.momentum) * var * n / (n - 1)
        return (x - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias


class LocalResponseNorm(nn.Module):
    """PyTorch's ``LocalResponseNorm`` over channels (Flax has none): ``size`` channels a window, ``alpha / size``."""

    size: int
    alpha: float
    beta: float
    k: float

    def __call__(self, x):
        padding = [(0, 0)] * 3 + [(self.size // 2, (self.size - 1) // 2)]
        squares = jnp.pad(x * x, padding)
        window = jax.lax.reduce_window(squares, 0.0, jax.lax.add, (1, 1, 1, self.size), (1, 1, 1, 1), "VALID")
        return x / (self.k + self.alpha / self.size * window) ** self.beta


def _max_pool(op: ir.MaxPool2d, training: bool):
    window, strides = (op.kernel_size, op.kernel_size), (op.stride, op.stride)
    return lambda x: nn.max_pool(x, window_shape=window, strides=strides)


LAYERS = {
    ir.Conv2d: lambda op, training: nn.Conv(
        op.out_channels, (op.kernel_size, op.kernel_size), op.stride, (op.padding, op.padding), use_bias=op.bias
    ),
    ir.Linear: lambda op, training: nn.Dense(op.out_features, use_bias=op.bias),
    ir.ReLU: lambda op, training: nn.relu,
    ir.MaxPool2d: _max_pool,
    ir.Flatten: lambda op, training: lambda x: x.reshape((x.shape[0], -1)),
    ir.Dropout: lambda op, training: nn.Dropout(op.p, deterministic=not training),
    ir.BatchNorm2d: lambda op, training: BatchNorm(not training, 1.0 - op.momentum, op.eps),
    ir.LocalResponseNorm: lambda op, training: LocalResponseNorm(op.size, op.alpha, op.beta, op.k),
}


def _layer(node: ir.Node, training: bool):
    """A block as an ``nn.Sequential`` of its layers; an op as its entry in ``LAYERS``."""
    if isinstance(node, ir.Sequential):
        return nn.Sequential([_layer(child, training) for child in node.children])
    return LAYERS[type(node)](node, training)


class Network(nn.Module):
    """A lowered spec nested as the book's ``VGG`` nests its layers: ``net``, one ``Sequential`` of blocks and head."""

    node: ir.Sequential
    training: bool = True

    def setup(self):
        self.net = _layer(self.node, self.training)

    def __call__(self, x):
        return self.net(x)


# Up to this many numbers in its largest tensor, a network's init is compiled whole without XLA's optimisations.
UNOPTIMISED_INIT_LIMIT = 1 << 22


def initial_variables(module: nn.Module, node: ir.Sequential, seed: int) -> dict:
    """Flax's default initial variables of ``module`` for the input size ``node`` was lowered for.

    Optimising, XLA's CPU compiler spends 1 to 9 s on each tensor shape's random draw (25-35 s for the
    reduced network's init), once per shape in a process. A network whose tensors are all small is
    drawn by one ``init`` compiled without optimisations instead (about 4 s in all, for draws within a
    unit in the last place); larger tensors are drawn faster by optimised code, so a network with
    one (the 224-pixel presets' 25088 x 4096 layer) is initialised eagerly, op by op.
    """
    channels, size = input_shape(node)
    keys = {"params": jax.random.key(seed), "dropout": jax.random.key(seed)}
    x = jnp.zeros((1, size, size, channels), jnp.float32)
    if max(math.prod(shape) for shape in ir.tensor_shapes(node).values()) > UNOPTIMISED_INIT_LIMIT:
        return module.init(keys, x)
    return jax.jit(module.init).lower(keys, x).compile({"xla_backend_optimization_level": 0})(keys, x)


def compile_network(node: ir.Sequential) -> Network:
    """The network for a lowered spec, bound to Flax's default initial variables (seed 0)."""
    module = Network(node)
    return module.bind(initial_variables(module, node, seed=0))
