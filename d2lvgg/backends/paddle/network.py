"""The network in PaddlePaddle: the book's ``vgg_block`` and ``vgg``, and the layer IR compiled to ``nn.Sequential``.

Written as the Chinese edition's paddle tab writes them (``nn.Conv2D(..., padding=1)``,
``nn.MaxPool2D``, ``nn.Linear``, ``nn.Dropout``). Batch norm's momentum weighs the *old*
statistics in PaddlePaddle, so PyTorch's 0.1 is its 0.9.
"""

from __future__ import annotations

from collections.abc import Sequence

import paddle
from paddle import nn

from ...model import ir
from ...model.textbook import vgg_arguments

LRN = ir.LocalResponseNorm()  # the IR's defaults (and batch norm's, below)


def vgg_block(
    num_convs: int,
    in_channels: int,
    out_channels: int,
    *,
    kernel_sizes: Sequence[int] | None = None,
    batch_norm: bool = False,
    lrn: bool = False,
    bias: bool = True,
) -> nn.Sequential:
    """The book's block: ``num_convs`` padded convolutions (3x3 unless ``kernel_sizes``), then a 2x2 pool."""
    layers = []
    for i, kernel in enumerate(kernel_sizes or (3,) * num_convs):
        layers.append(nn.Conv2D(in_channels, out_channels, kernel_size=kernel, padding=kernel // 2, bias_attr=bias))
        if batch_norm:
            layers.append(_batch_norm(out_channels))
        layers.append(nn.ReLU())
        if lrn and i == 0:
            layers.append(nn.LocalResponseNorm(LRN.size, alpha=LRN.alpha, beta=LRN.beta, k=LRN.k))
        in_channels = out_channels
    layers.append(nn.MaxPool2D(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(
    conv_arch: Sequence[tuple[int, int]],
    *,
    kernel_sizes: Sequence[Sequence[int]] | None = None,
    batch_norm: bool = False,
    lrn: bool = False,
    bias: bool = True,
    in_channels: int = 1,
    flattened: int | None = None,
    head: Sequence[int] = (4096, 4096),
    dropout: float = 0.5,
    num_classes: int = 10,
) -> nn.Sequential:
    """The book's VGG; ``flattened`` is the feature count after the last block (224 px: ``out_channels * 7 * 7``)."""
    conv_blks = []
    for i, (num_convs, out_channels) in enumerate(conv_arch):
        options = {"kernel_sizes": kernel_sizes[i] if kernel_sizes else None, "lrn": lrn and i == 0}
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels, batch_norm=batch_norm, bias=bias, **options))
        in_channels = out_channels
    in_features = flattened or out_channels * 7 * 7
    dense = []
    for width in head:
        dense += [nn.Linear(in_features, width), nn.ReLU(), nn.Dropout(dropout)]
        in_features = width
    return nn.Sequential(*conv_blks, nn.Flatten(), *dense, nn.Linear(in_features, num_classes))


class BatchNorm2D(nn.BatchNorm2D):
    """``nn.BatchNorm2D`` whose running variance takes the batch's unbiased variance, as PyTorch's does.

    PaddlePaddle averages the biased variance into ``_variance``; the IR (and the saved weights)
    follow PyTorch, which scales it by n / (n - 1). Before PaddlePaddle's update, the running
    variance is raised by what makes that update come out as PyTorch's (with momentum m on the old
    statistics: (1 - m) / m times the biased variance over n - 1).
    """

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.training:
            n = x.shape[0] * x.shape[2] * x.shape[3]
            with paddle.no_grad():
                biased = (x - x.mean(axis=[0, 2, 3], keepdim=True)).square().mean(axis=[0, 2, 3])
                paddle.assign(
                    self._variance + biased * ((1 - self._momentum) / self._momentum / (n - 1)), self._variance
                )
        return super().forward(x)


def _batch_norm(channels: int, momentum: float = ir.BatchNorm2d.momentum, eps: float = ir.BatchNorm2d.eps) -> nn.Layer:
    return BatchNorm2D(channels, momentum=1.0 - momentum, epsilon=eps)


def _conv(op: ir.Conv2d) -> nn.Layer:
    return nn.Conv2D(
        op.in_channels, op.out_channels, op.kernel_size, stride=op.stride, padding=op.padding, bias_attr=op.bias
    )


LAYERS = {
    ir.Conv2d: _conv,
    ir.ReLU: lambda op: nn.ReLU(),
    ir.MaxPool2d: lambda op: nn.MaxPool2D(op.kernel_size, stride=op.stride),
    ir.Flatten: lambda op: nn.Flatten(),
    ir.Linear: lambda op: nn.Linear(op.in_features, op.out_features, bias_attr=op.bias),
    ir.Dropout: lambda op: nn.Dropout(p=op.p),
    ir.BatchNorm2d: lambda op: _batch_norm(op.num_features, op.momentum, op.eps),
    ir.LocalResponseNorm: lambda op: nn.LocalResponseNorm(op.size, alpha=op.alpha, beta=op.beta, k=op.k),
}


def compile_layers(node: ir.Node) -> nn.Layer:
    """One ``nn.Sequential`` per IR container, one framework layer per IR op."""
    if isinstance(node, ir.Sequential):
        return nn.Sequential(*(compile_layers(child) for child in node.children))
    return LAYERS[type(node)](node)


def compile_network(node: ir.Node) -> nn.Layer:
    """``vgg`` for a network of the book's shape, the IR table for any other (AlexNet)."""
    arguments = vgg_arguments(node)
    return vgg(**arguments) if arguments is not None else compile_layers(node)
