"""Weights on disk: one pickle-free ``.npz`` of float32 arrays named by the layer IR.

A file may also carry where its weights came from (``METADATA``: JSON text, not a tensor), as
``d2lvgg weights import`` writes it: the spec they fit and the library they were read from.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import RunError
from ..model import ir

METADATA = "__d2lvgg__"


def save_weights(arrays: dict[str, np.ndarray], path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contents: dict[str, Any] = {name: np.ascontiguousarray(a) for name, a in arrays.items()}  # savez's **kwds
    if metadata is not None:
        contents[METADATA] = np.array(json.dumps(metadata))
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **contents)
    return path


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Read a weights file; never unpickles, so a file cannot run code."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files if name != METADATA}
    except FileNotFoundError:
        raise RunError(f"no weights file at {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise RunError(f"{path} is not a readable weights file ({exc}); re-train or restore it") from None


def weights_metadata(path: str | Path) -> dict[str, Any]:
    """What ``save_weights`` recorded beside the arrays; empty for a run's own weights."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data[METADATA])) if METADATA in data.files else {}


def check_compatible(arrays: dict[str, np.ndarray], network: ir.Sequential, source: str = "weights") -> None:
    """Raise a RunError naming the first tensor whose name or shape does not fit ``network``."""
    expected = ir.tensor_shapes(network)
    for name, shape in expected.items():
        if name not in arrays:
            raise RunError(f"{source} lack tensor {name!r} (shape {shape}): they were saved from another architecture")
        if tuple(arrays[name].shape) != shape:
            raise RunError(
                f"{source}: tensor {name!r} has shape {tuple(arrays[name].shape)}, the network needs {shape}: "
                "they were saved from another architecture or input size"
            )
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise RunError(f"{source} hold tensor {extra[0]!r} that the network does not have: another architecture")
