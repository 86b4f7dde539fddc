"""``d2lvgg bench --frameworks``: every installed framework's own best step, d2lvgg's and the book's, side by side.

Each backend runs three loops (``loops.py``): the framework's own minimal step on one batch already
in its tensors, d2lvgg's training loop with its defaults (the fast path), and the edition's
textbook loop where one is re-created. The loops of every backend take turns, one fresh process
each per round, so that a change in the machine's load falls on all of them; the lines give step
times and their ratios with the range over the rounds.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ...backends import DEFAULT as DEFAULT_BACKEND
from ...backends import declaration
from ...backends.cores import busy_cores
from ...training.threads import cores
from .measure import BUSY_CORES, BUSY_SECONDS, LOOPS, OWN, BenchConfig, check_loop, load_average, machine, one_run
from .suite import device_for

YARDSTICK = DEFAULT_BACKEND  # the framework the others' own steps are compared with (PyTorch)


def loops_of(backend: str) -> list[str]:
    """The loops timed for ``backend``: its own step, d2lvgg's, and the book's where it is re-created."""
    return [OWN, *(LOOPS if declaration(backend).textbook_loop else LOOPS[:1])]


def run_frameworks(config: BenchConfig, backends: list[str], json_path: str | Path | None = None) -> list[str]:
    """Every backend's loops in interleaved rounds (``config.repeats`` of them); one line per backend, and JSON.

    ``config`` gives the network, batch, device and how long to measure; each backend runs on its
    own defaults, with ``config.device`` in its own spelling.
    """
    configs = {b: replace(config, backend=b, device=device_for(b, config.device), fast={}) for b in backends}
    for backend in backends:
        for loop in loops_of(backend):
            check_loop(loop, configs[backend])
    busy_before, load_before = busy_cores(BUSY_SECONDS), load_average()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {b: {loop: [] for loop in loops_of(b)} for b in backends}
    for _ in range(config.repeats):
        for backend in backends:
            for loop in loops_of(backend):
                runs[backend][loop].append(one_run(loop, configs[backend]))
    loads = [run["load"] for loops in runs.values() for loop_runs in loops.values() for run in loop_runs]
    lines = [_line(backend, runs, config.batch_size) for backend in backends]
    lines.append(_conditions(busy_before, load_before, loads))
    if json_path:
        record = {"config": asdict(config), "machine": machine(), "busy_before": busy_before}
        record |= {"load_before": load_before, "runs": runs, "summary": lines}
        Path(json_path).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return lines


def step_times(loops: dict[str, list[dict[str, Any]]], batch_size: int) -> dict[str, float]:
    """Each loop's median milliseconds a step of ``batch_size``, wall clock (data preparation included)."""
    return {
        loop: statistics.median(1000 * batch_size / run["examples_per_sec"] for run in loop_runs)
        for loop, loop_runs in loops.items()
    }


def round_ratios(tops: list[dict[str, Any]], bottoms: list[dict[str, Any]]) -> list[float]:
    """Each round's step-time ratio of two loops (the top loop's time over the bottom's)."""
    return [b["examples_per_sec"] / t["examples_per_sec"] for t, b in zip(tops, bottoms, strict=True)]


def _ratio(label: str, tops: list[dict[str, Any]], bottoms: list[dict[str, Any]]) -> str:
    """The median step-time ratio of two loops, with its range over the rounds."""
    rounds = round_ratios(tops, bottoms)
    return f"{label} {statistics.median(rounds):.2f} (rounds {min(rounds):.2f}-{max(rounds):.2f})"


def _line(backend: str, runs: dict[str, dict[str, list[dict[str, Any]]]], batch_size: int) -> str:
    """One backend's step times and the ratios: d2lvgg/own, d2lvgg/book and its own step against PyTorch's."""
    loops = runs[backend]
    times = step_times(loops, batch_size)
    line = f"{declaration(backend).title}: own step {times[OWN]:.1f} ms, d2lvgg {times['d2lvgg']:.1f} ms"
    line += f", {_ratio('d2lvgg/own', loops['d2lvgg'], loops[OWN])}"
    if "textbook" in loops:
        line += f"; book loop {times['textbook']:.1f} ms, {_ratio('d2lvgg/book', loops['d2lvgg'], loops['textbook'])}"
    if backend != YARDSTICK and YARDSTICK in runs:
        yardstick = declaration(YARDSTICK).title
        line += f"; {_ratio(f'own/{yardstick} own', loops[OWN], runs[YARDSTICK][OWN])}"
    return line


def _conditions(busy_before: float, load_before: float, loads: list[float]) -> str:
    """How busy the machine was: a quiet figure or not."""
    line = f"load average {load_before:.1f} before, up to {max(loads):.1f} during, on {cores()} cores"
    if busy_before >= BUSY_CORES:
        line += f"; {busy_before:.1f} cores busy before the first round: not a quiet figure"
    return line
