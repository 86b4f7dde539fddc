"""Batches for every backend: seeded shuffling, Pillow-equivalent bilinear resize, [0, 1] floats.

The pipeline is numpy, so for one seed every backend receives byte-identical batches.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DataError

# ---------------------------------------------------------------- resizing


def _triangle_weights(in_size: int, out_size: int) -> np.ndarray:
    """Pillow-style bilinear (triangle) weights, widened by the scale when shrinking."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        taps = np.arange(lo, hi)
        w = np.clip(1.0 - np.abs((taps - center + 0.5) / filterscale), 0.0, None)
        total = w.sum()
        weights[i, lo:hi] = w / total if total else w
    return weights


@functools.lru_cache(maxsize=64)
def resize_weights(in_size: int, out_size: int) -> np.ndarray:
    """Read-only ``(out_size, in_size)`` float32 matrix M with ``resized = M @ row``.

    Matches ``PIL.Image.resize(..., Image.BILINEAR)`` along one axis; a backend
    may apply the same matrices on its device.
    """
    if in_size <= 0 or out_size <= 0:
        raise DataError(f"resize sizes must be positive, got {in_size} -> {out_size}")
    weights = _triangle_weights(in_size, out_size).astype(np.float32)
    weights.setflags(write=False)
    return weights


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 ``(N, h, w)`` to float32 ``(N, size, size)`` in [0, 1], like Pillow."""
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise DataError(f"resize must be a positive integer, got {size!r}")
    images = np.asarray(images)
    if images.ndim != 3:
        raise DataError(f"expected images shaped (N, h, w), got shape {images.shape}")
    _, h, w = images.shape
    x = images.astype(np.float32)
    if h == size and w == size:
        x /= np.float32(255.0)  # exactly what ToTensor does: float(x) / 255
        return x
    cols = resize_weights(w, size).T  # (w, size)
    rows = resize_weights(h, size) * np.float32(1.0 / 255.0)  # (size, h), 1/255 folded in
    out = np.matmul(rows, np.matmul(x, cols))
    np.clip(out, 0.0, 1.0, out=out)
    return out


# ---------------------------------------------------------------- batching


def _positive(value: int, what: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise DataError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def num_batches(n: int, batch_size: int) -> int:
    """Batches per epoch with the last partial batch kept (``drop_last=False``)."""
    batch_size = _positive(batch_size, "batch_size")
    return -(-int(n) // batch_size)


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The order of an epoch's examples: ``default_rng([seed, epoch]).permutation(n)``, or as stored."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n) if shuffle else np.arange(n)


def batches(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    resize: int,
    shuffle: bool,
    seed: int,
    epoch: int,
    start: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x, y)``: x float32 ``(B, 1, S, S)`` C-contiguous, y int64 ``(B,)``.

    With ``shuffle`` the order is ``default_rng([seed, epoch]).permutation(n)``,
    so any epoch can be replayed alone; ``start`` skips that many batches (resume).
    """
    batch_size = _positive(batch_size, "batch_size")
    resize = _positive(resize, "resize")
    if int(start) < 0:
        raise DataError(f"start must be >= 0, got {start!r}")
    n = len(images)
    if len(labels) != n:
        raise DataError(f"{n} images but {len(labels)} labels")
    order = epoch_order(n, shuffle=shuffle, seed=seed, epoch=epoch)
    for b in range(int(start), num_batches(n, batch_size)):
        idx = order[b * batch_size : (b + 1) * batch_size]
        x = resize_bilinear(images[idx], resize)
        y = np.asarray(labels)[idx].astype(np.int64)
        yield np.ascontiguousarray(x[:, None]), y


def epoch_batches(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    feed: Any = None,
) -> Iterator[tuple[Any, Any]]:
    """An epoch's batches of ``images`` resized to ``size``, in the order ``batches`` gives them.

    ``feed`` is a runner's device-resident copy of the same data (``Runner.data``), which then
    makes the batches on the device; without one they are made here, in numpy.
    """
    if feed is not None:
        return feed.batches(batch_size=batch_size, shuffle=shuffle, seed=seed, epoch=epoch)
    return batches(images, labels, batch_size=batch_size, resize=size, shuffle=shuffle, seed=seed, epoch=epoch)
