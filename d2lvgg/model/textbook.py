"""The book's VGG in the layer IR: which lowered networks each backend's ``vgg(...)`` can build.

The book's ``vgg(conv_arch)`` stacks one block per ``(num_convs, out_channels)`` pair (each
convolution followed by ReLU, then a 2x2, stride-2 max-pool), then Flatten and a dense head of
[Linear, ReLU, Dropout] per hidden width and a last Linear. ``vgg_ir`` writes that network as IR,
with the same options as the backends' ``vgg``; ``vgg_arguments`` reads those options back out of a
lowered spec, or answers None for a network of another shape, such as AlexNet.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import takewhile
from typing import Any

from . import ir


def vgg_block_ir(
    num_convs: int,
    in_channels: int,
    out_channels: int,
    *,
    kernel_sizes: Sequence[int] | None = None,
    batch_norm: bool = False,
    lrn: bool = False,
    bias: bool = True,
) -> ir.Sequential:
    """The IR of the backends' ``vgg_block``: padding keeps each odd kernel's map size."""
    layers: list[ir.Node] = []
    for i, kernel in enumerate(kernel_sizes or (3,) * num_convs):
        layers.append(ir.Conv2d(in_channels, out_channels, kernel, 1, kernel // 2, bias))
        if batch_norm:
            layers.append(ir.BatchNorm2d(out_channels))
        layers.append(ir.ReLU())
        if lrn and i == 0:
            layers.append(ir.LocalResponseNorm())
        in_channels = out_channels
    layers.append(ir.MaxPool2d(2, 2))
    return ir.Sequential(tuple(layers))


def vgg_ir(
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
) -> ir.Sequential:
    """The IR of the backends' ``vgg``; ``flattened`` defaults to the book's ``out_channels * 7 * 7``."""
    conv_blks: list[ir.Node] = []
    for i, (num_convs, out_channels) in enumerate(conv_arch):
        options = {"kernel_sizes": kernel_sizes[i] if kernel_sizes else None, "lrn": lrn and i == 0}
        conv_blks.append(
            vgg_block_ir(num_convs, in_channels, out_channels, batch_norm=batch_norm, bias=bias, **options)
        )
        in_channels = out_channels
    in_features = flattened or out_channels * 7 * 7
    dense: list[ir.Node] = []
    for width in head:
        dense += [ir.Linear(in_features, width), ir.ReLU(), ir.Dropout(dropout)]
        in_features = width
    return ir.Sequential((*conv_blks, ir.Flatten(), *dense, ir.Linear(in_features, num_classes)))


def vgg_arguments(network: ir.Node) -> dict[str, Any] | None:
    """The keyword arguments (``conv_arch`` included) with which ``vgg`` builds ``network``.

    None when ``network`` is not the book's shape: a strided or unpadded convolution, a pool
    other than 2x2 stride 2, a block whose convolutions change width, a non-default batch norm.
    """
    if not isinstance(network, ir.Sequential):
        return None
    blocks = tuple(takewhile(lambda child: isinstance(child, ir.Sequential), network.children))
    convs = [[op for op in block.children if isinstance(op, ir.Conv2d)] for block in blocks]
    linears = [op for op in network.children[len(blocks) :] if isinstance(op, ir.Linear)]
    dropouts = [op for op in network.children[len(blocks) :] if isinstance(op, ir.Dropout)]
    if not convs or not all(convs) or not linears:
        return None
    first_block = blocks[0].children
    arguments = {
        "conv_arch": tuple((len(block), block[-1].out_channels) for block in convs),
        "kernel_sizes": tuple(tuple(op.kernel_size for op in block) for block in convs),
        "batch_norm": any(isinstance(op, ir.BatchNorm2d) for op in first_block),
        "lrn": any(isinstance(op, ir.LocalResponseNorm) for op in first_block),
        "bias": convs[0][0].bias,
        "in_channels": convs[0][0].in_channels,
        "flattened": linears[0].in_features,
        "head": tuple(op.out_features for op in linears[:-1]),
        "dropout": dropouts[0].p if dropouts else 0.5,
        "num_classes": linears[-1].out_features,
    }
    return arguments if vgg_ir(**arguments) == network else None
