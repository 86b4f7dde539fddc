"""Training throughput: d2lvgg's loop against a faithful re-creation of the textbook's, same run.

The textbook's loop (d2l's ``train_ch6`` with its Fashion-MNIST loader): a ``DataLoader`` with
worker processes that resizes every 28x28 image with Pillow and converts it to a float tensor
one sample at a time, eager float32, plain SGD, and a host sync for the metrics after every
step. d2lvgg's loop is the one ``d2lvgg train`` runs. Each measurement runs in a fresh process
(so peak memory is its own), skips warm-up steps, and is repeated; the median is reported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model.spec import VGGSpec

LOOPS = ("d2lvgg", "textbook")


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark measures: a spec, a backend and device, and how long to measure."""

    spec: dict[str, Any]
    backend: str = "torch"
    device: str = "cpu"
    batch_size: int = 128
    steps: int | None = 20  # None: time one whole epoch, the loader's start and the last short batch included
    warmup: int = 3
    repeats: int = 3
    workers: int = 4  # the textbook's get_dataloader_workers()
    data_dir: str | None = None
    fast: dict[str, Any] = field(default_factory=dict)  # TrainConfig's fast-path switches for d2lvgg's loop

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "repeats"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0 or self.workers < 0:
            raise ConfigError("warmup and workers must be 0 or more")


@dataclass
class Measurement:
    """One loop's medians over the repetitions."""

    loop: str
    backend: str
    device: str
    examples_per_sec: float  # wall clock over whole steps, data preparation included
    compute_examples_per_sec: float  # time inside the training step only, as the book counts
    epoch_seconds: float
    peak_memory_mb: float
    fast: dict[str, Any]  # the fast-path switches that were on (d2lvgg's loop)
    repeats: list[dict[str, Any]] = field(default_factory=list)


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _steps_and_time(make: Any, step: Any, config: BenchConfig, finish: Any = None) -> dict[str, float]:
    """Warm up, then time ``config.steps`` steps, or one whole epoch when ``steps`` is None.

    ``make(epoch)`` gives an epoch's batches. A whole epoch is timed on a fresh pass after the
    warm-up pass, so that per-epoch costs (the textbook loader starting its workers) are counted.
    ``finish`` waits for work still queued on the device, so that it is counted too.
    """
    warm = _cycle(make)
    for _ in range(config.warmup):
        step(*next(warm))
    if finish is not None:
        finish()
    if config.steps is None:
        warm.close()  # ends the warm-up pass (the textbook loader's workers stop with it)
        measured = make(1)
    else:
        measured = itertools.islice(warm, config.steps)
    compute = examples = 0.0
    started = time.perf_counter()
    for x, y in measured:
        tic = time.perf_counter()
        step(x, y)
        compute += time.perf_counter() - tic
        examples += len(y)
    if finish is not None:
        tic = time.perf_counter()
        finish()
        compute += time.perf_counter() - tic
    wall = time.perf_counter() - started
    return {"examples_per_sec": examples / wall, "compute_examples_per_sec": examples / compute}


def _cycle(make: Any) -> Any:
    """Endless batches: a fresh pass whenever one ends (as a loop over epochs does)."""
    epoch = 0
    while True:
        yield from make(epoch)
        epoch += 1


def _measure_d2lvgg(config: BenchConfig) -> dict[str, float]:
    from ..data.fashion_mnist import load_fashion_mnist
    from ..model import ir
    from ..model.initializers import initial_weights
    from ..training.loop import FETCH_EVERY, TrainConfig, epoch_batches, make_runner

    spec = VGGSpec.from_dict(config.spec)
    network = ir.lower(spec)
    train_config = TrainConfig(
        backend=config.backend, device=config.device, batch_size=config.batch_size, options=config.fast
    )
    runner = make_runner(network, train_config)
    runner.load_state(initial_weights(network, "xavier", 0))
    runner.set_optimizer(0.05)
    data = load_fashion_mnist(config.data_dir)
    feed = runner.data(data.train_images, data.train_labels, spec.input_size)
    pending: list[Any] = []

    def make(epoch: int) -> Any:
        runner.start_epoch(epoch)
        return epoch_batches(feed, data.train_images, data.train_labels, batch_size=config.batch_size,
                             size=spec.input_size, shuffle=True, seed=0, epoch=epoch)  # fmt: skip

    def flush() -> None:
        runner.fetch(pending)
        pending.clear()

    def step(x: Any, y: Any) -> None:  # as the trainer does: metrics read every FETCH_EVERY steps
        pending.extend(runner.train_step(x, y))
        if len(pending) >= 2 * FETCH_EVERY:
            flush()

    measured = _steps_and_time(make, step, config, finish=flush)
    return measured | {"device": runner.device_label, "fast": runner.fast}


def _measure_textbook(config: BenchConfig) -> dict[str, float]:
    from ..backends.torch.textbook import textbook_loop

    batches, step, device = textbook_loop(VGGSpec.from_dict(config.spec), config.device, config.batch_size,
                                          config.workers, config.data_dir)  # fmt: skip
    return _steps_and_time(lambda epoch: iter(batches), step, config) | {"device": device}


def _peak_memory_mb(backend: str, device: str) -> float:
    """Peak accelerator memory (as the backend measures it), else this process's and its workers' peak RSS."""
    import resource

    from ..backends import get_backend

    accelerator = get_backend(backend).peak_memory_mb(device)
    if accelerator is not None:
        return accelerator
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + workers) / 1024  # kilobytes on Linux


