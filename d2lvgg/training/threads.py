"""How many CPU threads a run computes on: the user's pin, else a short timed probe before the first epoch.

A framework's threads spin while they wait for each other; on a machine whose other cores are busy
(a shared lab machine, a laptop doing something else) two spinning threads can run ten times slower
than one. So no count is assumed: training steps are timed for a while at each candidate count, in
interleaved rounds, and the count with the lower median is kept; the weights and optimizer state
from before the probe are then put back, so the run is the one it would have been. When an epoch later computes much
slower than the fastest epoch since the probe (other work has started), the probe runs again
between epochs. A pinned count (``--threads``, ``$D2LVGG_THREADS``) or
the framework's own variable set by the user is taken as it is. The choice and its reason go into
the run's ``config.json``; a resumed run keeps it, so that it computes the same numbers.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backends import ENVIRONMENT_SET, THREADS_VARIABLE, USER_ENVIRONMENT
from ..backends.base import Runner
from ..backends.cores import started_cores as cores  # the cores at start: a runner may narrow them since
from ..errors import ConfigError

ENVIRONMENT = THREADS_VARIABLE
# The frameworks' own thread variables: one the user set is theirs to keep.
FRAMEWORK_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
FIXED_AT_START = "this framework sizes its thread pools once, when it starts"
PROBE_ROUNDS = 4  # rounds of every candidate; the first is a warm-up, the median of the rest counts
# Each timing runs steps for at least this long: a busy neighbour takes its CPU time in slices of a few ms every few
# tens of ms, so a timing of three 25 ms steps could fall between them (MindSpore beside a niced busy loop: 28 ms
# for 2 threads in the probe, 82 ms a batch in the epoch that followed).
PROBE_SECONDS = 0.3
SLOWDOWN = 0.6  # an epoch computing below this fraction of the fastest one since the probe probes again


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a run uses (``None``: the framework's own) and why."""

    count: int | None
    why: str
    probed: bool = False  # measured by the probe, so measured again when the machine gets busier

    def record(self) -> dict[str, Any]:
        return {"count": self.count, "why": self.why}


def pinned(threads: int | None, environ: Mapping[str, str] | None = None) -> ThreadChoice | None:
    """The user's own choice, if they made one: ``threads``, ``$D2LVGG_THREADS``, or a framework variable.

    The framework variables are read as they were before any framework loaded (``environ`` replaces both).
    """
    if threads is not None:
        return ThreadChoice(threads, f"--threads {threads}")
    ours_now, theirs = (os.environ, USER_ENVIRONMENT) if environ is None else (environ, environ)
    if ENVIRONMENT in ours_now:
        value = ours_now[ENVIRONMENT]
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{ENVIRONMENT}={value!r} is not a thread count: set it to a whole number >= 1")
        return ThreadChoice(int(value), f"{ENVIRONMENT}={value}")
    ours = json.loads(theirs.get(ENVIRONMENT_SET, "{}"))  # what d2lvgg itself set is not the user's
    for variable in FRAMEWORK_VARIABLES:
        if variable in theirs and theirs[variable] != ours.get(variable):
            return ThreadChoice(None, f"{variable}={theirs[variable]} set by you: left to the framework")
    return None


def probe(seconds_at: Callable[[int], float], available: int) -> ThreadChoice:
    """The faster of 1 thread and every available core, timed in interleaved rounds by ``seconds_at``."""
    candidates = sorted({available, 1}, reverse=True)
    timings: dict[int, list[float]] = {count: [] for count in candidates}
    for _ in range(PROBE_ROUNDS):
        for count in candidates:
            timings[count].append(seconds_at(count))
    best = {count: statistics.median(times[1:]) for count, times in timings.items()}
    chosen = min(candidates, key=lambda count: best[count])
    measured = ", ".join(f"{count} thread(s) {best[count] * 1e3:.0f} ms" for count in candidates)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return ThreadChoice(chosen, f"probe: {measured} a batch (load {load:.1f} on {available} cores)", probed=True)


def choose_threads(runner: Runner, threads: int | None, batch: tuple[Any, Any]) -> ThreadChoice:
    """Apply and return the thread count for a run: the user's, the world's share of the cores, or the probe's.

    ``batch`` is a training batch; the probe's steps on it are undone (the runner's optimizer must be set).
    """
    available = cores()
    choice = pinned(threads)
    if choice is None and runner.world.size > 1:
        share = max(1, available // runner.world.size)
        choice = ThreadChoice(share, f"data-parallel: {runner.world.size} processes share {available} cores")
    if choice is None and not runner.device_label.startswith("cpu"):
        return ThreadChoice(None, f"{runner.device_label} computes; the framework's own CPU threads feed it")
    if choice is not None:
        if choice.count is not None and not runner.set_threads(choice.count):
            return ThreadChoice(None, f"{choice.why}, not applied: {FIXED_AT_START}")
        return choice
    if not runner.set_threads(available):
        return ThreadChoice(None, FIXED_AT_START)

    def seconds_at(count: int) -> float:
        runner.set_threads(count)
        steps, started = 0, time.perf_counter()
        while steps == 0 or time.perf_counter() - started < PROBE_SECONDS:
            runner.fetch([runner.train_step(*batch)[1]])
            steps += 1
        return (time.perf_counter() - started) / steps

    weights, optimizer = runner.state(), runner.optimizer_state()
    choice = probe(seconds_at, available)
    runner.load_state(weights)
    runner.load_optimizer_state(optimizer)
    runner.set_threads(choice.count or available)
    return choice


class ThreadWatch:
    """Probes again when an epoch computes much slower than the fastest one since the last probe."""

    def __init__(self, choice: ThreadChoice, probe_again: Callable[[], ThreadChoice]) -> None:
        self.choice, self._probe_again, self._fastest = choice, probe_again, 0.0

    def after_epoch(self, examples_per_sec: float) -> ThreadChoice | None:
        """The new choice when this epoch's speed set off a probe; None when the count stands."""
        if not self.choice.probed:
            return None
        if examples_per_sec >= SLOWDOWN * self._fastest:
            self._fastest = max(self._fastest, examples_per_sec)
            return None
        fastest, self._fastest = self._fastest, 0.0
        new = self._probe_again()
        why = f"an epoch at {examples_per_sec:,.0f} ex/s against {fastest:,.0f} set off a new {new.why}"
        self.choice = ThreadChoice(new.count, why, probed=True)
        return self.choice


def resumed_threads(runner: Runner, recorded: Mapping[str, Any] | None, threads: int | None) -> ThreadChoice:
    """A resumed run's threads: a pin given now, else the count the run started with (the same numbers)."""
    choice = pinned(threads)
    if choice is None and recorded and recorded.get("count"):
        choice = ThreadChoice(recorded["count"], f"kept from the run's start ({recorded['why']})")
    if choice is not None and choice.count is not None and not runner.set_threads(choice.count):
        return ThreadChoice(None, FIXED_AT_START)
    return choice or ThreadChoice(None, "the framework's own")
