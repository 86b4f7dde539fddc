"""Fashion-MNIST: find, fetch, verify and decode the four IDX files, with numpy only.

Resizing and batching live in ``d2lvgg.pipeline``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..atomic import atomic_write
from ..errors import DataError

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

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "D2LVGG_DATA"

#: Base URLs tried in order: the canonical bucket, then the GitHub mirror.
URLS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

#: Role -> file name (without ".gz"); each file may be stored raw or gzip'ed.
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: MD5 of the *decompressed* bytes (gzip bytes differ between mirrors).
#: A module-level dict so tests can patch it for synthetic files.
MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

_IDX_MAGIC = {"images": (0x00000803, 3), "labels": (0x00000801, 1)}
_GZIP_MAGIC = b"\x1f\x8b"


def default_cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/d2lvgg/fashion-mnist`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "d2lvgg" / "fashion-mnist"


def _fix_hint(path: Path) -> str:
    return (
        f"delete {path} and run again to re-download it, or place a good copy "
        f"of {path.name} from {URLS[0]} (mirror {URLS[1]}) there"
    )


# ---------------------------------------------------------------- reading


def _decompress(raw: bytes, where: str) -> bytes:
    """Gunzip ``raw`` if it starts with the gzip magic; a bad stream is a ``DataError``."""
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{where} is not a valid gzip file ({exc})") from exc


def _read_bytes(path: Path) -> bytes:
    """Return the file's contents, decompressed when gzip'ed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    try:
        return _decompress(raw, str(path))
    except DataError as exc:
        raise DataError(f"{exc}; {_fix_hint(path)}") from exc


