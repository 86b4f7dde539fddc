"""The book's VGG as a spec: which lowered networks each backend's ``vgg(...)`` can build.

The book's ``vgg(conv_arch)`` stacks one block per ``(num_convs, out_channels)`` pair (each
convolution followed by ReLU, then a 2x2, stride-2 max-pool), then Flatten and a dense head of
[Linear, ReLU, Dropout] per hidden width and a last Linear. ``vgg_spec`` is the spec of the network
the backends' ``vgg`` builds from given options; ``vgg_arguments`` reads those options back out of
a lowered spec, or answers None for a network of another shape, such as AlexNet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import takewhile
from typing import Any

from ..errors import SpecError
from . import ir
from .spec import VGGSpec


def vgg_spec(
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
) -> VGGSpec | None:
    """The spec whose lowering is the network ``vgg(conv_arch, ...)`` builds; None if there is none.

    ``flattened`` (the book's ``out_channels * 7 * 7``) gives the input size: each block halves it.
    """
    channels = conv_arch[-1][1]
    side = math.isqrt((flattened or channels * 7 * 7) // channels)
    if flattened is not None and side * side * channels != flattened:
        return None
    try:
        return VGGSpec(
            conv_arch=tuple(conv_arch),
            head=tuple(head),
            in_channels=in_channels,
            input_size=side * 2 ** len(conv_arch),
            num_classes=num_classes,
            dropout=dropout,
            batch_norm=batch_norm,
            conv_bias=bias,
            lrn=lrn,
            kernel_sizes=tuple(map(tuple, kernel_sizes)) if kernel_sizes else None,
        )
    except SpecError:
        return None


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
    spec = vgg_spec(**arguments)
    return arguments if spec is not None and ir.lower(spec) == network else None
