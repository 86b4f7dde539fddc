"""The CPU cores a process computes on: all those it started with, or the least busy few.

A framework that sizes its thread pools once, when it starts (MindSpore), can still compute on fewer
cores: its threads' affinity narrows, and widens again, at any time. Beside other work this matters
more than the pool's size: on Linux 6.x a woken thread may wait out a whole time slice of a busy
neighbour on its core, so threads that hand work to each other on every layer do better sharing one
free core than spreading over a busy one.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

_STARTED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
BUSY_WINDOW = 0.1  # seconds of /proc/stat per choice of the least busy cores


def started_cores() -> int:
    """How many cores this process may run on: its affinity when d2lvgg loaded (``taskset``, a container)."""
    return len(_STARTED) or os.cpu_count() or 1


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


def _least_busy(count: int) -> list[int]:
    """The ``count`` cores of ``_STARTED`` that other work kept least busy over ``BUSY_WINDOW``."""
    before = _busy_ticks()
    time.sleep(BUSY_WINDOW)
    after = _busy_ticks()
    return sorted(_STARTED, key=lambda core: after.get(core, 0) - before.get(core, 0))[:count]


def _busy_ticks() -> dict[int, int]:
    """Each core's ticks not idle, from /proc/stat (empty where there is none)."""
    ticks = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                values = [int(field) for field in fields]
                ticks[int(name[3:])] = sum(values) - values[3] - (values[4] if len(values) > 4 else 0)
    return ticks
