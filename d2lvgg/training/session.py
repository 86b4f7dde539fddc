"""A run in progress: its runner and data, its folder, and what it shows; the loop's helpers.

``loop.fit`` reads like the book's ``train_ch6``; the machinery it calls lives here: seeded
batches (from the device or from numpy), plot points and the progress bar after each metrics
read, the one-time estimate, the divergence check, per-epoch rows and checkpoints, a new thread
probe when an epoch slows down, Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..backends.base import Runner
from ..data.fashion_mnist import FashionMNIST
from ..data.pipeline import epoch_batches, num_batches
from ..errors import ConfigError, RunError, RunInterrupted
from ..model.spec import VGGSpec
from . import plot
from .checkpoint import Checkpoint, save_checkpoint
from .config import TrainConfig
from .metrics import EpochMetrics
from .progress import ProgressBar
from .report import History, RunResult, epoch_line, estimate_line
from .rundir import CONFIG, EPOCHS, PLOT, RESULT, STEPS, WEIGHTS, RunDir
from .threads import ThreadWatch
from .weights import save_weights

ESTIMATE_AFTER = 8  # steps measured before the time estimate is printed
COMPILED = 10  # a first step this many times slower than the next ones compiled the step: the estimate says so


@contextmanager
def _sigterm_as_ctrl_c(active: bool) -> Iterator[None]:
    """Inside the block, the first SIGTERM raises ``KeyboardInterrupt`` (a second one ends the process)."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@dataclass
class Progress:
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


