"""Neighbours on the same machine: other training runs, as on a shared lab machine, or busy loops at a lower
priority, as on a laptop doing something else (``d2lvgg bench --under-load N --neighbour ...``)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ...errors import ConfigError

READY = "estimate from"  # the line a run prints once it trains at its steady speed
READY_SECONDS = 600.0  # how long a competitor may take to get there
BUSY_LOOP_NICE = 10


@contextlib.contextmanager
def competing_runs(config: Any) -> Iterator[Callable[[], contextlib.AbstractContextManager[None]]]:
    """``config.under_load`` neighbours (``config.neighbour``: ``d2lvgg train`` processes of the benchmark's network,
    or busy loops at nice 10), for the block's length.

    A run is a second student's: the same backend, spec and batch size, its own thread probe, its
    own run folder in a scratch directory; a busy loop only computes. Once every one is steady they
    are stopped (SIGSTOP: no CPU at all); the block gets a context manager that lets them run inside it.
    """
    with tempfile.TemporaryDirectory(prefix="d2lvgg-competitors-") as scratch:
        folder = Path(scratch)
        spec = folder / "spec.json"
        spec.write_text(json.dumps(config.spec))
        start = _start if config.neighbour == "run" else _start_busy_loop
        runs = [start(config, spec, folder / f"run-{i}") for i in range(config.under_load)]
        try:
            for process, log in runs:
                _wait_ready(process, log)
            _signal(runs, signal.SIGSTOP)

            @contextlib.contextmanager
            def running() -> Iterator[None]:
                _signal(runs, signal.SIGCONT)
                try:
                    yield
                finally:
                    _signal(runs, signal.SIGSTOP)

            yield running
        finally:
            for process, _ in runs:
                process.kill()
                process.wait()


def _start(config: Any, spec: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    command = [sys.executable, "-m", "d2lvgg", "train", "--backend", config.backend, "--arch", str(spec)]
    command += ["--device", config.device, "--batch-size", str(config.batch_size), "--epochs", "1000"]
    command += ["--out", str(out)] + (["--data-dir", config.data_dir] if config.data_dir else [])
    log = out.with_suffix(".log")
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=out.parent)
    return process, log


def _start_busy_loop(config: Any, spec: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    """The background work every laptop has: one process computing without end, at a lower priority (nice 10)."""
    log = out.with_suffix(".log")
    log.write_text(f"{READY}: a busy loop at nice 10\n")
    command = [sys.executable, "-c", f"import os; os.nice({BUSY_LOOP_NICE})\nwhile True: pass", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=out.parent), log


def _wait_ready(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while READY not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise ConfigError(f"a competing training run did not reach its steady speed: {last[0]}")
        time.sleep(0.5)


def _signal(runs: list[tuple[subprocess.Popen, Path]], number: int) -> None:
    for process, _ in runs:
        process.send_signal(number)
