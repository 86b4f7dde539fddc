"""Starting a run from imported weights: the book's fine-tuning, adapted to Fashion-MNIST.

Pretrained VGGs take 3x224x224 images and predict 1,000 classes. Starting from them, each
tensor that fits is copied; the first convolution's kernels are summed over the colour channels
for greyscale input (a grey image is the same value in all three); a dense layer whose input
width changed with the image size is folded through the source's adaptive average pool where it
had one, else drawn anew; and the output layer is new when the class count differs, as the
book's fine-tuning chapter does. Every adaptation is reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import RunError
from ..model import ir
from .weights import load_weights, weights_metadata

POOLED = 7  # the feature map the libraries' dense heads were built for, 512x7x7


def adaptive_pool_matrix(size: int, out: int = POOLED) -> np.ndarray:
    """PyTorch's adaptive average pool from a size x size map to out x out, as a matrix (out², size²)."""
    rows = np.zeros((out, size))
    for i in range(out):
        start, stop = (i * size) // out, -(-((i + 1) * size) // out)
        rows[i, start:stop] = 1.0 / (stop - start)
    return np.kron(rows, rows)


def _fold_pool(weight: np.ndarray, channels: int, size: int) -> np.ndarray:
    """A dense weight that read the pooled 7x7 map, rewritten to read the size x size map directly."""
    out = weight.shape[0]
    folded = weight.reshape(out, channels, POOLED * POOLED) @ adaptive_pool_matrix(size)
    return folded.reshape(out, channels * size * size).astype(np.float32)


def _can_fold(metadata: dict, size: int) -> bool:
    """Whether the source network pooled a size x size map to 7x7 before its first dense layer."""
    pool = metadata.get("adaptive_pool", "never")
    return pool == "always" or (pool == "smaller" and size < POOLED)


def starting_weights(
    path: str | Path, network: ir.Sequential, fresh: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The weights a run starts from, made from the file at ``path`` (``fresh``: the new layers), and notes."""
    convert = f"convert it first with d2lvgg weights import {path} --from LIBRARY --arch NAME"
    if Path(path).suffix != ".npz":
        raise RunError(f"{path} is not d2lvgg weights (.npz): {convert}")
    source, metadata = load_weights(path), weights_metadata(path)
    shapes = ir.tensor_shapes(network)
    if not set(source) & set(shapes):
        raise RunError(f"{path} holds no tensor under d2lvgg's names: {convert}")
    extra = sorted(set(source) - set(shapes))
    if extra:
        raise RunError(f"{path} holds {extra[0]!r}, which this network does not have: choose the architecture it fits")
    missing = [n for n in shapes if n not in source and not (n.endswith(".bias") and f"{n[:-5]}.weight" in source)]
    if missing:
        raise RunError(f"{path} lacks {missing[0]!r}: it holds the weights of another architecture")
    leaves = ir.named_leaves(network)
    convs = [layer for layer, op in leaves if isinstance(op, ir.Conv2d)]
    dense = [(layer, op) for layer, op in leaves if isinstance(op, ir.Linear)]
    channels = next(op.out_channels for _, op in reversed(leaves) if isinstance(op, ir.Conv2d))
    size = round((dense[0][1].in_features / channels) ** 0.5)
    arrays: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for name, shape in shapes.items():
        layer = name.rsplit(".", 1)[0]
        if layer not in dict(dense):
            arrays[name] = _copied(name, shape, source, first=layer == convs[0], path=path, notes=notes)
    for index, (layer, op) in enumerate(dense):
        weight, target = source[f"{layer}.weight"], (op.out_features, op.in_features)
        if weight.shape == target:
            arrays |= {f"{layer}.weight": weight, f"{layer}.bias": source[f"{layer}.bias"]}
        elif index == 0 and weight.shape == (op.out_features, channels * POOLED**2) and _can_fold(metadata, size):
            arrays |= {f"{layer}.weight": _fold_pool(weight, channels, size), f"{layer}.bias": source[f"{layer}.bias"]}
            notes.append(
                f"dense layer {layer}: the source pooled the {size}x{size} map to {POOLED}x{POOLED} before it; "
                f"that pooling is folded into its weights ({weight.shape[1]} -> {op.in_features} inputs)"
            )
        else:
            arrays |= {f"{layer}.weight": fresh[f"{layer}.weight"], f"{layer}.bias": fresh[f"{layer}.bias"]}
            notes.append(f"dense layer {layer}: new, {weight.shape[::-1]} -> {target[::-1]} (in, out), freshly drawn")
    return arrays, notes


def _copied(
    name: str, shape: tuple[int, ...], source: dict, *, first: bool, path: str | Path, notes: list
) -> np.ndarray:
    """A convolution's or batch norm's tensor, copied, or adapted where the book's recipe allows."""
    if name not in source:  # a conv bias the source network was built without
        note = "convolution biases: the source has none, so they start at zero (the same function)"
        notes += [] if note in notes else [note]
        return np.zeros(shape, np.float32)
    value = source[name]
    if value.shape == shape:
        return value
    if (
        first
        and name.endswith(".weight")
        and shape[1] == 1
        and value.shape[:1] + value.shape[2:] == shape[:1] + shape[2:]
    ):
        notes.append(f"first convolution {name}: {value.shape[1]} input channels summed into 1 (greyscale input)")
        return value.sum(axis=1, keepdims=True)
    raise RunError(
        f"{path}: {name!r} has shape {value.shape}, this network needs {shape}: fine-tuning keeps every convolution, "
        "so choose the architecture the weights fit (the dense head and the input may differ)"
    )
