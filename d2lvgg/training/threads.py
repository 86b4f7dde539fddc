"""How many CPU threads a run computes on: the user's pin, else a short timed probe before the first epoch.

A framework's threads spin while they wait for each other; on a machine whose other cores are busy
(a shared lab machine, a laptop doing something else) two spinning threads can run ten times slower
than one. So no count is assumed: training steps are timed for a while at each candidate count, in
interleaved rounds, and the count with the lower median is kept; the weights and optimizer state
from before the probe are then put back, so the run is the one it would have been. While the run trains, its own
steps decide (``ThreadWatch``): when other work starts and they slow down, the other count is tried on the next
stretch of steps and the faster kept; a probe of a few steps cannot see what a neighbour's time slices do to a
long epoch. A pinned count (``--threads``, ``$D2LVGG_THREADS``) or
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

from ..backends import ENVIRONMENT_SET, USER_ENVIRONMENT
from ..backends.base import Runner
from ..backends.cores import THREADS_VARIABLE
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
# While it trains, a probed run times its steps in stretches of at least this long (longer than a probe's, so that
# a neighbour's slices average out), and tries the other count after two stretches in a row below SLOWDOWN of the
# fastest one (one alone can be a one-off: the step compiled for an epoch's smaller last batch); the trial's count
# is kept where it computes at least KEEP_TRIAL times as fast as the stretch before it.
WINDOW_SECONDS = 2.0
SLOWDOWN = 0.6
KEEP_TRIAL = 1.0
RETRY_SECONDS = 30.0  # on fewer cores than it may use, a run tries them all again this often


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a run uses (``None``: the framework's own) and why."""

    count: int | None
    why: str
    probed: bool = False  # measured by the probe, so measured again when the machine gets busier
    speed: float = 0.0  # examples/sec the probe measured at this count (0: not measured)

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


def probe(seconds_at: Callable[[int], float], available: int, examples: int = 0) -> ThreadChoice:
    """The faster of 1 thread and every available core, timed in interleaved rounds by ``seconds_at`` (seconds
    a batch of ``examples``)."""
    candidates = sorted({available, 1}, reverse=True)
    timings: dict[int, list[float]] = {count: [] for count in candidates}
    for _ in range(PROBE_ROUNDS):
        for count in candidates:
            timings[count].append(seconds_at(count))
    best = {count: statistics.median(times[1:]) for count, times in timings.items()}
    chosen = min(candidates, key=lambda count: best[count])
    measured = ", ".join(f"{count} thread(s) {best[count] * 1e3:.0f} ms" for count in candidates)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    why = f"probe: {measured} a batch (load {load:.1f} on {available} cores)"
    return ThreadChoice(chosen, why, probed=True, speed=examples / best[chosen])


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
    choice = probe(seconds_at, available, examples=int(batch[1].shape[0]))
    runner.load_state(weights)
    runner.load_optimizer_state(optimizer)
    runner.set_threads(choice.count or available)
    return choice


class ThreadWatch:
    """Follows the machine while a probed run trains: the count that the run's own steps show faster is kept.

    The steps are watched in stretches of at least ``WINDOW_SECONDS``. Two stretches in a row far below the
    fastest one at this count, or below the probe's speed (other work has started since), set off a trial:
    the next stretch runs on the other count, and whichever of the two computed faster is kept. On fewer cores than
    it may use, the run tries them all again every ``RETRY_SECONDS`` (the other work may have ended). No
    step is undone: a trial is training.
    """

    def __init__(self, choice: ThreadChoice, set_threads: Callable[[int], object], available: int = 0) -> None:
        self.choice, self._set_threads, self._available = choice, set_threads, available or cores()
        self._count = choice.count or available
        self._examples, self._seconds = 0, 0.0  # the stretch being measured
        self._fastest = choice.speed  # the fastest stretch at this count since it was chosen (first: the probe's)
        self._since_choice = 0.0  # seconds of steps at this count since it was chosen
        self._trial: tuple[int, float, str] | None = None  # the count tried from, its speed, why it was tried
        self._slow = False  # the last stretch was far below the fastest: a trial if the next one is too

    def after_steps(self, examples: int, seconds: float) -> ThreadChoice | None:
        """Count steps just read (their examples and seconds); the new choice when a trial kept another count."""
        if not self.choice.probed or self._available < 2:
            return None
        self._examples, self._seconds = self._examples + examples, self._seconds + seconds
        if self._seconds < WINDOW_SECONDS:
            return None
        speed, self._since_choice = self._examples / self._seconds, self._since_choice + self._seconds
        self._examples, self._seconds = 0, 0.0
        trial, self._trial = self._trial, None
        if trial is not None:
            return self._end_trial(trial, speed)
        count = f"{self._count} thread(s)"
        was_slow, self._slow = self._slow, speed < SLOWDOWN * self._fastest
        if self._slow and was_slow:
            self._begin_trial(speed, f"steps at {speed:,.0f} ex/s on {count}, against {self._fastest:,.0f} before")
        elif not self._slow and self._count < self._available and self._since_choice >= RETRY_SECONDS:
            self._begin_trial(speed, f"{count} for {self._since_choice:.0f} s of steps at {speed:,.0f} ex/s")
        elif not self._slow:
            self._fastest = max(self._fastest, speed)
        return None

    def _begin_trial(self, speed: float, why: str) -> None:
        self._trial, self._slow = (self._count, speed, why), False
        self._count = self._available if self._count == 1 else 1
        self._set_threads(self._count)

    def _end_trial(self, trial: tuple[int, float, str], speed: float) -> ThreadChoice | None:
        before, before_speed, why = trial
        self._since_choice = 0.0
        self._fastest = max(speed, before_speed)
        if speed < KEEP_TRIAL * before_speed:
            self._count = before
            self._set_threads(before)
            return None
        tried = f"{why}; {self._count} thread(s) then gave {speed:,.0f}"
        self.choice = ThreadChoice(self._count, tried, probed=True)
        return self.choice


def resumed_threads(runner: Runner, recorded: Mapping[str, Any] | None, threads: int | None) -> ThreadChoice:
    """A resumed run's threads: a pin given now, else the count the run started with (the same numbers)."""
    choice = pinned(threads)
    if choice is None and recorded and recorded.get("count"):
        choice = ThreadChoice(recorded["count"], f"kept from the run's start ({recorded['why']})")
    if choice is not None and choice.count is not None and not runner.set_threads(choice.count):
        return ThreadChoice(None, FIXED_AT_START)
    return choice or ThreadChoice(None, "the framework's own")
