"""Fashion-MNIST as numpy arrays: located (or fetched), verified, decoded, and cached per folder.

The release's files and mirrors are in ``release``, the IDX format in ``idx``, the checksums in
``checksum``, finding and fetching the files in ``locate`` and ``download``; resizing and batching
live in ``d2lvgg.data.pipeline``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DataError
from .checksum import check_md5
from .download import download as fill_cache
from .idx import parse_idx, read_bytes
from .locate import default_cache_dir, find, locate
from .release import FILES, SYSTEM_DIR, by_hand, fix_hint

# SYSTEM_DIR too: the tests that need the real files look for them there
__all__ = ["CHANNELS", "CLASS_NAMES", "SYSTEM_DIR", "FashionMNIST", "load_fashion_mnist"]

CLASS_NAMES: tuple[str, ...] = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)

CHANNELS = 1  # greyscale


@dataclass(frozen=True)
class FashionMNIST:
    """Decoded dataset. Images are read-only uint8 ``(N, 28, 28)``; labels int64."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path


def _load_pair(folder: Path, images_name: str, labels_name: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    arrays: list[np.ndarray] = []
    paths: list[Path] = []
    kinds: tuple[tuple[str, Literal["images", "labels"]], ...] = ((images_name, "images"), (labels_name, "labels"))
    for name, kind in kinds:
        path = find(folder, name)
        if path is None:
            raise DataError(f"{folder} lacks {name} (or {name}.gz); {by_hand(folder)}")
        data = read_bytes(path)
        if verify:
            check_md5(data, path, name)
        arrays.append(parse_idx(data, path, kind))
        paths.append(path)
    images, labels = arrays
    if len(images) != len(labels):
        raise DataError(
            f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} "
            f"labels; one of them is damaged or from another dataset; {fix_hint(paths[0])}"
        )
    if labels.size and int(labels.max()) >= len(CLASS_NAMES):
        raise DataError(
            f"{paths[1]} has label {int(labels.max())}, outside 0..{len(CLASS_NAMES) - 1}; {fix_hint(paths[1])}"
        )
    out = labels.astype(np.int64)
    out.setflags(write=False)
    return images, out


@functools.lru_cache(maxsize=4)
def _load_cached(folder: Path, stamp: tuple, verify: bool) -> FashionMNIST:
    del stamp  # part of the cache key only: a changed file gets decoded afresh
    train = _load_pair(folder, FILES["train_images"], FILES["train_labels"], verify)
    test = _load_pair(folder, FILES["test_images"], FILES["test_labels"], verify)
    return FashionMNIST(*train, *test, source=folder)


def load_fashion_mnist(
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    verify: bool = True,
    base_urls: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
) -> FashionMNIST:
    """Locate (or fetch), verify and decode Fashion-MNIST; cached per folder in-process.

    A damaged file in the download cache is not trusted: it is fetched again (when
    ``download`` allows) and the data decoded from the fresh copy.
    """
    folder = locate(data_dir, download=download, base_urls=base_urls, cache_dir=cache_dir).resolve()
    try:
        return _load_cached(folder, _stamp(folder), verify)
    except DataError:
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        if not download or folder != cache.resolve():
            raise
        fill_cache(folder, base_urls=base_urls)  # drops every damaged entry and fetches it again
        return _load_cached(folder, _stamp(folder), verify)


def _stamp(folder: Path) -> tuple:
    """Each file's path, size and mtime: part of the decode cache's key, so changes are noticed."""
    stamp = []
    for name in FILES.values():
        path = find(folder, name)
        st = path.stat() if path is not None else None
        stamp.append((str(path), st and st.st_size, st and st.st_mtime_ns))
    return tuple(stamp)
