"""VGG in PaddlePaddle: the book's ``vgg_block`` and ``vgg`` as d2l-zh's paddle tab writes them, then the builder.

``vgg(conv_arch)`` is the chapter's network for 1x224x224 images, as printed in section 7.2.
``compile_network`` builds any lowered spec from ``LAYERS``, one PaddlePaddle layer per IR op;
for the book's spec the two agree layer for layer (``tests/test_networks.py``). Batch norm's
momentum weighs the *old* statistics in PaddlePaddle, so PyTorch's 0.1 is its 0.9.
"""

from __future__ import annotations

import paddle
from paddle import nn

from ...model import ir


def vgg_block(num_convs, in_channels, out_channels):
    """The book's VGG block (7.2.1): 3x3 convolutions with padding 1, each with a ReLU, then a 2x2 max-pool."""
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2D(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2D(kernel_size=2, stride=2))
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


class BatchNorm2D(nn.BatchNorm2D):
    """``nn.BatchNorm2D`` whose running variance takes the batch's unbiased variance, as PyTorch's does.

    PaddlePaddle averages the biased variance into its running variance; the IR (and the saved
    weights) follow PyTorch, which scales it by n / (n - 1). Before PaddlePaddle's update, the
    running variance is raised by what makes that update come out as PyTorch's (with momentum m on
    the old statistics: (1 - m) / m times the biased variance over n - 1).
    """

    def __init__(self, num_features: int, momentum: float, epsilon: float) -> None:
        super().__init__(num_features, momentum=momentum, epsilon=epsilon)
        self.old_weight = momentum

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.training:
            n = x.shape[0] * x.shape[2] * x.shape[3]
            with paddle.no_grad():
                biased = (x - x.mean(axis=[0, 2, 3], keepdim=True)).square().mean(axis=[0, 2, 3])
                variance = dict(self.named_parameters())["_variance"]  # the statistic's public name
                raised = variance + biased * ((1 - self.old_weight) / self.old_weight / (n - 1))
                paddle.assign(raised, variance)
        return super().forward(x)


LAYERS = {
    ir.Conv2d: lambda op: nn.Conv2D(
        op.in_channels,
        op.out_channels,
        op.kernel_size,
        stride=op.stride,
        padding=op.padding,
        bias_attr=None if op.bias else False,
    ),
    ir.ReLU: lambda op: nn.ReLU(),
    ir.MaxPool2d: lambda op: nn.MaxPool2D(op.kernel_size, stride=op.stride),
    ir.Flatten: lambda op: nn.Flatten(),
    ir.Linear: lambda op: nn.Linear(op.in_features, op.out_features, bias_attr=None if op.bias else False),
    ir.Dropout: lambda op: nn.Dropout(op.p),
    ir.BatchNorm2d: lambda op: BatchNorm2D(op.num_features, momentum=1.0 - op.momentum, epsilon=op.eps),
    ir.LocalResponseNorm: lambda op: nn.LocalResponseNorm(op.size, alpha=op.alpha, beta=op.beta, k=op.k),
}


def compile_network(node: ir.Node) -> nn.Layer:
    """One ``nn.Sequential`` per IR container, one PaddlePaddle layer per IR op."""
    if isinstance(node, ir.Sequential):
        return nn.Sequential(*(compile_network(child) for child in node.children))
    return LAYERS[type(node)](node)
