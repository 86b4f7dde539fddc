"""Weights between a channels-last framework (TensorFlow, JAX) and the neutral, PyTorch-ordered layout.

Kernels go (H, W, in, out) to (out, in, H, W), dense kernels (in, out) to (out, in), and the first
dense layer's rows from the (height, width, channel) order of a flattened NHWC map to the
(channel, height, width) order of an NCHW one. ``kind`` names which of these a tensor needs:
``conv``, ``dense``, ``flat:<channels>`` (the first dense layer) or ``""`` (as it is).
"""

from __future__ import annotations

import math

import numpy as np

from ..model import ir


def to_neutral(value: np.ndarray, kind: str) -> np.ndarray:
    """A channels-last tensor in the neutral layout."""
    if kind == "conv":
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    if kind == "dense":
        return np.ascontiguousarray(value.T)
    if kind.startswith("flat:"):
        channels = int(kind[5:])
        side = math.isqrt(value.shape[0] // channels)
        return value.reshape(side, side, channels, -1).transpose(3, 2, 0, 1).reshape(value.shape[1], -1)
    return value


def from_neutral(value: np.ndarray, kind: str) -> np.ndarray:
    """A neutral tensor in the channels-last layout."""
    if kind == "conv":
        return np.ascontiguousarray(value.transpose(2, 3, 1, 0))
    if kind == "dense":
        return np.ascontiguousarray(value.T)
    if kind.startswith("flat:"):
        channels = int(kind[5:])
        side = math.isqrt(value.shape[1] // channels)
        return value.reshape(-1, channels, side, side).transpose(2, 3, 1, 0).reshape(value.shape[1], -1)
    return value


def input_shape(node: ir.Sequential) -> tuple[int, int]:
    """The channels and the smallest square size the network was lowered for (its dense widths fix it).

    A channels-last framework makes its weights for a given input, so it needs the size up front.
    """
    first = next(op for _, op in ir.named_leaves(node) if isinstance(op, ir.Conv2d))
    head = next(op for _, op in ir.named_leaves(node) if isinstance(op, ir.Linear))
    features = ir.Sequential(tuple(child for child in node.children if isinstance(child, ir.Sequential)))
    for size in range(1, 4097):
        shape = features.output_shape((first.in_channels, size, size))
        if min(shape) > 0 and shape[0] * shape[1] * shape[2] == head.in_features:
            return first.in_channels, size
    raise ValueError(f"no square input gives the {head.in_features} features the first dense layer takes")
