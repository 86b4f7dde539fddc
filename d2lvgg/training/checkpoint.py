"""Per-epoch checkpoints: everything a run needs to continue exactly, in one pickle-free file.

A checkpoint holds the weights, the optimizer's state, the position in the data order (the
next epoch; each epoch's shuffle and dropout seeds derive from the run's seed and the epoch
number) and the metrics so far. It is written atomically and carries a SHA-256 digest of its
contents, so a truncated or edited file is refused rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunError
from .rundir import CHECKPOINT as FILE
from .weights import save_weights

FORMAT = 1


@dataclass(frozen=True)
class Checkpoint:
    epochs_done: int
    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    progress: dict[str, Any]  # metrics so far and the running totals


def _digest(arrays: dict[str, np.ndarray]) -> str:
    sha = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        sha.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def _text(value: str) -> np.ndarray:
    return np.frombuffer(value.encode("utf-8"), dtype=np.uint8)


def save_checkpoint(folder: Path, checkpoint: Checkpoint) -> Path:
    """Write ``folder/checkpoint.npz`` atomically (the previous one stays until the new one is whole)."""
    arrays = {f"model/{k}": v for k, v in checkpoint.weights.items()}
    arrays |= {f"optimizer/{k}": v for k, v in checkpoint.optimizer.items()}
    meta = {"format": FORMAT, "epochs_done": checkpoint.epochs_done, "progress": checkpoint.progress}
    arrays["meta"] = _text(json.dumps(meta))
    arrays["digest"] = _text(_digest(arrays))
    return save_weights(arrays, folder / FILE)


def load_checkpoint(folder: Path) -> Checkpoint:
    """Read and verify ``folder/checkpoint.npz``; a damaged or edited file is a RunError."""
    path = folder / FILE
    if not path.is_file():
        raise RunError(f"{folder} has no {FILE}: no epoch finished, so there is nothing to resume; start a new run")
    hint = "delete it to start the run again, or restore it from a backup"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise RunError(f"checkpoint {path} is damaged ({exc}); {hint}") from None
    digest = arrays.pop("digest", None)
    if digest is None or "meta" not in arrays or bytes(digest).decode(errors="replace") != _digest(arrays):
        raise RunError(f"checkpoint {path} does not match its digest: it was truncated or edited; {hint}")
    meta = json.loads(bytes(arrays.pop("meta")).decode("utf-8"))
    if meta.get("format") != FORMAT:
        raise RunError(f"checkpoint {path} has format {meta.get('format')}, this d2lvgg reads {FORMAT}")
    weights = {k.removeprefix("model/"): v for k, v in arrays.items() if k.startswith("model/")}
    optimizer = {k.removeprefix("optimizer/"): v for k, v in arrays.items() if k.startswith("optimizer/")}
    return Checkpoint(meta["epochs_done"], weights, optimizer, meta["progress"])


def epoch_seed(seed: int, epoch: int) -> int:
    """The framework seed for one epoch (dropout masks), so a resumed epoch replays exactly."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
