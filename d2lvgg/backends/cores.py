"""The CPU cores a process computes on (all those it started with, or the least busy few), and how busy other work
keeps them.

A framework that sizes its thread pools once, when it starts (MindSpore, TensorFlow, JAX), can still compute on fewer
cores: its threads' affinity narrows, and widens again, at any time. Beside other work this matters
more than the pool's size: on Linux 6.x a woken thread may wait out a whole time slice of a busy
neighbour on its core, so threads that hand work to each other on every layer do better sharing one
free core than spreading over a busy one.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

# The thread count a user pins for every framework; one that sizes its pools once reads it when it starts.
THREADS_VARIABLE = "D2LVGG_THREADS"
_STARTED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
BUSY_WINDOW = 0.1  # seconds of /proc/stat per choice of the least busy cores
_STAT = Path("/proc/stat")


def started_cores() -> int:
    """How many cores this process may run on: its affinity when d2lvgg loaded (``taskset``, a container)."""
    return len(_STARTED) or os.cpu_count() or 1


def pinned_threads() -> int | None:
    """The thread count pinned in ``$D2LVGG_THREADS``: a framework that sizes its pools when it starts sizes them
    to it."""
    value = os.environ.get(THREADS_VARIABLE, "")
    return int(value) if value.isdigit() and int(value) >= 1 else None


def can_confine() -> bool:
    """Whether this system lets a process choose its threads' cores (Linux)."""
    return bool(_STARTED) and Path("/proc/self/task").is_dir()


def confine(count: int) -> list[int]:
    """Let every thread of this process run on ``count`` of its cores, the least busy ones (all of them when
    ``count`` covers them); threads started later inherit it. Returns the cores chosen."""
    chosen = _STARTED if count >= len(_STARTED) else sorted(_least_busy(count))
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task), chosen)
    return chosen


def busy_cores(
    seconds: float, read: Callable[[], str] | None = None, sleep: Callable[[float], None] = time.sleep
) -> float:
    """How many cores other work kept busy over ``seconds`` (from ``/proc/stat``; NaN where there is none).

    Unlike the one-minute load average, it does not still count a benchmark that ended a minute ago.
    ``read`` (the file's first line) and ``sleep`` stand in for the system in tests.
    """
    if read is None and not _STAT.is_file():
        return float("nan")
    first_line = read or (lambda: _STAT.read_text().splitlines()[0])
    busy, total = _ticks(first_line())
    sleep(seconds)
    busy_after, total_after = _ticks(first_line())
    return started_cores() * (busy_after - busy) / max(total_after - total, 1)


def _least_busy(count: int) -> list[int]:
    """The ``count`` cores of ``_STARTED`` that other work kept least busy over ``BUSY_WINDOW``."""
    before = _busy_ticks()
    time.sleep(BUSY_WINDOW)
    after = _busy_ticks()
    return sorted(_STARTED, key=lambda core: after.get(core, 0) - before.get(core, 0))[:count]


def _busy_ticks() -> dict[int, int]:
    """Each core's busy ticks, from /proc/stat (empty where there is none)."""
    with contextlib.suppress(OSError):
        lines = [line for line in _STAT.read_text().splitlines() if line[3:4].isdigit() and line.startswith("cpu")]
        return {int(line.split()[0][3:]): _ticks(line)[0] for line in lines}
    return {}


def _ticks(line: str) -> tuple[int, int]:
    """A /proc/stat ``cpu`` line's ticks, busy and in all; idle and waiting for I/O are not busy."""
    values = [int(field) for field in line.split()[1:]]
    total = sum(values)
    return total - values[3] - (values[4] if len(values) > 4 else 0), total
