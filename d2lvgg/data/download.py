"""Fetching Fashion-MNIST into a cache folder: mirrors in turn, retries, each file verified before it lands."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ..atomic import atomic_write
from ..errors import DataError
from .checksum import md5_problem
from .idx import GZIP_MAGIC, decompress, read_bytes
from .release import FILES, URLS, by_hand


def _fetch(url: str, folder: Path, name: str, timeout: float) -> Path:
    """Download ``url`` (at most 30 MB), verify it, and only then write it into ``folder``."""
    raw = bytearray()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        while chunk := resp.read(1 << 20):  # chunk by chunk: a short body ends the loop, not an exception
            raw += chunk
        length = resp.headers.get("Content-Length")
    if length is not None and length.isdigit() and len(raw) != int(length):
        raise ConnectionError(f"{url}: connection closed after {len(raw)} of {length} bytes")
    problem = md5_problem(decompress(bytes(raw), url), name)
    if problem:
        raise DataError(f"{url} served bad data: {problem}")
    final = folder / (f"{name}.gz" if raw[:2] == GZIP_MAGIC else name)
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
        f"could not download {name}.gz from {', '.join(urls) or 'nowhere'}; last error: {last}; {by_hand(folder)}"
    )


def _is_good(path: Path, name: str) -> bool:
    try:
        return md5_problem(read_bytes(path), name) is None
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
