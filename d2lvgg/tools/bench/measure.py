"""Timing one loop: warm-up excluded, each repetition in a fresh process, the median kept."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import multiprocessing
import os
import platform
import queue as queues
import resource
import statistics
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...backends import DEFAULT as DEFAULT_BACKEND
from ...backends import REGISTRY, declaration, get_backend
from ...backends.cores import busy_cores
from ...errors import ConfigError
from ...model.spec import VGGSpec
from ...training.threads import cores
from . import competitors

LOOPS = ("d2lvgg", "textbook")  # what `d2lvgg bench` compares; `--frameworks` adds "own" (frameworks.py)
OWN = "own"  # the framework's own minimal step on one batch already in its tensors
BUSY_CORES = 0.5  # other work keeping this many cores busy just before a benchmark starts makes it a loaded figure
BUSY_SECONDS = 2.0  # how long the machine is watched for it
PROBED = "probed"  # the child's word that its loop is built and its threads chosen: the timing starts
LOADED = "loaded"  # d2lvgg's loop beside --under-load neighbours
NEIGHBOURS = ("run", "busy-loop")


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark measures: a spec, a backend and device, and how long to measure."""

    spec: dict[str, Any]
    backend: str = DEFAULT_BACKEND
    device: str = "cpu"
    batch_size: int = 128
    steps: int | None = 20  # None: time one whole epoch, the loader's start and the last short batch included
    warmup: int = 3
    repeats: int = 3
    workers: int = 4  # the textbook's get_dataloader_workers()
    data_dir: str | None = None
    fast: dict[str, Any] = field(default_factory=dict)  # the backend's options for d2lvgg's loop
    under_load: int = 0  # neighbours beside d2lvgg's loop in extra rounds: the share of its speed it keeps
    neighbour: str = "run"  # what a neighbour is: another d2lvgg training run, or a busy loop at nice 10
    neighbour_backend: str | None = None  # a run neighbour's backend (None: this one's)
    neighbour_nice: int | None = None  # the neighbours' niceness (None: runs 0, busy loops 10)
    late: bool = False  # the neighbours start once d2lvgg's loop has chosen its threads

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "repeats"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0 or self.workers < 0 or self.under_load < 0:
            raise ConfigError("warmup, workers and under_load must be 0 or more")
        if self.neighbour not in NEIGHBOURS:
            raise ConfigError(f"unknown neighbour {self.neighbour!r}: use {' or '.join(NEIGHBOURS)}")
        if self.neighbour_backend and self.neighbour_backend not in REGISTRY:
            raise ConfigError(f"unknown neighbour backend {self.neighbour_backend!r}: use one of {', '.join(REGISTRY)}")


@dataclass
class Measurement:
    """One loop's medians over the repetitions."""

    loop: str
    backend: str
    device: str
    examples_per_sec: float  # wall clock over whole steps, data preparation included
    compute_examples_per_sec: float  # time inside the training steps only, as the book counts
    epoch_seconds: float
    peak_memory_mb: float
    fast: dict[str, Any]  # the speed-ups that were on (d2lvgg's loop)
    threads: dict[str, Any]  # the thread count it computed on, and why
    repeats: list[dict[str, Any]] = field(default_factory=list)


def time_steps(
    make: Callable[[int], Iterator[Any]], steps: Callable[[Iterator[Any]], float], config: BenchConfig
) -> dict[str, float]:
    """Warm up, then time ``config.steps`` steps, or one whole epoch when ``steps`` is None.

    ``make(epoch)`` gives an epoch's batches; ``steps(batches)`` trains on them and returns the
    seconds spent inside the steps. A whole epoch is timed on a fresh pass after the warm-up
    pass, so that per-epoch costs (the textbook loader starting its workers) are counted.
    """
    warm = _cycle(make)
    steps(itertools.islice(warm, config.warmup))
    if config.steps is None:
        warm.close()  # ends the warm-up pass (the textbook loader's workers stop with it)
        measured = make(1)
    else:
        measured = itertools.islice(warm, config.steps)
    counted = _Counted(measured)
    started = time.perf_counter()
    compute = steps(iter(counted))
    wall = time.perf_counter() - started
    return {"examples_per_sec": counted.examples / wall, "compute_examples_per_sec": counted.examples / compute}


