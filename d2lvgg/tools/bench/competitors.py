"""Neighbours on the same machine: other training runs, as on a shared lab machine, or busy loops at a lower
priority, as on a laptop doing something else (``d2lvgg bench --under-load N --neighbour ...``); from the start of
a measurement, or from the moment the measured loop has chosen its threads (``--late``)."""

from __future__ import annotations

import contextlib
import json
import os
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


def niceness(config: Any) -> int:
    """The neighbours' niceness: as told, else a second student's run at the same priority, background work at 10."""
    if config.neighbour_nice is not None:
        return config.neighbour_nice
    return BUSY_LOOP_NICE if config.neighbour == "busy-loop" else 0


@contextlib.contextmanager
def competing_runs(config: Any) -> Iterator[Callable[[], contextlib.AbstractContextManager[Callable[[], None]]]]:
    """``config.under_load`` neighbours (``config.neighbour``: ``d2lvgg train`` processes of the benchmark's network,
    or busy loops at nice 10), for the block's length.

    A run is a second student's: the same spec and batch size, this backend or ``config.neighbour_backend``, its
    own thread probe, its own run folder in a scratch directory; a busy loop only computes. Once every one is
    steady they are stopped (SIGSTOP: no CPU at all); the block gets a context manager inside which they may
    run: it gives a function that lets them go on (SIGCONT), and stops them again when it ends.
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
            def running() -> Iterator[Callable[[], None]]:
                try:
                    yield lambda: _signal(runs, signal.SIGCONT)
                finally:
                    _signal(runs, signal.SIGSTOP)

            yield running
        finally:
            for process, _ in runs:
                process.kill()
                process.wait()


def _start(config: Any, spec: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    backend = config.neighbour_backend or config.backend
    command = [sys.executable, "-m", "d2lvgg", "train", "--backend", backend, "--arch", str(spec)]
    command += ["--device", config.device, "--batch-size", str(config.batch_size), "--epochs", "1000"]
    command += ["--out", str(out)] + (["--data-dir", config.data_dir] if config.data_dir else [])
    log = out.with_suffix(".log")
    with log.open("w") as sink:
        return _niced(config, command, sink, out.parent), log


def _start_busy_loop(config: Any, spec: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    """The background work every laptop has: one process computing without end, at a lower priority (nice 10)."""
    log = out.with_suffix(".log")
    log.write_text(f"{READY}: a busy loop at nice {niceness(config)}\n")
    command = [sys.executable, "-c", "while True: pass", str(out)]  # its folder in argv names it a neighbour
    return _niced(config, command, subprocess.DEVNULL, out.parent), log


def _niced(config: Any, command: list[str], sink: Any, folder: Path) -> subprocess.Popen:
    """``command`` started at the neighbours' niceness (set before it runs a line)."""
    nice = niceness(config)
    return subprocess.Popen(
        command, stdout=sink, stderr=subprocess.STDOUT, cwd=folder, preexec_fn=lambda: os.nice(nice)
    )


def _wait_ready(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while READY not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise ConfigError(f"a competing training run did not reach its steady speed: {last[0]}")
        time.sleep(0.5)


def _signal(runs: list[tuple[subprocess.Popen, Path]], number: int) -> None:
    """Send ``number`` to every neighbour; after SIGSTOP, return once each has stopped (a signal lands later)."""
    for process, _ in runs:
        process.send_signal(number)
    if number == signal.SIGSTOP:
        for process, _ in runs:
            os.waitpid(process.pid, os.WUNTRACED)
