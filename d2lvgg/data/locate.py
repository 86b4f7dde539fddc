"""Finding the four files: an explicit folder, ``$D2LVGG_DATA``, the system's folder, the cache, a download."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError
from .download import download as fill_cache
from .release import ENV_VAR, FILES, SYSTEM_DIR, by_hand


def default_cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/d2lvgg/fashion-mnist`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "d2lvgg" / "fashion-mnist"


def find(folder: Path, name: str) -> Path | None:
    """The file ``name`` or ``name.gz`` in ``folder``, raw preferred, else None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def missing(folder: Path) -> list[str]:
    """The release's file names that ``folder`` lacks (raw and gzip'ed both count)."""
    return [name for name in FILES.values() if find(folder, name) is None]


def _strict(folder: Path, origin: str) -> Path:
    lacking = missing(folder)
    if lacking:
        listed = ", ".join(lacking)
        raise DataError(
            f"{origin} {folder} lacks Fashion-MNIST file(s): {listed} "
            f"(each may also be gzip'ed, NAME.gz); {by_hand(folder)}"
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
    if not missing(SYSTEM_DIR):
        return SYSTEM_DIR
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if not missing(cache):
        return cache
    if not download:
        raise DataError(
            f"Fashion-MNIST not found (looked in ${ENV_VAR}, {SYSTEM_DIR} and {cache}) "
            f"and downloading is off; {by_hand(cache)}"
        )
    return fill_cache(cache, base_urls=base_urls)