class _Counted:
    """Batches passed through, their examples counted."""

    def __init__(self, batches: Iterator[Any]) -> None:
        self.batches, self.examples = batches, 0

    def __iter__(self) -> Iterator[Any]:
        for x, y in self.batches:
            self.examples += len(y)
            yield x, y


def _cycle(make: Callable[[int], Iterator[Any]]) -> Generator[Any, None, None]:
    """Endless batches: a fresh pass whenever one ends (as a loop over epochs does)."""
    epoch = 0
    while True:
        yield from make(epoch)
        epoch += 1


def _child(loop: str, config: BenchConfig, answer: Any) -> None:
    from .loops import d2lvgg_loop, own_loop, textbook_loop

    try:
        make = {"d2lvgg": d2lvgg_loop, "textbook": textbook_loop, OWN: own_loop}[loop]
        timed = make(VGGSpec.from_dict(config.spec), config)  # d2lvgg's probes its threads here
        answer.put(PROBED)
        result: dict[str, Any] = time_steps(timed.batches, timed.steps, config) | {"device": timed.runner.device_label}
        result |= {"fast": timed.runner.fast if loop == "d2lvgg" else {}, "threads": timed.threads().record()}
        answer.put(result | {"peak_memory_mb": _peak_memory_mb(config.backend, timed.runner.device_label)})
    except BaseException as exc:  # the parent re-raises it with the loop's name
        answer.put({"error": f"{type(exc).__name__}: {exc}"})


def _peak_memory_mb(backend: str, device: str) -> float:
    """Peak accelerator memory (as the backend measures it), else this process's and its workers' peak RSS."""
    accelerator = get_backend(backend).peak_memory_mb(device)
    if accelerator is not None:
        return accelerator
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + workers) / 1024  # kilobytes on Linux


def _result_of(process: Any, answer: Any, probed: Callable[[], None]) -> dict[str, Any]:
    """The child's answer; a child that died without one (killed, crashed) is an error, not a hang."""
    while True:
        try:
            result = answer.get(timeout=1.0)
        except queues.Empty:
            if not process.is_alive():
                return {"error": f"its process exited with code {process.exitcode} before reporting"}
            continue
        if result == PROBED:
            probed()
            continue
        process.join()
        return result


def check_loop(loop: str, config: BenchConfig) -> None:
    """One line, before any process starts, for a loop this backend or machine cannot run."""
    if loop not in (*LOOPS, OWN):
        raise ConfigError(f"unknown loop {loop!r}: use one of {', '.join((*LOOPS, OWN))}")
    if loop == "textbook" and not declaration(config.backend).textbook_loop:
        raise ConfigError(f"no textbook loop is re-created for the {config.backend} backend yet: measure d2lvgg's")
    if loop == "textbook" and importlib.util.find_spec("PIL") is None:
        raise ConfigError("the textbook loop resizes with Pillow, which is not installed: pip install pillow")


def one_run(loop: str, config: BenchConfig, probed: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """One measurement of ``loop`` in a fresh process, with the machine's load average when it ended.

    ``probed`` is called once the loop is ready to be timed (d2lvgg's has chosen its threads).
    """
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    process = context.Process(target=_child, args=(loop, config, answer))
    process.start()
    result = _result_of(process, answer, probed)
    if "error" in result:
        raise ConfigError(f"the {loop} loop failed: {result['error']}")
    return result | {"load": load_average()}


def load_average() -> float:
    """The one-minute load average (NaN where the system has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def measure(loop: str, config: BenchConfig) -> Measurement:
    """``config.repeats`` fresh-process measurements of one loop; medians, with every repetition kept."""
    check_loop(loop, config)
    return _summary(loop, config, [one_run(loop, config) for _ in range(config.repeats)])


def _summary(loop: str, config: BenchConfig, runs: list[dict[str, Any]]) -> Measurement:
    speed = statistics.median(run["examples_per_sec"] for run in runs)
    return Measurement(
        loop=loop,
        backend=config.backend,
        device=runs[0]["device"],
        examples_per_sec=speed,
        compute_examples_per_sec=statistics.median(run["compute_examples_per_sec"] for run in runs),
        epoch_seconds=60_000 / speed,
        peak_memory_mb=statistics.median(run["peak_memory_mb"] for run in runs),
        fast=runs[0]["fast"],
        threads=runs[0]["threads"],
        repeats=runs,
    )


def machine() -> dict[str, Any]:
    """What a figure was measured on: the CPU, its cores, Python and the framework versions."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
    versions = {"python": platform.python_version()}
    distributions = metadata.packages_distributions()  # module -> the pip packages providing it
    for module in [declaration(name).framework for name in REGISTRY] + ["numpy"]:
        for package in distributions.get(module, [module]):
            with contextlib.suppress(metadata.PackageNotFoundError):
                versions[package] = metadata.version(package)
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "versions": versions}


