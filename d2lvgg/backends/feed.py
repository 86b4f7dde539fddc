"""The fast path's dataset: held once in a framework's tensors on its device, batched and resized there.

Every backend's ``Runner.data`` returns a :class:`DeviceFeed`. The order is the numpy pipeline's
(``epoch_order``) and the resize its matrices (``resize_weights``, 1/255 folded into the rows), so a
batch equals the pipeline's within float32 rounding. What differs per framework is how an array
reaches the device (``put``) and the gather-and-resize itself (``gather``), compiled where the
framework compiles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..data.pipeline import epoch_order, num_batches, resize_weights
from .base import Option

# (images, labels, indices, rows, cols) -> (x, y): x float32 (B, 1, S, S); rows and cols are None
# where the images already have the size, and then x is the images over 255.
Gather = Callable[[Any, Any, Any, Any, Any], tuple[Any, Any]]

DEVICE_DATA = Option("device_data", True, "resize batches in numpy on the host", flag="--no-device-data", plain=False)


class DeviceFeed:
    """The whole uint8 dataset on a runner's device, yielding each seeded batch gathered and resized there."""

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, size: int, *, put: Callable[[np.ndarray], Any], gather: Gather
    ) -> None:
        h, w = images.shape[1:]
        self.put, self.gather, self.count = put, gather, len(labels)
        self.images = put(np.array(images, dtype=np.uint8))  # copies: the sources may be read-only maps
        self.labels = put(np.array(labels, dtype=np.int64))
        resize = (h, w) != (size, size)
        self.rows = put(resize_weights(h, size) * np.float32(1 / 255)) if resize else None
        self.cols = put(np.ascontiguousarray(resize_weights(w, size).T)) if resize else None

    def __len__(self) -> int:
        return self.count

    def batches(self, *, batch_size: int, shuffle: bool, seed: int, epoch: int) -> Iterator[tuple[Any, Any]]:
        """One epoch's ``(x, y)`` on the device, in the order ``data.pipeline.batches`` gives them."""
        order = self.put(epoch_order(self.count, shuffle=shuffle, seed=seed, epoch=epoch))  # one copy an epoch
        for b in range(num_batches(self.count, batch_size)):
            indices = order[b * batch_size : (b + 1) * batch_size]
            yield self.gather(self.images, self.labels, indices, self.rows, self.cols)
