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
from .data import load_fashion_mnist
from .errors import ConfigError
from .initializers import SCHEMES, initial_weights
from .pipeline import batches, num_batches
from .rundir import CONFIG, EPOCHS, PLOT, RESULT, STEPS, WEIGHTS, RunDir
from .spec import VGGSpec
from .weights import save_weights

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
    data = load_fashion_mnist(config.data_dir)
    train_x, train_y = data.train_images[: config.train_limit], data.train_labels[: config.train_limit]
    test_x, test_y = data.test_images[: config.test_limit], data.test_labels[: config.test_limit]

    network = ir.lower(spec)
    runner = make_runner(network, config)
    if config.init != "framework":
        runner.load_state(initial_weights(network, config.init, config.seed))
    runner.set_optimizer(config.lr)

    run = RunDir.create(out or default_run_dir(spec, config.backend), overwrite=overwrite)
    run.write_json(CONFIG, _config_record(spec, config, backend, runner.device_label))
    say = print if echo else (lambda *a, **k: None)
    say(f"training {spec.name} ({config.backend} on {runner.device_label}) -> {run.path}")

    history = History()
    live = plot.LivePlot(f"{spec.name}, {config.backend}")
    per_epoch = num_batches(len(train_y), config.batch_size)
    point_every = max(per_epoch // POINTS_PER_EPOCH, 1)
    step_seconds, examples_seen = 0.0, 0
    started = time.perf_counter()
    bar = _ProgressBar(config.epochs * per_epoch, enabled=progress)
    for epoch in range(config.epochs):
        loss_sum, correct, seen = 0.0, 0, 0
        epoch_rows = []
        order = batches(
            train_x, train_y, batch_size=config.batch_size, resize=spec.input_size,
            shuffle=True, seed=config.seed, epoch=epoch,
        )  # fmt: skip
        for i, (x, y) in enumerate(order):
            tic = time.perf_counter()
            batch_loss, batch_correct = runner.train_step(x, y)
            took = time.perf_counter() - tic
            if not np.isfinite(batch_loss):
                bar.close()
                raise ConfigError(
                    f"the loss became {batch_loss} at epoch {epoch + 1}, step {i + 1}: "
                    f"the run diverged; try a smaller learning rate than {config.lr}"
                )
            step_seconds += took
            examples_seen += len(y)
            loss_sum, correct, seen = loss_sum + batch_loss, correct + batch_correct, seen + len(y)
            epoch_rows.append(
                {"epoch": epoch + 1, "step": i + 1, "loss": batch_loss / len(y), "acc": batch_correct / len(y),
                 "examples": len(y), "seconds": took}
            )  # fmt: skip
            if (i + 1) % point_every == 0 or i + 1 == per_epoch:
                x_pos = epoch + (i + 1) / per_epoch
                history.points.append({"x": x_pos, "train_loss": loss_sum / seen, "train_acc": correct / seen})
            bar.update(loss_sum / seen, correct / seen, examples_seen / max(step_seconds, 1e-9))
        test_acc = evaluate(runner, test_x, test_y, batch_size=config.batch_size, size=spec.input_size)
        wall = time.perf_counter() - started
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "test_acc": test_acc,
            "examples_per_sec": examples_seen / step_seconds,
            "wall_seconds": wall,
        }
        history.steps += epoch_rows
        history.epochs.append(row)
        run.append_rows(STEPS, epoch_rows)
        run.append_rows(EPOCHS, [row])
        live.update(history.points, history.epochs)
        bar.note(
            f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.3f}, train acc {row['train_acc']:.3f}, "
            f"test acc {test_acc:.3f}, {row['examples_per_sec']:.1f} examples/sec",
            say,
        )
    bar.close()

    wall = time.perf_counter() - started
    save_weights(runner.state(), run.file(WEIGHTS))
    fig = plot.draw(history.points, history.epochs, f"{spec.name}, {config.backend} on {runner.device_label}")
    plot.save(fig, run.file(PLOT))
    last = history.epochs[-1]
    result = RunResult(
        run.path,
        last["train_loss"],
        last["train_acc"],
        last["test_acc"],
        examples_seen / step_seconds,
        examples_seen / wall,
        runner.device_label,
        history,
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
    path: str | Path, *, device: str | None = None, data_dir: str | None = None, batch_size: int | None = None
) -> dict[str, Any]:
    """Re-score a run's saved weights on the test set (on any backend's own device choice)."""
    from .weights import check_compatible, load_weights

    run = RunDir.open(path)
    spec, config = load_config(run)
    config = replace(config, device=device or config.device, data_dir=data_dir or config.data_dir)
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


class _ProgressBar:
    """A rich progress bar with loss, accuracy and examples/s; silent when disabled."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self._progress = None
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}  acc {task.fields[acc]:.3f}  {task.fields[speed]:.1f} ex/s"),
            TimeElapsedColumn(),
            transient=True,
        )
        self._task = self._progress.add_task("train", total=total, loss=float("nan"), acc=0.0, speed=0.0)
        self._progress.start()

    def update(self, loss: float, acc: float, speed: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=loss, acc=acc, speed=speed)

    def note(self, line: str, say: Any) -> None:
        if self._progress is not None:
            self._progress.console.print(line)
        else:
            say(line)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
