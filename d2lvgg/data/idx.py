"""The IDX format: a file's bytes (gzip'ed or raw) decoded as a uint8 array, with numpy only."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DataError
from .release import fix_hint

GZIP_MAGIC = b"\x1f\x8b"
_IDX_MAGIC = {"images": (0x00000803, 3), "labels": (0x00000801, 1)}


def decompress(raw: bytes, where: str) -> bytes:
    """Gunzip ``raw`` if it starts with the gzip magic; a bad stream is a ``DataError``."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{where} is not a valid gzip file ({exc})") from exc


def read_bytes(path: Path) -> bytes:
    """Return the file's contents, decompressed when gzip'ed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    try:
        return decompress(raw, str(path))
    except DataError as exc:
        raise DataError(f"{exc}; {fix_hint(path)}") from exc


def parse_idx(data: bytes, path: Path, kind: Literal["images", "labels"]) -> np.ndarray:
    """Decode IDX bytes without copying the payload (np.frombuffer)."""
    if kind not in _IDX_MAGIC:
        raise DataError(f"kind must be 'images' or 'labels', not {kind!r}")
    magic, ndim = _IDX_MAGIC[kind]
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file; {fix_hint(path)}")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        what = "image" if kind == "images" else "label"
        if found >> 8 == magic >> 8:  # right type code, wrong number of dimensions
            why = f"it has {found & 0xFF} dimension(s), a {what} file has {ndim}"
        else:
            why = f"magic number 0x{found:08x}, expected 0x{magic:08x}"
        raise DataError(f"{path} is not an IDX {what} file: {why}; {fix_hint(path)}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header; {fix_hint(path)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{path} is {state}: header {shape} needs {expected} bytes, found {len(data)}; {fix_hint(path)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str | Path, *, kind: Literal["images", "labels"]) -> np.ndarray:
    """Read an IDX file (gzip'ed or raw) as a read-only uint8 array.

    ``kind="images"`` gives ``(N, rows, cols)``, ``kind="labels"`` gives ``(N,)``.
    Any damage (wrong magic, dimension count, truncation) raises ``DataError``.
    """
    path = Path(path)
    return parse_idx(read_bytes(path), path, kind)
