"""Static analysis of a spec: per-layer output shapes, parameters, MACs and activation sizes.

Everything here is computed from the layer IR alone, without any framework, and is the
table each backend's built network is checked against.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from . import ir
from .spec import VGGSpec

BYTES_PER_FLOAT = 4
Depth = Literal["block", "layer"]


@dataclass(frozen=True)
class LayerInfo:
    """One node of the analysed tree; ``name`` is its index path, as the frameworks name it."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activations: int
    children: tuple[LayerInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "activations": self.activations,
        }


@dataclass(frozen=True)
class Summary:
    """The analysed network: its top-level rows and the totals."""

    spec: VGGSpec
    input_shape: tuple[int, ...]
    layers: tuple[LayerInfo, ...]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_activations(self) -> int:
        """Float values written by all layers for one image (a block counts its layers')."""
        return sum(layer.activations for layer in self.layers)

    @property
    def activation_bytes(self) -> int:
        return self.total_activations * BYTES_PER_FLOAT

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_PER_FLOAT

    def rows(self, depth: Depth = "block") -> Iterator[tuple[int, LayerInfo]]:
        """``(nesting level, layer)`` rows; ``depth="layer"`` also yields each block's layers."""
        for layer in self.layers:
            yield 0, layer
            if depth == "layer":
                for child in layer.children:
                    yield 1, child

    def to_dict(self, depth: Depth = "block") -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "input_shape": list(self.input_shape),
            "layers": [layer.to_dict() | {"level": level} for level, layer in self.rows(depth)],
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "total_activations": self.total_activations,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
        }


def _analyse(node: ir.Node, name: str, shape: tuple[int, ...]) -> LayerInfo:
    if isinstance(node, ir.Sequential):
        children = []
        for i, child in enumerate(node.children):
            info = _analyse(child, f"{name}.{i}", shape)
            children.append(info)
            shape = info.output_shape[1:]
        return LayerInfo(
            name,
            "Block",
            (1, *shape),
            sum(c.params for c in children),
            sum(c.macs for c in children),
            sum(c.activations for c in children),
            tuple(children),
        )
    out = node.output_shape(shape)
    activations = 1
    for dim in out:
        activations *= dim
    return LayerInfo(name, type(node).__name__, (1, *out), ir.op_params(node), ir.op_macs(node, out), activations)


def summarize(spec: VGGSpec) -> Summary:
    """Analyse ``spec`` at its own input size; the leading 1 in shapes is the batch."""
    network = ir.lower(spec)
    shape: tuple[int, ...] = (spec.in_channels, spec.input_size, spec.input_size)
    input_shape = (1, *shape)
    layers = []
    for i, child in enumerate(network.children):
        info = _analyse(child, str(i), shape)
        layers.append(info)
        shape = info.output_shape[1:]
    return Summary(spec, input_shape, tuple(layers))
