"""The layer IR: a small closed set of ops that a spec lowers to and every backend compiles.

Shapes are per image, ``(channels, height, width)`` or ``(features,)``. Each op knows its
output shape, parameter count and multiply-accumulates, so the static analysis needs no
framework. The tree stays nested by block, as the textbook prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import VGGSpec

Shape = tuple[int, ...]


def _spatial(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class Conv2d:
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    padding: int
    bias: bool

    def output_shape(self, shape: Shape) -> Shape:
        _, h, w = shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return (self.out_channels, _spatial(h, k, s, p), _spatial(w, k, s, p))

    @property
    def params(self) -> int:
        weights = self.out_channels * self.in_channels * self.kernel_size**2
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, out_shape: Shape) -> int:
        c, h, w = out_shape
        return c * h * w * self.in_channels * self.kernel_size**2


@dataclass(frozen=True)
class MaxPool2d:
    kernel_size: int
    stride: int

    def output_shape(self, shape: Shape) -> Shape:
        c, h, w = shape
        return (c, _spatial(h, self.kernel_size, self.stride), _spatial(w, self.kernel_size, self.stride))


@dataclass(frozen=True)
class ReLU:
    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class Dropout:
    p: float

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class BatchNorm2d:
    """Batch norm over channels; momentum in PyTorch's convention (weight of the new batch)."""

    num_features: int
    eps: float = 1e-5
    momentum: float = 0.1

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    @property
    def params(self) -> int:
        return 2 * self.num_features


@dataclass(frozen=True)
class LocalResponseNorm:
    """Krizhevsky et al.'s normalisation across channels, as VGG's configuration A-LRN uses."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class Flatten:
    def output_shape(self, shape: Shape) -> Shape:
        total = 1
        for dim in shape:
            total *= dim
        return (total,)


@dataclass(frozen=True)
class Linear:
    in_features: int
    out_features: int
    bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        return (self.out_features,)

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, out_shape: Shape) -> int:
        return self.in_features * self.out_features


Op = Conv2d | MaxPool2d | ReLU | Dropout | BatchNorm2d | LocalResponseNorm | Flatten | Linear


@dataclass(frozen=True)
class Sequential:
    """An ordered container; the network is one, and so is each of its blocks."""

    children: tuple[Node, ...]

    def output_shape(self, shape: Shape) -> Shape:
        for child in self.children:
            shape = child.output_shape(shape)
        return shape


Node = Op | Sequential


def op_params(node: Node) -> int:
    """Trainable parameters of a node (its children's, for a container)."""
    if isinstance(node, Sequential):
        return sum(op_params(c) for c in node.children)
    return getattr(node, "params", 0)


def op_macs(node: Node, out_shape: Shape) -> int:
    """Multiply-accumulates of one leaf op producing ``out_shape`` (convolutions and dense only)."""
    macs = getattr(node, "macs", None)
    return macs(out_shape) if macs else 0


def lower_features(spec: VGGSpec, in_shape: Shape | None = None) -> tuple[Sequential, Shape]:
    """The convolutional blocks of ``spec`` and the feature-map shape they produce."""
    shape = in_shape or (spec.in_channels, spec.input_size, spec.input_size)
    channels = shape[0]
    blocks = []
    for b, block in enumerate(spec.blocks):
        layers: list[Node] = []
        for i, conv in enumerate(block.convs):
            layers.append(
                Conv2d(
                    channels, conv.out_channels, conv.kernel_size, conv.stride, conv.resolved_padding, spec.conv_bias
                )
            )
            if spec.batch_norm:
                layers.append(BatchNorm2d(conv.out_channels))
            layers.append(ReLU())
            if spec.lrn and b == 0 and i == 0:
                layers.append(LocalResponseNorm())
            channels = conv.out_channels
        layers.append(MaxPool2d(block.pool_size, block.pool_stride))
        blocks.append(Sequential(tuple(layers)))
    features = Sequential(tuple(blocks))
    return features, features.output_shape(shape)


def lower(spec: VGGSpec) -> Sequential:
    """The whole network: one Sequential per block, then Flatten and the dense head."""
    features, shape = lower_features(spec)
    width = Flatten().output_shape(shape)[0]
    head: list[Node] = [Flatten()]
    for hidden in spec.head:
        head += [Linear(width, hidden), ReLU(), Dropout(spec.dropout)]
        width = hidden
    head.append(Linear(width, spec.num_classes))
    return Sequential(features.children + tuple(head))


def named_leaves(node: Node, prefix: str = "") -> list[tuple[str, Op]]:
    """Every leaf op with its index path ("2.0"), the name both frameworks give it."""
    if not isinstance(node, Sequential):
        return [(prefix, node)]
    leaves = []
    for i, child in enumerate(node.children):
        leaves += named_leaves(child, f"{prefix}.{i}" if prefix else str(i))
    return leaves


def tensor_shapes(network: Sequential) -> dict[str, tuple[int, ...]]:
    """The network's state, one name per tensor: the neutral weight-naming scheme.

    Names follow PyTorch's state_dict (``2.0.weight``, ``2.1.running_mean``); each backend
    maps its own names onto these.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for path, op in named_leaves(network):
        if isinstance(op, Conv2d):
            shapes[f"{path}.weight"] = (op.out_channels, op.in_channels, op.kernel_size, op.kernel_size)
            if op.bias:
                shapes[f"{path}.bias"] = (op.out_channels,)
        elif isinstance(op, Linear):
            shapes[f"{path}.weight"] = (op.out_features, op.in_features)
            if op.bias:
                shapes[f"{path}.bias"] = (op.out_features,)
        elif isinstance(op, BatchNorm2d):
            for stat in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{path}.{stat}"] = (op.num_features,)
    return shapes
