"""VGG in PyTorch: the book's ``vgg_block`` and ``vgg`` as d2l-zh writes them, then the one builder of networks.

``vgg(conv_arch)`` is the chapter's network for 1x224x224 images, exactly as printed in section 7.2.
``compile_network`` builds any lowered spec (batch norm, LRN, other kernel sizes, heads and input
sizes, AlexNet) from ``LAYERS``, one PyTorch layer per IR op; for the book's spec the two agree
module for module (``tests/test_networks.py``).
"""

from __future__ import annotations

from torch import nn

from ...model import ir


def vgg_block(num_convs, in_channels, out_channels):
    """The book's VGG block (7.2.1): 3x3 convolutions with padding 1, each with a ReLU, then a 2x2 max-pool."""
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(conv_arch):
    """The book's VGG (7.2.2): one block per ``(num_convs, out_channels)``, then the fully connected part."""
    conv_blks = []
    in_channels = 1
    # 卷积层部分 (the convolutional part)
    for num_convs, out_channels in conv_arch:
        conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels

    return nn.Sequential(
        *conv_blks,
        nn.Flatten(),
        # 全连接层部分 (the fully connected part)
        nn.Linear(out_channels * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 10),
    )


LAYERS = {
    ir.Conv2d: lambda op: nn.Conv2d(
        op.in_channels, op.out_channels, op.kernel_size, stride=op.stride, padding=op.padding, bias=op.bias
    ),
    ir.ReLU: lambda op: nn.ReLU(),
    ir.MaxPool2d: lambda op: nn.MaxPool2d(op.kernel_size, stride=op.stride),
    ir.Flatten: lambda op: nn.Flatten(),
    ir.Linear: lambda op: nn.Linear(op.in_features, op.out_features, bias=op.bias),
    ir.Dropout: lambda op: nn.Dropout(op.p),
    ir.BatchNorm2d: lambda op: nn.BatchNorm2d(op.num_features, eps=op.eps, momentum=op.momentum),
    ir.LocalResponseNorm: lambda op: nn.LocalResponseNorm(op.size, alpha=op.alpha, beta=op.beta, k=op.k),
}


def compile_network(node: ir.Node) -> nn.Module:
    """One ``nn.Sequential`` per IR container, one PyTorch layer per IR op."""
    if isinstance(node, ir.Sequential):
        return nn.Sequential(*(compile_network(child) for child in node.children))
    return LAYERS[type(node)](node)