def _child(loop: str, config: BenchConfig, queue: Any) -> None:
    try:
        result = (_measure_d2lvgg if loop == "d2lvgg" else _measure_textbook)(config)
        queue.put(result | {"peak_memory_mb": _peak_memory_mb(config.backend, result["device"])})
    except BaseException as exc:  # the parent re-raises it with the loop's name
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _result_of(process: Any, queue: Any) -> dict[str, Any]:
    """The child's answer; a child that died without one (killed, crashed) is an error, not a hang."""
    import queue as queues

    while True:
        try:
            result = queue.get(timeout=1.0)
            process.join()
            return result
        except queues.Empty:
            if not process.is_alive():
                return {"error": f"its process exited with code {process.exitcode} before reporting"}


def measure(loop: str, config: BenchConfig) -> Measurement:
    """``config.repeats`` fresh-process measurements of one loop; medians, with every repetition kept."""
    if loop not in LOOPS:
        raise ConfigError(f"unknown loop {loop!r}: use one of {', '.join(LOOPS)}")
    if loop == "textbook" and config.backend != "torch":
        raise ConfigError("the textbook loop is re-created for PyTorch only; pass --backend torch")
    if loop == "textbook" and importlib.util.find_spec("PIL") is None:
        raise ConfigError("the textbook loop resizes with Pillow, which is not installed: pip install pillow")
    context = multiprocessing.get_context("spawn")
    runs = []
    for _ in range(config.repeats):
        queue = context.Queue()
        process = context.Process(target=_child, args=(loop, config, queue))
        process.start()
        result = _result_of(process, queue)
        if "error" in result:
            raise ConfigError(f"the {loop} loop failed: {result['error']}")
        runs.append(result)
    speed = _median(runs, "examples_per_sec")
    return Measurement(loop, config.backend, runs[0]["device"], speed, _median(runs, "compute_examples_per_sec"),
                       60_000 / speed, _median(runs, "peak_memory_mb"), runs[0].get("fast", {}), runs)  # fmt: skip


def machine() -> dict[str, Any]:
    """What a figure was measured on: the CPU, its cores, Python and the framework versions."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
    versions = {"python": platform.python_version()}
    for package in ("torch", "mindspore", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "versions": versions}


def run_bench(config: BenchConfig, json_path: str | Path | None = None) -> tuple[list[Measurement], str]:
    """Both loops on the same machine in the same run; the closing line, and JSON if asked."""
    loops = LOOPS if config.backend == "torch" else ("d2lvgg",)
    results = [measure(loop, config) for loop in loops]
    ours = results[0]
    line = f"{config.backend} {ours.device}: d2lvgg {ours.examples_per_sec:.1f} ex/s"
    if len(results) > 1:
        book = results[1].examples_per_sec
        line += f", textbook loop {book:.1f} ex/s, speedup {ours.examples_per_sec / book:.2f}x"
    if json_path:
        record = {"config": asdict(config), "machine": machine(), "results": [asdict(r) for r in results],
                  "summary": line}  # fmt: skip
        Path(json_path).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return results, line


def speed_table(summary: dict[str, Any]) -> str:
    """The benchmark's summary as one Markdown row per configuration.

    Wall-clock examples/s (data preparation included) of d2lvgg's PyTorch loop, the textbook's loop
    and MindSpore's, with the textbook's compute-only figure (inside its steps) beside them.
    """
    from .render import markdown_table

    rows = []
    for name, loops in summary["configs"].items():
        ours, book, ms = (loops.get(key, {}) for key in ("torch/d2lvgg", "torch/textbook", "mindspore/d2lvgg"))
        speed = [f"{r['examples_per_sec']:,.1f}" if r else "" for r in (ours, book, ms)]
        book_steps = f"{book['compute_examples_per_sec']:,.1f}" if book else ""
        speedup = f"{ours['examples_per_sec'] / book['examples_per_sec']:.2f}x" if ours and book else ""
        ratio = f"{ms['examples_per_sec'] / ours['examples_per_sec']:.2f}" if ours and ms else ""
        peak = f"{100 * ours['fraction_of_matmul_peak']:.0f}%" if ours.get("fraction_of_matmul_peak") else ""
        timed = f"{ours['timed']}, batch {ours['batch_size']}, median of {ours['repeats']}" if ours else ""
        rows.append([name, *speed[:2], book_steps, speedup, speed[2], ratio, peak, timed])
    headers = ["configuration", "d2lvgg ex/s", "textbook loop ex/s", "textbook, steps only", "speedup",
               "MindSpore ex/s", "MindSpore / PyTorch", "of matmul peak", "timed"]  # fmt: skip
    return markdown_table(headers, rows)


def provenance(summary: dict[str, Any]) -> str:
    """Where and how a summary was measured: the machine, the versions, the commands."""
    where = summary["machine"]
    lines = [f"machine: {where['cpu']}, {where['cores']} cores; "
             + ", ".join(f"{name} {version}" for name, version in where["versions"].items())]  # fmt: skip
    if summary.get("matmul_peak_gflops"):
        lines.append(f"matrix-multiply peak: {summary['matmul_peak_gflops']:.0f} GFLOP/s (float32, 2048x2048)")
    commands = sorted({r["command"] for loops in summary["configs"].values() for r in loops.values()})
    return "\n".join(lines + [f"command: {command}" for command in commands])
