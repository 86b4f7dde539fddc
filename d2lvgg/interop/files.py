"""Reading another library's weights file without running code, and writing safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..backends import REGISTRY, declaration, get_backend
from ..errors import RunError
from ..optional import require
from ..training.weights import load_weights


def _owners() -> dict[str, str]:
    """File suffix -> the backend whose framework reads it (its declared ``checkpoint_suffixes``)."""
    return {suffix: name for name in REGISTRY for suffix in declaration(name).checkpoint_suffixes}


def known_suffixes() -> str:
    """The files d2lvgg opens: arrays only, and the frameworks' own formats (each backend reads or refuses its own)."""
    return f".safetensors, .npz, or a framework's own ({', '.join(_owners())})"


def read_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a weights file by its stored name: safetensors, .npz, or a backend's own format."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"no weights file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        numpy_api = require("safetensors.numpy", "safetensors", "reading .safetensors files")
        try:
            return numpy_api.load_file(str(path))
        except Exception as exc:  # the library raises its own error types for a damaged header
            raise RunError(f"{path} is not a readable safetensors file ({exc})") from None
    if suffix == ".npz":
        return load_weights(path)
    refusals = {suffix: why for name in REGISTRY for suffix, why in declaration(name).refused_files.items()}
    if suffix in refusals:  # said before any framework loads
        raise RunError(f"{path}: {refusals[suffix]}")
    owner = _owners().get(suffix)
    if owner is None:
        raise RunError(
            f"{path}: d2lvgg reads weights from {known_suffixes()} files; "
            "save them in one of those (safetensors is the safe choice)"
        )
    return get_backend(owner).read_checkpoint(path)


def write_safetensors(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write ``arrays`` as one safetensors file, atomically."""
    numpy_api = require("safetensors.numpy", "safetensors", "writing .safetensors files")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:
        handle.write(numpy_api.save({name: np.ascontiguousarray(a) for name, a in arrays.items()}))
    return path