class Session:
    """One run's runner, data and folder, with the metrics so far; ``show`` turns the display on."""

    def __init__(
        self, spec: VGGSpec, config: TrainConfig, run: RunDir, runner: Runner, data: FashionMNIST, done: Progress
    ) -> None:
        self.spec, self.config, self.run, self.runner, self.done = spec, config, run, runner, done
        self.train_data = data.train_images[: config.train_limit], data.train_labels[: config.train_limit]
        self.test_data = data.test_images[: config.test_limit], data.test_labels[: config.test_limit]
        self.train_feed = runner.data(*self.train_data, spec.input_size)
        self.test_feed = runner.data(*self.test_data, spec.input_size)
        self.steps_per_epoch = num_batches(len(self.train_data[1]), config.batch_size)
        self.first_epoch = len(done.epochs)
        self.say: Any = print
        self.bar = ProgressBar(0, enabled=False)
        self.live = plot.LivePlot(f"{spec.name}, {config.backend}")
        self.threads: ThreadWatch | None = None  # set where the thread count was probed
        self._estimate_due = True
        self._started = time.perf_counter() - done.wall_seconds

    def show(self, *, progress: bool, echo: bool) -> None:
        """Print the run's lines (``echo``) and a live progress bar (``progress``); the leader's alone."""
        progress, echo = (progress, echo) if self.runner.world.leader else (False, False)
        self.say = print if echo else (lambda *args, **kwargs: None)
        total = self.config.epochs * self.steps_per_epoch
        self.bar = ProgressBar(total, completed=self.first_epoch * self.steps_per_epoch, enabled=progress)
        verb = f"resuming at epoch {self.first_epoch + 1}" if self.first_epoch else "training"
        if self.first_epoch == self.config.epochs:
            verb = f"writing the end files of all {self.first_epoch} epochs of"
        where = f"{self.config.backend} on {self.runner.device_label}"
        if self.runner.world.size > 1:
            where += f" and {self.runner.world.size - 1} more, {self.runner.world.engine}"
        self.say(f"{verb} {self.spec.name} ({where}) -> {self.run.path}")

    def train_batches(self, epoch: int) -> Iterator[tuple[Any, Any]]:
        """Epoch ``epoch``'s shuffled batches, the same in every backend and on every resume."""
        return self._batches(self.train_data, self.train_feed, shuffle=True, epoch=epoch)

    def test_batches(self) -> Iterator[tuple[Any, Any]]:
        return self._batches(self.test_data, self.test_feed, shuffle=False, epoch=0)

    def _batches(self, data: tuple[np.ndarray, np.ndarray], feed: Any, *, shuffle: bool, epoch: int) -> Iterator:
        size, seed = self.spec.input_size, self.config.seed
        return epoch_batches(
            *data, batch_size=self.config.batch_size, size=size, shuffle=shuffle, seed=seed, epoch=epoch, feed=feed
        )

    def after_read(self, metrics: EpochMetrics) -> None:
        """Fresh metrics: stop on a diverged loss, add a plot point, move the bar, estimate once."""
        if not np.isfinite(metrics.loss):
            self._diverged(metrics)
        if metrics.at_point():
            x = metrics.epoch + metrics.steps / metrics.per_epoch
            self.done.points.append({"x": x, "train_loss": metrics.train_loss, "train_acc": metrics.train_acc})
        speed = (self.done.examples_seen + metrics.examples) / max(self.done.step_seconds + metrics.seconds, 1e-9)
        self.bar.update(metrics.train_loss, metrics.train_acc, speed, metrics.last_read)
        self._watch_threads(*metrics.last_stretch)
        if self._estimate_due and metrics.steps >= ESTIMATE_AFTER and metrics.warm_since is not None:
            per_step = (time.perf_counter() - metrics.warm_since) / (metrics.steps - 1)
            epochs = (self.first_epoch, self.config.epochs)
            compiled = metrics.first_step if metrics.first_step > COMPILED * per_step else 0.0
            line = estimate_line(
                per_step * metrics.per_epoch,
                metrics.steps - 1,
                self.spec,
                self.runner.device_label,
                epochs,
                first_step=compiled,
            )
            self.say(line)
            self._estimate_due = False

    def _diverged(self, metrics: EpochMetrics) -> None:
        bad = next(row for row in metrics.rows if not np.isfinite(row["loss"]))
        if self.runner.world.leader:
            self.run.append_rows(STEPS, metrics.rows[: metrics.rows.index(bad) + 1])
        raise ConfigError(
            f"the loss became {bad['loss']} at epoch {bad['epoch']}, step {bad['step']}: the run "
            f"diverged; try a smaller learning rate than {self.config.lr} (metrics so far are in {self.run.path})"
        )

    def end_epoch(self, metrics: EpochMetrics, test_acc: float) -> None:
        """The epoch's metrics to the CSVs, the plot and the screen, then a checkpoint."""
        done = self.done
        done.step_seconds += metrics.seconds
        done.examples_seen += metrics.examples
        done.wall_seconds = time.perf_counter() - self._started
        row = {"epoch": metrics.epoch + 1, "train_loss": metrics.train_loss, "train_acc": metrics.train_acc}
        row |= {"test_acc": test_acc, "examples_per_sec": done.examples_seen / done.step_seconds}
        row["wall_seconds"] = done.wall_seconds
        done.steps += metrics.rows
        done.epochs.append(row)
        if self.runner.world.leader:
            checkpoint = Checkpoint(metrics.epoch + 1, self.runner.state(), self.runner.optimizer_state(), asdict(done))
            try:
                self.run.append_rows(STEPS, metrics.rows)
                self.run.append_rows(EPOCHS, [row])
                save_checkpoint(self.run.path, checkpoint)
            except OSError as exc:  # a full disk or quota: the last checkpoint written is whole (atomic_write)
                raise RunError(
                    f"writing epoch {metrics.epoch + 1}'s files into {self.run.path} failed ({exc.strerror or exc}); "
                    f"the previous checkpoint is kept: make room, then d2lvgg train --resume {self.run.path}"
                ) from None
            self.live.update(done.points, done.epochs)
        self.bar.note(epoch_line(row, self.config.epochs), self.say)

    def _watch_threads(self, examples: int, seconds: float) -> None:
        """A new thread count when the steps showed it faster: said, and recorded in ``config.json``."""
        changed = self.threads.after_steps(examples, seconds) if self.threads else None
        if changed is None:
            return
        self.bar.note(f"threads: now {changed.count} ({changed.why})", self.say)
        if self.runner.world.leader:
            record = self.run.read_json(CONFIG)
            earlier = record["threads"].pop("earlier", []) + [record["threads"]]
            self.run.write_json(CONFIG, record | {"threads": changed.record() | {"earlier": earlier}})

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Ctrl-C, or a SIGTERM as a scheduler sends it, becomes a ``RunInterrupted`` that says how to resume.

        The bar is closed and the run folder's lock released either way. A launched process
        (data-parallel) leaves SIGTERM to its launcher.
        """
        try:
            with _sigterm_as_ctrl_c(self.runner.world.size == 1):
                yield
        except KeyboardInterrupt:
            self.bar.close()
            done, path = len(self.done.epochs), self.run.path
            if done == self.config.epochs:
                raise RunInterrupted(
                    f"interrupted while writing the end files; all {done} epochs are saved in {path}. "
                    f"Finish it (weights, plot, result) with: d2lvgg train --resume {path}"
                ) from None
            raise RunInterrupted(
                f"interrupted; {done} finished epoch(s) are saved in {path}. Resume with: d2lvgg train --resume {path}"
            ) from None
        finally:
            self.bar.close()
            self.run.release()  # another process may resume or read it now

    def finish(self) -> RunResult:
        """Weights, the plot and ``result.json``; the book's closing lines."""
        done = self.done
        if self.runner.world.leader:
            save_weights(self.runner.state(), self.run.file(WEIGHTS))
            title = f"{self.spec.name}, {self.config.backend} on {self.runner.device_label}"
            plot.save(plot.draw(done.points, done.epochs, title), self.run.file(PLOT))
        last = done.epochs[-1]
        result = RunResult(
            path=self.run.path,
            train_loss=last["train_loss"],
            train_acc=last["train_acc"],
            test_acc=last["test_acc"],
            step_examples_per_sec=done.examples_seen / done.step_seconds,
            wall_examples_per_sec=done.examples_seen / done.wall_seconds,
            device=self.runner.device_label,
            history=done.history,
        )
        if self.runner.world.leader:
            self.run.write_json(RESULT, {k: v for k, v in asdict(result).items() if k not in ("history", "path")})
        for line in result.summary_lines():
            self.say(line)
        return result
