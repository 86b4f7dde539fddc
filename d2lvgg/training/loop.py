"""The textbook's training loop (d2l's ``train_ch6``), once, for every backend.

Read it top to bottom: resolve the config, build and initialise the network, then for each
epoch run SGD over seeded batches, score the test set, and log, plot and save.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import get_backend
from ..backends.base import Runner
from ..data.fashion_mnist import CHANNELS, CLASS_NAMES, load_fashion_mnist
from ..data.pipeline import batches, num_batches
from ..errors import ConfigError, RunError, RunInterrupted, SpecError
from ..model import ir
from ..model.initializers import initial_weights
from ..model.spec import VGGSpec
from . import plot
from .checkpoint import Checkpoint, epoch_seed, load_checkpoint, save_checkpoint
from .config import RECIPES, TrainConfig, learning_rate  # noqa: F401 - RECIPES: d2lvgg.train is where users look
from .progress import ProgressBar
from .rundir import CHECKPOINT, CONFIG, EPOCHS, PLOT, RESULT, STEPS, WEIGHTS, RunDir
from .weights import check_compatible, save_weights

POINTS_PER_EPOCH = 5


@dataclass
class History:
    """Per-step and per-epoch metrics, and the plot's points."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunResult:
    path: Path
    train_loss: float
    train_acc: float
    test_acc: float
    step_examples_per_sec: float
    wall_examples_per_sec: float
    device: str
    history: History

    def summary_lines(self) -> list[str]:
        """The textbook's two closing lines, then the wall-clock figure, labelled."""
        return [
            f"loss {self.train_loss:.3f}, train acc {self.train_acc:.3f}, test acc {self.test_acc:.3f}",
            f"{self.step_examples_per_sec:.1f} examples/sec on {self.device} (training steps only, as the book counts)",
            f"{self.wall_examples_per_sec:.1f} examples/sec wall clock (data, evaluation and logging included)",
        ]


def evaluate(
    runner: Any, images: np.ndarray, labels: np.ndarray, *, batch_size: int, size: int, feed: Any = None
) -> float:
    """Test accuracy in evaluation mode, over the natural order of the data (one host sync)."""
    order = epoch_batches(feed, images, labels, batch_size=batch_size, size=size, shuffle=False, seed=0, epoch=0)
    counts = [runner.evaluate(x, y)[1] for x, y in order]
    return sum(runner.fetch(counts)) / len(labels)


def epoch_batches(feed: Any, images: np.ndarray, labels: np.ndarray, *, batch_size: int, size: int, shuffle: bool,
                  seed: int, epoch: int) -> Any:  # fmt: skip
    """An epoch's batches: from ``feed`` (a runner's device-resident dataset) when there is one, else numpy's."""
    if feed is not None:
        return feed.batches(batch_size=batch_size, shuffle=shuffle, seed=seed, epoch=epoch)
    return batches(images, labels, batch_size=batch_size, resize=size, shuffle=shuffle, seed=seed, epoch=epoch)


def make_runner(network: ir.Sequential, config: TrainConfig) -> Runner:
    """The configured backend's runner for ``network``, with that backend's options."""
    backend = get_backend(config.backend)
    return backend.make_runner(network, device=config.device, seed=config.seed, options=config.options)


def check_fits_fashion_mnist(spec: VGGSpec) -> None:
    """Refuse, before any work, a network that cannot take Fashion-MNIST's images or labels."""
    if spec.in_channels != CHANNELS:
        raise SpecError(
            f"{spec.name} takes {spec.in_channels}-channel images, but Fashion-MNIST's are greyscale "
            f"({CHANNELS} channel): pass --in-channels {CHANNELS} (in a spec file: in_channels = {CHANNELS})"
        )
    if spec.num_classes < len(CLASS_NAMES):
        raise SpecError(
            f"{spec.name} has {spec.num_classes} outputs, but Fashion-MNIST has {len(CLASS_NAMES)} classes: "
            f"pass --classes {len(CLASS_NAMES)} (in a spec file: num_classes = {len(CLASS_NAMES)})"
        )


