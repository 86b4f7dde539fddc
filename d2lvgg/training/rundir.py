"""A run folder: the resolved config, metrics as CSV, weights, the plot, and the final result.

A new run never writes into a folder that already holds files unless asked to, and two processes
never write one folder at once: the writer holds a lock on the folder itself while it trains.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..errors import RunError

CONFIG = "config.json"
STEPS = "steps.csv"
EPOCHS = "epochs.csv"
WEIGHTS = "weights.npz"
RESULT = "result.json"
CHECKPOINT = "checkpoint.npz"
PLOT = "curves"
_HELD: dict[Path, int] = {}  # folder -> this process's open descriptor of it, flock'ed while it writes there


@dataclass(frozen=True)
class RunDir:
    path: Path

    @staticmethod
    def check_new(path: str | Path, *, overwrite: bool = False) -> Path:
        """Refuse, touching nothing, a folder a new run cannot use: a file, another run, an unwritable place."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunError(f"{path} is a file, not a run folder; choose another --out")
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            if (path / CHECKPOINT).is_file() and not (path / RESULT).is_file():
                raise RunError(
                    f"{path} holds an unfinished run: continue it with d2lvgg train --resume {path}; "
                    "or choose another --out, or pass --overwrite to throw its saved epochs away"
                )
            raise RunError(f"{path} already holds files; choose another --out, or pass --overwrite to replace that run")
        existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
        if not existing.is_dir():
            raise RunError(f"cannot create {path}: {existing} is a file; choose another --out")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunError(f"cannot create {path}: {existing} is not writable; choose another --out")
        return path

    @classmethod
    def create(cls, path: str | Path, *, overwrite: bool = False) -> RunDir:
        """Make a fresh run folder; refuse one that already holds files unless ``overwrite``."""
        path = cls.check_new(path, overwrite=overwrite)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create {path}: {exc.strerror}; choose another --out") from None
        run = cls(path)
        run.claim()
        for name in (CONFIG, STEPS, EPOCHS, WEIGHTS, RESULT, CHECKPOINT, f"{PLOT}.png", f"{PLOT}.svg"):
            (path / name).unlink(missing_ok=True)
        return run

    def claim(self) -> None:
        """Hold the folder's lock until ``release`` (or this process's end); refused while another process holds it."""
        key = self.path.resolve()
        if key in _HELD:
            return
        descriptor = os.open(self.path, os.O_RDONLY)  # the folder itself: no lock file among the run's
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise RunError(
                f"another d2lvgg process is writing {self.path}: wait for it to end, or choose another --out"
            ) from None
        _HELD[key] = descriptor

    def release(self) -> None:
        """Let another process write the folder (closing the descriptor drops its lock)."""
        descriptor = _HELD.pop(self.path.resolve(), None)
        if descriptor is not None:
            os.close(descriptor)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run folder, which must at least hold its config."""
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise RunError(f"{path} is not a d2lvgg run folder (no {CONFIG}); pass the folder `d2lvgg train` wrote")
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        """Write atomically, so a crash never leaves half a file."""
        target = self.file(name)
        with atomic_write(target, encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        return target

    def read_json(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self.file(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{self.file(name)} is missing; the run did not finish or the folder was changed") from None
        except json.JSONDecodeError as exc:
            raise RunError(f"{self.file(name)} is damaged ({exc}); restore it or re-run") from None

    def append_rows(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Append rows to a CSV, writing the header when the file is new."""
        if not rows:
            return
        target = self.file(name)
        new = not target.exists()
        with target.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            if new:
                writer.writeheader()
            writer.writerows(rows)

    def rewrite_rows(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Replace a CSV with exactly ``rows``, atomically (used when a run resumes)."""
        target = self.file(name)
        if not rows:
            target.unlink(missing_ok=True)
            return
        with atomic_write(target, newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def read_rows(self, name: str) -> list[dict[str, float]]:
        with self.file(name).open(newline="", encoding="utf-8") as handle:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
