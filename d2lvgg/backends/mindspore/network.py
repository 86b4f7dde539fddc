"""The network in MindSpore: the book's ``vgg_block`` and ``vgg``, and the layer IR compiled to ``nn.SequentialCell``.

``compile_network`` builds every network of the book's shape with ``vgg`` and any other (AlexNet)
layer by layer from the IR; both give the same cells, so the same weights files load. Every
argument whose default differs from PyTorch's is passed explicitly: padding mode, conv bias,
dropout ``p``, batch-norm momentum (MindSpore weighs the *old* statistics, so PyTorch's 0.1 is
MindSpore's 0.9) and the pooling pad mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from ...model import ir
from ...model.textbook import vgg_arguments

LRN = ir.LocalResponseNorm()  # the IR's defaults (and batch norm's, below): the layers the IR table builds


def vgg_block(
    num_convs: int,
    in_channels: int,
    out_channels: int,
    *,
    kernel_sizes: Sequence[int] | None = None,
    batch_norm: bool = False,
    lrn: bool = False,
    bias: bool = False,
) -> nn.SequentialCell:
    """The book's block: ``num_convs`` padded convolutions (3x3 unless ``kernel_sizes``), then a 2x2 pool."""
    layers = []
    for i, kernel in enumerate(kernel_sizes or (3,) * num_convs):
        layers.append(
            nn.Conv2d(in_channels, out_channels, kernel_size=kernel, pad_mode="pad", padding=kernel // 2, has_bias=bias)
        )
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels, eps=ir.BatchNorm2d.eps, momentum=1.0 - ir.BatchNorm2d.momentum))
        layers.append(nn.ReLU())
        if lrn and i == 0:
            layers.append(LocalResponseNorm(LRN.size, LRN.alpha, LRN.beta, LRN.k))
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2, pad_mode="valid"))
    return nn.SequentialCell(layers)


def vgg(
    conv_arch: Sequence[tuple[int, int]],
    *,
    kernel_sizes: Sequence[Sequence[int]] | None = None,
    batch_norm: bool = False,
    lrn: bool = False,
    bias: bool = False,
    in_channels: int = 1,
    flattened: int | None = None,
    head: Sequence[int] = (4096, 4096),
    dropout: float = 0.5,
    num_classes: int = 10,
) -> nn.SequentialCell:
    """The book's VGG (its convolutions without bias); ``flattened``: features after the last block (224 px: 7x7)."""
    conv_blks = []
    for i, (num_convs, out_channels) in enumerate(conv_arch):
        options = {"kernel_sizes": kernel_sizes[i] if kernel_sizes else None, "lrn": lrn and i == 0}
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels, batch_norm=batch_norm, bias=bias, **options))
        in_channels = out_channels
    in_features = flattened or out_channels * 7 * 7
    dense = []
    for width in head:
        dense += [nn.Dense(in_features, width), nn.ReLU(), Dropout(p=dropout)]
        in_features = width
    return nn.SequentialCell([*conv_blks, nn.Flatten(), *dense, nn.Dense(in_features, num_classes)])


def _conv(op: ir.Conv2d) -> nn.Cell:
    return nn.Conv2d(
        op.in_channels,
        op.out_channels,
        op.kernel_size,
        stride=op.stride,
        pad_mode="pad",
        padding=op.padding,
        has_bias=op.bias,
    )


class LocalResponseNorm(nn.Cell):
    """PyTorch's ``LocalResponseNorm`` from primitive ops: x / (k + alpha/n * window sum of x^2)^beta.

    MindSpore 2.10's own ``nn.LRN`` fails on the CPU for more than 8 channels, and its alpha is
    not divided by the window size; this cell runs everywhere and matches PyTorch's formula.
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def construct(self, x):
        channels = x.shape[1]
        squares = ops.pad(x * x, (0, 0, 0, 0, self.size // 2, (self.size - 1) // 2))
        window = squares[:, 0:channels]
        for offset in range(1, self.size):
            window = window + squares[:, offset : offset + channels]
        return x / ops.pow(self.k + self.alpha / self.size * window, self.beta)


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose masks are drawn by numpy from the run's seed, one set per step.

    MindSpore 2.10's CPU dropout is not reproducible across processes even after
    ``set_seed`` (two fresh runs differ in the first epoch), which rules out an exact resume.
    Here the runner writes each step's keep-mask (already scaled by 1/(1-p)) into a buffer
    before the step; evaluation mode passes activations through unchanged.
    """

    def __init__(self, p: float) -> None:
        super().__init__(p=p)
        self.mask = Parameter(Tensor(np.ones((1, 1), np.float32)), name="mask", requires_grad=False)

    def construct(self, x):
        if not self.training or self.p == 0:
            return x
        return x * self.mask[: x.shape[0]]


LAYERS = {
    ir.Conv2d: _conv,
    ir.ReLU: lambda op: nn.ReLU(),
    ir.MaxPool2d: lambda op: nn.MaxPool2d(kernel_size=op.kernel_size, stride=op.stride, pad_mode="valid"),
    ir.Flatten: lambda op: nn.Flatten(),
    ir.Linear: lambda op: nn.Dense(op.in_features, op.out_features, has_bias=op.bias),
    ir.Dropout: lambda op: Dropout(op.p),
    ir.BatchNorm2d: lambda op: nn.BatchNorm2d(op.num_features, eps=op.eps, momentum=1.0 - op.momentum),
    ir.LocalResponseNorm: lambda op: LocalResponseNorm(op.size, op.alpha, op.beta, op.k),
}


def compile_layers(node: ir.Node) -> nn.Cell:
    """One ``nn.SequentialCell`` per IR container, one framework layer per IR op."""
    if isinstance(node, ir.Sequential):
        return nn.SequentialCell([compile_layers(child) for child in node.children])
    return LAYERS[type(node)](node)


def compile_network(node: ir.Node) -> nn.Cell:
    """The book's ``vgg(...)`` for a book-shaped network, else ``compile_layers``: the same cells either way."""
    arguments = vgg_arguments(node)
    return compile_layers(node) if arguments is None else vgg(**arguments)