def default_run_dir(spec: VGGSpec, backend: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{spec.name}-{backend}-{stamp}"


def train(
    spec: VGGSpec,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    echo: bool = True,
) -> RunResult:
    """Train ``spec`` on Fashion-MNIST with ``config``; writes a run folder and returns the result."""
    config = config or TrainConfig()
    check_fits_fashion_mnist(spec)
    out = RunDir.check_new(out or default_run_dir(spec, config.backend), overwrite=overwrite)
    backend = get_backend(config.backend)
    load_fashion_mnist(config.data_dir)  # fail on missing or damaged data before making a run folder
    network = ir.lower(spec)
    runner = make_runner(network, config)
    if config.init != "framework":
        runner.load_state(initial_weights(network, config.init, config.seed))
    runner.set_optimizer(config.lr, config.momentum, config.weight_decay)
    run = RunDir.create(out, overwrite=overwrite)
    run.write_json(CONFIG, _config_record(spec, config, backend, runner))
    return _fit(spec, config, run, runner, _Progress(), progress=progress, echo=echo)


def resume(path: str | Path, *, progress: bool = True, echo: bool = True) -> RunResult:
    """Continue a run from its last finished epoch; the result equals an uninterrupted run's."""
    run = RunDir.open(path)
    spec, config = load_config(run)
    saved = load_checkpoint(run.path)
    if saved.epochs_done >= config.epochs:
        raise RunError(f"{run.path} already finished all {config.epochs} epochs; nothing to resume")
    network = ir.lower(spec)
    check_compatible(saved.weights, network, str(run.file(CHECKPOINT)))
    runner = make_runner(network, config)
    runner.load_state(saved.weights)
    runner.set_optimizer(config.lr, config.momentum, config.weight_decay)
    runner.load_optimizer_state(saved.optimizer)
    done = _Progress(**saved.progress)
    run.rewrite_rows(STEPS, done.history.steps)  # drop rows of the epoch that was cut short
    run.rewrite_rows(EPOCHS, done.history.epochs)
    return _fit(spec, config, run, runner, done, progress=progress, echo=echo)


@dataclass
class _Progress:
    """How far a run has got: its metrics and running totals (what a checkpoint stores)."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    step_seconds: float = 0.0
    examples_seen: int = 0
    wall_seconds: float = 0.0

    @property
    def history(self) -> History:
        return History(self.steps, self.epochs, self.points)


def _fit(
    spec: VGGSpec, config: TrainConfig, run: RunDir, runner: Any, done: _Progress, *, progress: bool, echo: bool
) -> RunResult:
    """The epochs still to run, each ending with an evaluation, metrics and a checkpoint."""
    data = load_fashion_mnist(config.data_dir)
    train_x, train_y = data.train_images[: config.train_limit], data.train_labels[: config.train_limit]
    test_x, test_y = data.test_images[: config.test_limit], data.test_labels[: config.test_limit]
    say = print if echo else (lambda *a, **k: None)
    first = len(done.epochs)
    verb = f"resuming at epoch {first + 1}" if first else "training"
    say(f"{verb} {spec.name} ({config.backend} on {runner.device_label}) -> {run.path}")

    live = plot.LivePlot(f"{spec.name}, {config.backend}")
    per_epoch = num_batches(len(train_y), config.batch_size)
    point_every = max(per_epoch // POINTS_PER_EPOCH, 1)
    started = time.perf_counter() - done.wall_seconds
    bar = ProgressBar(config.epochs * per_epoch, completed=first * per_epoch, enabled=progress)
    feed = runner.data(train_x, train_y, spec.input_size)
    test_feed = runner.data(test_x, test_y, spec.input_size)
    try:
        for epoch in range(first, config.epochs):
            runner.start_epoch(epoch_seed(config.seed, epoch))
            runner.set_lr(learning_rate(config, epoch))
            order = epoch_batches(feed, train_x, train_y, batch_size=config.batch_size, size=spec.input_size,
                                  shuffle=True, seed=config.seed, epoch=epoch)  # fmt: skip
            estimate = (lambda seconds, steps: say(_estimate_line(seconds, steps, spec, config, runner, first))) if (
                epoch == first) else None  # fmt: skip
            rows, loss_sum, correct, seen = _train_epoch(runner, order, epoch, per_epoch, point_every, done, bar, run,
                                                         config, estimate)  # fmt: skip
            test_acc = evaluate(runner, test_x, test_y, batch_size=config.batch_size, size=spec.input_size,
                                feed=test_feed)  # fmt: skip
            done.wall_seconds = time.perf_counter() - started
            row = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / seen,
                "train_acc": correct / seen,
                "test_acc": test_acc,
                "examples_per_sec": done.examples_seen / done.step_seconds,
                "wall_seconds": done.wall_seconds,
            }
            done.steps += rows
            done.epochs.append(row)
            run.append_rows(STEPS, rows)
            run.append_rows(EPOCHS, [row])
            save_checkpoint(run.path, Checkpoint(epoch + 1, runner.state(), runner.optimizer_state(), asdict(done)))
            live.update(done.points, done.epochs)
            bar.note(
                f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.3f}, train acc {row['train_acc']:.3f}, "
                f"test acc {test_acc:.3f}, {row['examples_per_sec']:.1f} examples/sec",
                say,
            )
    except KeyboardInterrupt:
        bar.close()
        finished = len(done.epochs)
        raise RunInterrupted(
            f"interrupted; {finished} finished epoch(s) are saved in {run.path}. "
            f"Resume with: d2lvgg train --resume {run.path}"
        ) from None
    finally:
        bar.close()

    save_weights(runner.state(), run.file(WEIGHTS))
    fig = plot.draw(done.points, done.epochs, f"{spec.name}, {config.backend} on {runner.device_label}")
    plot.save(fig, run.file(PLOT))
    last = done.epochs[-1]
    result = RunResult(
        run.path,
        last["train_loss"],
        last["train_acc"],
        last["test_acc"],
        done.examples_seen / done.step_seconds,
        done.examples_seen / done.wall_seconds,
        runner.device_label,
        done.history,
    )
    run.write_json(RESULT, {k: v for k, v in asdict(result).items() if k not in ("history", "path")})
    for line in result.summary_lines():
        say(line)
    return result


FETCH_EVERY = 10  # steps between host syncs for the metrics (the textbook syncs after every step)
ESTIMATE_AFTER = 8  # steps measured before the time estimate is printed


def _train_epoch(
    runner: Any, order: Any, epoch: int, per_epoch: int, point_every: int, done: _Progress, bar: ProgressBar,
    run: RunDir, config: TrainConfig, estimate: Any = None,
) -> tuple[list[dict[str, Any]], float, int, int]:  # fmt: skip
    """One epoch of SGD steps; metrics are read from the device every few steps, not after each.

    ``estimate(seconds_per_epoch, steps)`` is called once, after the first few steps.
    """
    rows: list[dict[str, Any]] = []
    pending: list[tuple[Any, Any, int, float]] = []
    loss_sum, correct, seen = 0.0, 0, 0
    started = None
    for i, (x, y) in enumerate(order):
        tic = time.perf_counter()
        started = started if i != 1 else tic  # the first step pays for compilation and warm-up: not counted
        batch_loss, batch_correct = runner.train_step(x, y)
        pending.append((batch_loss, batch_correct, len(y), time.perf_counter() - tic))
        at_point = (i + 1) % point_every == 0 or i + 1 == per_epoch
        if not (at_point or len(pending) >= FETCH_EVERY):
            continue
        tic = time.perf_counter()
        values = runner.fetch([v for p in pending for v in p[:2]])
        sync = time.perf_counter() - tic  # on a GPU: the queued steps finishing
        first_step = i + 2 - len(pending)
        for k, (n, took) in enumerate(p[2:] for p in pending):
            step_loss, step_correct = values[2 * k], values[2 * k + 1]
            took += sync if k == len(pending) - 1 else 0.0
            rows.append({"epoch": epoch + 1, "step": first_step + k, "loss": step_loss / n, "acc": step_correct / n,
                         "examples": n, "seconds": took})  # fmt: skip
            if not np.isfinite(step_loss):
                run.append_rows(STEPS, rows)
                raise ConfigError(
                    f"the loss became {step_loss} at epoch {epoch + 1}, step {first_step + k}: the run diverged; "
                    f"try a smaller learning rate than {config.lr} (metrics so far are in {run.path})"
                )
            done.step_seconds += took
            done.examples_seen += n
            loss_sum, correct, seen = loss_sum + step_loss, correct + int(step_correct), seen + n
        fetched, pending = len(pending), []
        if at_point:
            done.points.append({"x": epoch + (i + 1) / per_epoch, "train_loss": loss_sum / seen,
                                "train_acc": correct / seen})  # fmt: skip
        bar.update(loss_sum / seen, correct / seen, done.examples_seen / max(done.step_seconds, 1e-9), fetched)
        if estimate and i + 1 >= ESTIMATE_AFTER:
            estimate((time.perf_counter() - started) / i * per_epoch, i)
            estimate = None
    return rows, loss_sum, correct, seen


LAB_SECONDS = 15 * 60  # a run longer than this on a CPU does not fit a class
# Configurations that fit a class on a CPU, measured on a 2-core machine (docs/classroom.md).
CPU_SUGGESTIONS = (
    "--recipe d2l-cpu (the book's recipe on VGG-11 / 8 at 32 px: 0.87 test accuracy in 1 to 3 minutes on 2 cores)",
    "--recipe cpu-lab (the lab recipe: 0.92 test accuracy in about 4 minutes on 2 cores)",
    "--arch d2l_vgg11 --ratio 16 --head 256,256 --resize 32 --batch-size 64 (about 15 s an epoch on 2 cores)",
    "d2lvgg sweep --list (comparison grids sized for a 2-core lab machine)",
)


def _estimate_line(seconds: float, steps: int, spec: VGGSpec, config: TrainConfig, runner: Any, done: int) -> str:
    """Expected time per epoch and for the ``config.epochs - done`` epochs left; CPU advice at 224 px."""
    left = config.epochs - done
    still = " still to run" if done else ""
    line = (f"estimate from {steps} steps: about {_duration(seconds)} per epoch, "
            f"{_duration(seconds * left)} for {left} epochs{still} (plus evaluation)")  # fmt: skip
    if runner.device_label.startswith("cpu") and spec.input_size >= 224 and seconds * left > LAB_SECONDS:
        line += "\non a CPU at 224 px this is slow; configurations that fit a class:\n  " + "\n  ".join(CPU_SUGGESTIONS)
    return line


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _config_record(spec: VGGSpec, config: TrainConfig, backend: Any, runner: Any) -> dict[str, Any]:
    return {
        "spec": spec.to_dict(),
        "train": config.record(),
        "device": runner.device_label,
        "fast": runner.fast,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "backend": backend.version()},
        "host": platform.node(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def load_config(run: RunDir) -> tuple[VGGSpec, TrainConfig]:
    """The spec and training config a run folder was written with."""
    record = run.read_json(CONFIG)
    return VGGSpec.from_dict(record["spec"]), TrainConfig.from_record(record["train"])


def evaluate_run(
    path: str | Path,
    *,
    backend: str | None = None,
    device: str | None = None,
    data_dir: str | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Re-score a run's saved weights on the test set, with the backend that trained them or another."""
    from .weights import load_weights

    run = RunDir.open(path)
    spec, config = load_config(run)
    if backend and backend != config.backend:
        device = device or "auto"  # the training backend's device name may mean nothing to the other one
        config = config.for_backend(backend)
    config = replace(config, device=device or config.device, data_dir=data_dir or config.data_dir)
    check_fits_fashion_mnist(spec)
    network = ir.lower(spec)
    arrays = load_weights(run.file(WEIGHTS))
    check_compatible(arrays, network, str(run.file(WEIGHTS)))
    runner = make_runner(network, config)
    runner.load_state(arrays)
    data = load_fashion_mnist(config.data_dir)
    test_x, test_y = data.test_images[: config.test_limit], data.test_labels[: config.test_limit]
    acc = evaluate(runner, test_x, test_y, batch_size=batch_size or config.batch_size, size=spec.input_size)
    return {"run": str(run.path), "backend": config.backend, "device": runner.device_label, "test_acc": acc,
            "examples": len(test_y)}  # fmt: skip
