"""VGG in MindSpore: the book's ``vgg_block`` and ``vgg`` as the MindSpore edition writes them, then the builder.

``vgg(conv_arch)`` is the chapter's network for 1x224x224 images: ``nn.Conv2d`` needs
``pad_mode="pad"`` for an explicit padding, and leaves the bias out by default. ``compile_network``
builds any lowered spec from ``LAYERS``, one MindSpore cell per IR op; every argument whose default
differs from PyTorch's is passed there (padding mode, bias, batch-norm momentum, which MindSpore
puts on the *old* statistics). For the book's spec the two agree cell for cell
(``tests/test_networks.py``).
"""

from __future__ import annotations

from mindspore import nn, ops

from ...model import ir


def vgg_block(num_convs, in_channels, out_channels):
    """The book's VGG block (7.2.1): 3x3 convolutions with padding 1, each with a ReLU, then a 2x2 max-pool."""
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, pad_mode="pad", padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.SequentialCell(layers)


def vgg(conv_arch):
    """The book's VGG (7.2.2): one block per ``(num_convs, out_channels)``, then the fully connected part."""
    conv_blks = []
    in_channels = 1
    # 卷积层部分 (the convolutional part)
    for num_convs, out_channels in conv_arch:
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.SequentialCell(
        *conv_blks,
        nn.Flatten(),
        # 全连接层部分 (the fully connected part)
        nn.Dense(out_channels * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Dense(4096, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Dense(4096, 10),
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


LAYERS = {
    ir.Conv2d: lambda op: nn.Conv2d(
        op.in_channels,
        op.out_channels,
        op.kernel_size,
        stride=op.stride,
        pad_mode="pad",
        padding=op.padding,
        has_bias=op.bias,
    ),
    ir.ReLU: lambda op: nn.ReLU(),
    ir.MaxPool2d: lambda op: nn.MaxPool2d(kernel_size=op.kernel_size, stride=op.stride),
    ir.Flatten: lambda op: nn.Flatten(),
    ir.Linear: lambda op: nn.Dense(op.in_features, op.out_features, has_bias=op.bias),
    ir.Dropout: lambda op: nn.Dropout(p=op.p),
    ir.BatchNorm2d: lambda op: nn.BatchNorm2d(op.num_features, eps=op.eps, momentum=1.0 - op.momentum),
    ir.LocalResponseNorm: lambda op: LocalResponseNorm(op.size, op.alpha, op.beta, op.k),
}


def compile_network(node: ir.Node) -> nn.Cell:
    """One ``nn.SequentialCell`` per IR container, one MindSpore cell per IR op."""
    if isinstance(node, ir.Sequential):
        return nn.SequentialCell([compile_network(child) for child in node.children])
    return LAYERS[type(node)](node)