def _parse_idx(data: bytes, path: Path, kind: Literal["images", "labels"]) -> np.ndarray:
    """Decode IDX bytes without copying the payload (np.frombuffer)."""
    if kind not in _IDX_MAGIC:
        raise DataError(f"kind must be 'images' or 'labels', not {kind!r}")
    magic, ndim = _IDX_MAGIC[kind]
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file; {_fix_hint(path)}")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        what = "image" if kind == "images" else "label"
        if found >> 8 == magic >> 8:  # right type code, wrong number of dimensions
            why = f"it has {found & 0xFF} dimension(s), a {what} file has {ndim}"
        else:
            why = f"magic number 0x{found:08x}, expected 0x{magic:08x}"
        raise DataError(f"{path} is not an IDX {what} file: {why}; {_fix_hint(path)}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header; {_fix_hint(path)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{path} is {state}: header {shape} needs {expected} bytes, found {len(data)}; {_fix_hint(path)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str | Path, *, kind: Literal["images", "labels"]) -> np.ndarray:
    """Read an IDX file (gzip'ed or raw) as a read-only uint8 array.

    ``kind="images"`` gives ``(N, rows, cols)``, ``kind="labels"`` gives ``(N,)``.
    Any damage (wrong magic, dimension count, truncation) raises ``DataError``.
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path), path, kind)


def _md5_problem(data: bytes, name: str) -> str | None:
    """None if ``data`` has the expected MD5 for ``name``, else what differs."""
    actual = hashlib.md5(data).hexdigest()
    if actual == MD5[name]:
        return None
    return (
        f"MD5 of its decompressed contents is {actual}, expected {MD5[name]} "
        f"(damaged, or not the Fashion-MNIST release)"
    )


def _check_md5(data: bytes, path: Path, name: str) -> None:
    problem = _md5_problem(data, name)
    if problem:
        raise DataError(f"checksum mismatch for {path}: {problem}; {_fix_hint(path)}")


# ---------------------------------------------------------------- finding


def _find(folder: Path, name: str) -> Path | None:
    """The file ``name`` or ``name.gz`` in ``folder``, raw preferred, else None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing(folder: Path) -> list[str]:
    return [name for name in FILES.values() if _find(folder, name) is None]


def _by_hand(folder: Path) -> str:
    names = ", ".join(f"{n}.gz" for n in FILES.values())
    urls = " or ".join(URLS)
    return (
        f"without network access, install Debian's package (sudo apt-get install dataset-fashion-mnist, "
        f"which puts them in {SYSTEM_DIR}); or, to place the files by hand, download {names} from {urls} into {folder} "
        f"(gzip'ed or not); or point ${ENV_VAR} or --data-dir at a folder holding them"
    )


def _strict(folder: Path, origin: str) -> Path:
    missing = _missing(folder)
    if missing:
        listed = ", ".join(missing)
        raise DataError(
            f"{origin} {folder} lacks Fashion-MNIST file(s): {listed} "
            f"(each may also be gzip'ed, NAME.gz); {_by_hand(folder)}"
        )
    return folder


def locate(
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    base_urls: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Return a folder holding all four files.

    Order: ``data_dir``, then ``$D2LVGG_DATA`` (both strict: missing files are an
    error, no fallback), then ``SYSTEM_DIR``, then the cache dir, else download
    into the cache dir (unless ``download`` is False).
    """
    if data_dir is not None:
        return _strict(Path(data_dir).expanduser(), "data folder")
    env = os.environ.get(ENV_VAR)
    if env:
        return _strict(Path(env).expanduser(), f"${ENV_VAR} folder")
    if not _missing(SYSTEM_DIR):
        return SYSTEM_DIR
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if not _missing(cache):
        return cache
    if not download:
        raise DataError(
            f"Fashion-MNIST not found (looked in ${ENV_VAR}, {SYSTEM_DIR} and {cache}) "
            f"and downloading is off; {_by_hand(cache)}"
        )
    return _download(cache, base_urls=base_urls)


# ---------------------------------------------------------------- downloading


def _fetch(url: str, folder: Path, name: str, timeout: float) -> Path:
    """Download ``url`` (at most 30 MB), verify it, and only then write it into ``folder``."""
    raw = bytearray()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        while chunk := resp.read(1 << 20):  # chunk by chunk: a short body ends the loop, not an exception
            raw += chunk
        length = resp.headers.get("Content-Length")
    if length is not None and length.isdigit() and len(raw) != int(length):
        raise ConnectionError(f"{url}: connection closed after {len(raw)} of {length} bytes")
    problem = _md5_problem(_decompress(raw, url), name)
    if problem:
        raise DataError(f"{url} served bad data: {problem}")
    final = folder / (f"{name}.gz" if raw[:2] == _GZIP_MAGIC else name)
    with atomic_write(final, "wb") as out:
        out.write(raw)
    return final


def _fetch_any(
    folder: Path,
    name: str,
    urls: Sequence[str],
    retries: int,
    timeout: float,
    sleep: Callable[[float], None],
) -> Path:
    """Try each base URL in turn, retrying transient errors; DataError if all fail."""
    last: BaseException | str = "no base URLs given"
    for base in urls:
        url = base.rstrip("/") + f"/{name}.gz"
        for attempt in range(max(1, retries)):
            if attempt:
                sleep(0.5 * 2 ** (attempt - 1))
            try:
                return _fetch(url, folder, name, timeout)
            except urllib.error.HTTPError as exc:
                last = exc
                if exc.code < 500:
                    break  # permanent (404 ...): go to the next mirror
            except DataError as exc:
                last = exc
                break  # bad bytes: retrying this mirror will not help
            except (OSError, ValueError, http.client.HTTPException) as exc:
                last = exc  # refused, reset, timed out: worth a retry
    raise DataError(
        f"could not download {name}.gz from {', '.join(urls) or 'nowhere'}; last error: {last}; {_by_hand(folder)}"
    )


def _is_good(path: Path, name: str) -> bool:
    try:
        return _md5_problem(_read_bytes(path), name) is None
    except DataError:
        return False


def download(
    cache_dir: str | Path,
    *,
    base_urls: Sequence[str] | None = None,
    retries: int = 3,
    timeout: float = 30,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch any missing or damaged file into ``cache_dir`` and return that folder.

    Files already there whose MD5 matches are kept; a damaged one is deleted and
    fetched again. Each fetch goes to a temp file that is verified before
    ``os.replace``, so the final name never holds unverified bytes. Each URL is
    tried up to ``retries`` times with backoff (``sleep`` is injectable for tests),
    then the next base URL. ``base_urls`` defaults to ``URLS``.
    """
    folder = Path(cache_dir).expanduser()
    urls = tuple(URLS if base_urls is None else base_urls)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create cache folder {folder}: {exc}") from exc
    for name in FILES.values():
        good = False
        for path in (folder / name, folder / f"{name}.gz"):
            if path.is_file():
                if _is_good(path, name):
                    good = True
                else:
                    path.unlink(missing_ok=True)  # damaged cache entry: never trust it
        if not good:
            _fetch_any(folder, name, urls, retries, timeout, sleep)
    return folder


_download = download


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class FashionMNIST:
    """Decoded dataset. Images are read-only uint8 ``(N, 28, 28)``; labels int64."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path


def _load_pair(folder: Path, images_name: str, labels_name: str, verify: bool):
    arrays = []
    paths = []
    for name, kind in ((images_name, "images"), (labels_name, "labels")):
        path = _find(folder, name)
        if path is None:
            raise DataError(f"{folder} lacks {name} (or {name}.gz); {_by_hand(folder)}")
        data = _read_bytes(path)
        if verify:
            _check_md5(data, path, name)
        arrays.append(_parse_idx(data, path, kind))
        paths.append(path)
    images, labels = arrays
    if len(images) != len(labels):
        raise DataError(
            f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} "
            f"labels; one of them is damaged or from another dataset; {_fix_hint(paths[0])}"
        )
    if labels.size and int(labels.max()) >= len(CLASS_NAMES):
        raise DataError(
            f"{paths[1]} has label {int(labels.max())}, outside 0..{len(CLASS_NAMES) - 1}; {_fix_hint(paths[1])}"
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
        _download(folder, base_urls=base_urls)  # drops every damaged entry and fetches it again
        return _load_cached(folder, _stamp(folder), verify)


def _stamp(folder: Path) -> tuple:
    """Each file's path, size and mtime: part of the decode cache's key, so changes are noticed."""
    stamp = []
    for name in FILES.values():
        path = _find(folder, name)
        st = path.stat() if path is not None else None
        stamp.append((str(path), st and st.st_size, st and st.st_mtime_ns))
    return tuple(stamp)
