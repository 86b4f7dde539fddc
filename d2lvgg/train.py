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

from . import ir, plot
from .backends import get_backend
from .checkpoint import Checkpoint, epoch_seed, load_checkpoint, save_checkpoint
from .data import load_fashion_mnist
from .errors import ConfigError, RunError, RunInterrupted
from .initializers import SCHEMES, initial_weights
from .pipeline import batches, num_batches
from .progress import ProgressBar
from .rundir import CHECKPOINT, CONFIG, EPOCHS, PLOT, RESULT, STEPS, WEIGHTS, RunDir
from .spec import VGGSpec
from .weights import check_compatible, save_weights

# The two editions' hyperparameters for this chapter.
RECIPES: dict[str, dict[str, Any]] = {
    "d2l-zh": {"lr": 0.05, "epochs": 10, "batch_size": 128, "resize": 224},
    "d2l-en": {"lr": 0.01, "epochs": 10, "batch_size": 128, "resize": 224},
}
POINTS_PER_EPOCH = 5


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a run except the architecture; defaults are the d2l-zh recipe."""

    backend: str = "torch"
    epochs: int = 10
    lr: float = 0.05
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    init: str = "xavier"
    recipe: str = "d2l-zh"
    data_dir: str | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    ms_mode: str = "graph"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not np.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if self.init not in SCHEMES:
            raise ConfigError(f"unknown init {self.init!r}: choose one of {', '.join(SCHEMES)}")
        if self.recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {self.recipe!r}: choose one of {', '.join(RECIPES)}")
        if self.ms_mode not in ("graph", "pynative"):
            raise ConfigError(f"unknown MindSpore mode {self.ms_mode!r}: use graph or pynative")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")

    @classmethod
    def from_recipe(cls, recipe: str = "d2l-zh", **overrides: Any) -> TrainConfig:
        """The named recipe's hyperparameters, with ``overrides`` (``None`` = keep) on top."""
        if recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
        chosen = {k: v for k, v in RECIPES[recipe].items() if k != "resize"}
        chosen.update({k: v for k, v in overrides.items() if v is not None})
        return cls(recipe=recipe, **chosen)


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


def evaluate(runner: Any, images: np.ndarray, labels: np.ndarray, *, batch_size: int, size: int) -> float:
    """Test accuracy in evaluation mode, over the natural order of the data."""
    correct = 0
    for x, y in batches(images, labels, batch_size=batch_size, resize=size, shuffle=False, seed=0, epoch=0):
        correct += runner.evaluate(x, y)[1]
    return correct / len(labels)


def make_runner(network: ir.Sequential, config: TrainConfig) -> Any:
    """The backend's runner for ``network`` on the configured device (MindSpore: and mode)."""
    options = {"mode": config.ms_mode} if config.backend == "mindspore" else {}
    return get_backend(config.backend).Runner(network, device=config.device, seed=config.seed, **options)


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
    backend = get_backend(config.backend)
    load_fashion_mnist(config.data_dir)  # fail on missing or damaged data before making a run folder
    network = ir.lower(spec)
    runner = make_runner(network, config)
    if config.init != "framework":
        runner.load_state(initial_weights(network, config.init, config.seed))
    runner.set_optimizer(config.lr)
    run = RunDir.create(out or default_run_dir(spec, config.backend), overwrite=overwrite)
    run.write_json(CONFIG, _config_record(spec, config, backend, runner.device_label))
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
    runner.set_optimizer(config.lr)
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
    try:
        for epoch in range(first, config.epochs):
            runner.start_epoch(epoch_seed(config.seed, epoch))
            loss_sum, correct, seen = 0.0, 0, 0
            rows = []
            order = batches(
                train_x, train_y, batch_size=config.batch_size, resize=spec.input_size,
                shuffle=True, seed=config.seed, epoch=epoch,
            )  # fmt: skip
            for i, (x, y) in enumerate(order):
                tic = time.perf_counter()
                batch_loss, batch_correct = runner.train_step(x, y)
                took = time.perf_counter() - tic
                rows.append(
                    {"epoch": epoch + 1, "step": i + 1, "loss": batch_loss / len(y), "acc": batch_correct / len(y),
                     "examples": len(y), "seconds": took}
                )  # fmt: skip
                if not np.isfinite(batch_loss):
                    run.append_rows(STEPS, rows)
                    raise ConfigError(
                        f"the loss became {batch_loss} at epoch {epoch + 1}, step {i + 1}: the run diverged; "
                        f"try a smaller learning rate than {config.lr} (metrics so far are in {run.path})"
                    )
                done.step_seconds += took
                done.examples_seen += len(y)
                loss_sum, correct, seen = loss_sum + batch_loss, correct + batch_correct, seen + len(y)
                if (i + 1) % point_every == 0 or i + 1 == per_epoch:
                    x_pos = epoch + (i + 1) / per_epoch
                    done.points.append({"x": x_pos, "train_loss": loss_sum / seen, "train_acc": correct / seen})
                bar.update(loss_sum / seen, correct / seen, done.examples_seen / max(done.step_seconds, 1e-9))
            test_acc = evaluate(runner, test_x, test_y, batch_size=config.batch_size, size=spec.input_size)
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


def _config_record(spec: VGGSpec, config: TrainConfig, backend: Any, device: str) -> dict[str, Any]:
    return {
        "spec": spec.to_dict(),
        "train": asdict(config),
        "device": device,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "backend": backend.version()},
        "host": platform.node(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def load_config(run: RunDir) -> tuple[VGGSpec, TrainConfig]:
    """The spec and training config a run folder was written with."""
    record = run.read_json(CONFIG)
    return VGGSpec.from_dict(record["spec"]), TrainConfig(**record["train"])


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
    if backend and backend != config.backend and device is None:
        device = "auto"  # the training backend's device name may mean nothing to the other one
    config = replace(
        config, backend=backend or config.backend, device=device or config.device, data_dir=data_dir or config.data_dir
    )
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
