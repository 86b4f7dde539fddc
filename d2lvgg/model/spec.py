"""The backend-neutral description of a VGG-style network: plain, frozen, validated data.

A spec is what the textbook writes as ``conv_arch`` plus the few numbers it hard-codes
(head widths, input size and channels, class count). Every backend compiles the same spec.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from numbers import Integral
from typing import Any

from ..errors import SpecError


def _positive_int(field_name: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 1, else raise a SpecError naming the field."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise SpecError(f"{field_name} must be a whole number, got {value!r}")
    if value < 1:
        raise SpecError(f"{field_name} must be at least 1, got {value!r}")
    return int(value)


def _non_negative_int(field_name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise SpecError(f"{field_name} must be a whole number >= 0, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Conv:
    """One convolution of an explicit block; ``padding=None`` keeps odd kernels' size."""

    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    padding: int | None = None

    def __post_init__(self) -> None:
        _positive_int("conv out_channels", self.out_channels)
        _positive_int("conv kernel_size", self.kernel_size)
        _positive_int("conv stride", self.stride)
        if self.padding is not None:
            _non_negative_int("conv padding", self.padding)

    @property
    def resolved_padding(self) -> int:
        return self.kernel_size // 2 if self.padding is None else self.padding


@dataclass(frozen=True)
class Block:
    """An explicit block: convolutions (each followed by ReLU), then one max-pool.

    The textbook's ``(num_convs, out_channels)`` pair is shorthand for a Block of
    ``num_convs`` 3x3 convolutions and a 2x2, stride-2 pool. Explicit blocks describe
    networks such as AlexNet that do not fit the shorthand.
    """

    convs: tuple[Conv, ...]
    pool_size: int = 2
    pool_stride: int = 2

    def __post_init__(self) -> None:
        convs = tuple(c if isinstance(c, Conv) else Conv(**c) for c in self.convs)
        if not convs:
            raise SpecError("a block needs at least one convolution, got convs=()")
        object.__setattr__(self, "convs", convs)
        _positive_int("block pool_size", self.pool_size)
        _positive_int("block pool_stride", self.pool_stride)

    def to_dict(self) -> dict[str, Any]:
        convs = [{k: v for k, v in vars(c).items() if v is not None} for c in self.convs]
        return {"convs": convs, "pool_size": self.pool_size, "pool_stride": self.pool_stride}


BlockLike = tuple[int, int] | Block


def _windows(block: Block) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of each layer of ``block`` that changes the map's size, in order."""
    return [(c.kernel_size, c.stride, c.resolved_padding) for c in block.convs] + [
        (block.pool_size, block.pool_stride, 0)
    ]