def run_bench(config: BenchConfig, json_path: str | Path | None = None) -> tuple[list[Measurement], str]:
    """Both loops (d2lvgg's alone where there is no textbook loop) in the same run; the closing line, and JSON.

    The loops take turns, one repetition each per round, so that a change in the machine's load
    falls on both; the line gives the ratio's spread over the rounds and says when other work kept
    the machine busy just before the first round (then the ratio is not a quiet figure). With
    ``config.under_load`` each round also times d2lvgg's loop beside that many other training
    runs, and the line says how much of its speed alone it kept, against its fair share.
    """
    loops = LOOPS if declaration(config.backend).textbook_loop else LOOPS[:1]
    for loop in loops:
        check_loop(loop, config)
    busy_before, load_before = busy_cores(BUSY_SECONDS), load_average()
    runs: dict[str, list[dict[str, Any]]] = {loop: [] for loop in loops}
    with competitors.competing_runs(config) if config.under_load else contextlib.nullcontext() as running:
        for _ in range(config.repeats):
            for loop in loops:
                runs[loop].append(one_run(loop, config))
            if running:
                with running() as start:
                    if not config.late:
                        start()
                    loaded = one_run("d2lvgg", config, probed=start)  # a late neighbour starts here
                    runs.setdefault(LOADED, []).append(loaded)
    results = [_summary(loop, config, loop_runs) for loop, loop_runs in runs.items()]
    line = _closing_line(config, results, runs)
    if busy_before >= BUSY_CORES:
        during = max(run["load"] for loop_runs in runs.values() for run in loop_runs)
        busy = f"{busy_before:.1f} cores busy before, load average up to {during:.1f} during, on {cores()} cores"
        line += f"; under load ({busy}): not a quiet figure"
    if json_path:
        record = {"config": asdict(config), "machine": machine(), "busy_before": busy_before}
        record["load_before"] = load_before
        record["results"] = [asdict(r) for r in results]
        Path(json_path).write_text(json.dumps(record | {"summary": line}, indent=2) + "\n", encoding="utf-8")
    return results, line


def _closing_line(config: BenchConfig, results: list[Measurement], runs: dict[str, list[dict[str, Any]]]) -> str:
    """d2lvgg's speed and threads; the speedup over the book's loop and its spread; the share kept under load."""
    speeds = {r.loop: r.examples_per_sec for r in results}
    ours = results[0]
    threads = ours.threads["count"] or "the framework's"
    line = f"{config.backend} {ours.device}: d2lvgg {speeds['d2lvgg']:.1f} ex/s ({threads} threads)"
    if "textbook" in speeds:
        rounds = [
            a["examples_per_sec"] / b["examples_per_sec"] for a, b in zip(runs["d2lvgg"], runs["textbook"], strict=True)
        ]
        line += f", textbook loop {speeds['textbook']:.1f} ex/s, speedup {speeds['d2lvgg'] / speeds['textbook']:.2f}x"
        line += f" (rounds {min(rounds):.2f}-{max(rounds):.2f}x)"
    if LOADED in speeds:
        kept, fair = speeds[LOADED] / speeds["d2lvgg"], 1 / (config.under_load + 1)
        ended_on = ", ".join(str(run["threads"]["count"] or "its own") for run in runs[LOADED])
        line += f"; beside {neighbours(config)} {speeds[LOADED]:.1f} ex/s (ending on {ended_on} threads):"
        line += f" kept {kept:.0%} of its speed alone"
        if config.neighbour == "run" and not config.neighbour_nice:
            line += f", {kept / fair:.0%} of its fair share ({fair:.0%})"
    return line


def neighbours(config: BenchConfig) -> str:
    """The neighbours in words: how many, what they run, their niceness, and whether they start late."""
    nice = competitors.niceness(config)
    if config.neighbour == "run":
        words = f"{config.under_load} other {config.neighbour_backend or config.backend} run(s)"
    else:
        words = f"{config.under_load} busy loop(s)"
    words += f" at nice {nice}" if nice else ""
    return words + (" started after its thread probe" if config.late else "")