@dataclass(frozen=True)
class VGGSpec:
    """A VGG network as data; ``conv_arch`` takes the textbook's tuples verbatim.

    ``kernel_sizes`` optionally gives one kernel size per convolution of each shorthand
    block (the paper's configuration C uses 1x1 for some). ``lrn`` inserts local response
    normalisation after the first convolution (configuration A-LRN). ``conv_bias=False``
    reproduces the MindSpore edition, whose convolutions carry no bias.
    """

    conv_arch: tuple[BlockLike, ...]
    head: tuple[int, ...] = (4096, 4096)
    in_channels: int = 1
    input_size: int = 224
    num_classes: int = 10
    dropout: float = 0.5
    batch_norm: bool = False
    conv_bias: bool = True
    lrn: bool = False
    kernel_sizes: tuple[tuple[int, ...], ...] | None = None
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_arch", _normalise_arch(self.conv_arch))
        object.__setattr__(self, "head", _normalise_head(self.head))
        _positive_int("in_channels", self.in_channels)
        _positive_int("input_size", self.input_size)
        _positive_int("num_classes", self.num_classes)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise SpecError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not 0 <= self.dropout < 1:
            raise SpecError(f"dropout must be in [0, 1), got {self.dropout!r}")
        object.__setattr__(self, "dropout", float(self.dropout))
        for flag in ("batch_norm", "conv_bias", "lrn"):
            if not isinstance(getattr(self, flag), bool):
                raise SpecError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"name must be a non-empty string, got {self.name!r}")
        if self.kernel_sizes is not None:
            object.__setattr__(self, "kernel_sizes", self._normalise_kernels(self.kernel_sizes))
        self._check_input_size()

    def _normalise_kernels(self, kernel_sizes: Any) -> tuple[tuple[int, ...], ...]:
        if not isinstance(kernel_sizes, (list, tuple)) or len(kernel_sizes) != len(self.conv_arch):
            raise SpecError(f"kernel_sizes must list one entry per block ({len(self.conv_arch)}), got {kernel_sizes!r}")
        result = []
        for i, (block, sizes) in enumerate(zip(self.conv_arch, kernel_sizes, strict=True)):
            if isinstance(block, Block):
                raise SpecError(
                    f"kernel_sizes[{i}] applies to a (num_convs, channels) block only; "
                    "give an explicit block's kernels in its convs instead"
                )
            if not isinstance(sizes, (list, tuple)) or len(sizes) != block[0]:
                raise SpecError(
                    f"kernel_sizes[{i}] must give {block[0]} kernel size(s), one per "
                    f"convolution of block {i + 1}, got {sizes!r}"
                )
            result.append(tuple(_positive_int(f"kernel_sizes[{i}]", k) for k in sizes))
        return tuple(result)

    @property
    def blocks(self) -> tuple[Block, ...]:
        """Every block in explicit form, the shorthand pairs expanded."""
        expanded = []
        for i, block in enumerate(self.conv_arch):
            if isinstance(block, Block):
                expanded.append(block)
                continue
            num_convs, channels = block
            kernels = self.kernel_sizes[i] if self.kernel_sizes else (3,) * num_convs
            expanded.append(Block(tuple(Conv(channels, k) for k in kernels)))
        return tuple(expanded)

    @property
    def smallest_input_size(self) -> int:
        """The smallest square input whose feature map survives every block, by arithmetic alone.

        Walking back from a 1x1 map at the end, each layer needs ``(out - 1) * stride + kernel -
        2 * padding`` pixels (and at least one).
        """
        size = 1
        for window in reversed([w for block in self.blocks for w in _windows(block)]):
            kernel, stride, padding = window
            size = max(1, (size - 1) * stride + kernel - 2 * padding)
        return size

    def _check_input_size(self) -> None:
        size = self.input_size
        for index, block in enumerate(self.blocks):
            for kernel, stride, padding in _windows(block):
                size = (size + 2 * padding - kernel) // stride + 1
                if size < 1:
                    raise SpecError(
                        f"input_size {self.input_size} is too small: the feature map vanishes in block "
                        f"{index + 1} of {len(self.blocks)}; use input_size >= {self.smallest_input_size}"
                    )

    @property
    def num_convs(self) -> int:
        return sum(len(b.convs) for b in self.blocks)

    @property
    def depth(self) -> int:
        """Weight layers, as the paper counts them: convolutions plus dense layers."""
        return self.num_convs + len(self.head) + 1

    def scaled(self, ratio: int, *, head: bool = False) -> VGGSpec:
        """Divide every block's channels by ``ratio``, as the textbook's ``small_conv_arch``.

        The dense head keeps its widths unless ``head=True`` divides those too.
        """
        ratio = _positive_int("ratio", ratio)

        def shrink(channels: int) -> int:
            if channels // ratio < 1:
                raise SpecError(f"ratio {ratio} leaves {channels} channels at zero; use a smaller ratio")
            return channels // ratio

        arch: list[BlockLike] = []
        for block in self.conv_arch:
            if isinstance(block, Block):
                convs = tuple(replace(c, out_channels=shrink(c.out_channels)) for c in block.convs)
                arch.append(replace(block, convs=convs))
            else:
                arch.append((block[0], shrink(block[1])))
        widths = tuple(shrink(w) for w in self.head) if head else self.head
        return replace(self, conv_arch=tuple(arch), head=widths, name=f"{self.name}_r{ratio}")

    def with_options(self, **changes: Any) -> VGGSpec:
        """A copy with some fields changed (validated again); ``None`` values are ignored."""
        changes = {k: v for k, v in changes.items() if v is not None}
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise SpecError(f"unknown spec field(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-ready data; ``from_dict`` inverts it exactly."""
        data: dict[str, Any] = {"name": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "name" or value is None:
                continue
            if f.name == "conv_arch":
                value = [b.to_dict() if isinstance(b, Block) else list(b) for b in value]
            elif f.name in ("head", "kernel_sizes"):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VGGSpec:
        """Build a spec from plain data, rejecting keys it does not know."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a table/object of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown spec field(s): {', '.join(unknown)}; known fields are {', '.join(sorted(known))}")
        if "conv_arch" not in data:
            raise SpecError("a spec needs conv_arch, e.g. [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]]")
        return cls(**data)


def _normalise_arch(conv_arch: Any) -> tuple[BlockLike, ...]:
    if isinstance(conv_arch, (str, bytes)) or not isinstance(conv_arch, Iterable):
        raise SpecError(f"conv_arch must be a sequence of (num_convs, out_channels) pairs, got {conv_arch!r}")
    blocks: list[BlockLike] = []
    for i, block in enumerate(conv_arch):
        where = f"conv_arch[{i}]"
        if isinstance(block, Block):
            blocks.append(block)
        elif isinstance(block, dict):
            unknown = sorted(set(block) - {"convs", "pool_size", "pool_stride"})
            if unknown:
                raise SpecError(f"{where} has unknown key(s) {', '.join(unknown)}")
            try:
                blocks.append(Block(**block))
            except TypeError as exc:
                raise SpecError(f"{where} is not a valid block: {exc}") from None
        elif isinstance(block, (list, tuple)) and len(block) == 2:
            blocks.append(
                (_positive_int(f"{where} num_convs", block[0]), _positive_int(f"{where} out_channels", block[1]))
            )
        else:
            raise SpecError(f"{where} must be a (num_convs, out_channels) pair, got {block!r}")
    if not blocks:
        raise SpecError("conv_arch is empty; give at least one (num_convs, out_channels) block")
    return tuple(blocks)


def _normalise_head(head: Any) -> tuple[int, ...]:
    if isinstance(head, (str, bytes)) or not isinstance(head, Iterable):
        raise SpecError(f"head must be a sequence of dense-layer widths, got {head!r}")
    return tuple(_positive_int(f"head[{i}]", w) for i, w in enumerate(head))
