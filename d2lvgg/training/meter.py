"""The book's ``Accumulator`` for one epoch, read lazily, and the inner loop of SGD steps it times.

A step's loss and correct count stay where the runner left them (on a GPU, say) until a few
steps have queued or a plot point is due; then one ``fetch`` reads them all. The book reads them
with ``float()`` after every step, which stalls the device each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..backends.base import Runner

FETCH_EVERY = 10  # steps between host syncs for the metrics
POINTS_PER_EPOCH = 5  # plot points per epoch


class Meter:
    """Summed loss, correct predictions, examples and step seconds of one epoch, with per-step rows."""

    def __init__(self, runner: Runner, epoch: int, per_epoch: int) -> None:
        self.runner, self.epoch, self.per_epoch = runner, epoch, per_epoch
        self.point_every = max(per_epoch // POINTS_PER_EPOCH, 1)
        self.loss, self.correct, self.examples, self.seconds = 0.0, 0, 0, 0.0
        self.steps = 0
        self.last_read = 0  # steps whose metrics the last read brought in
        self.rows: list[dict[str, Any]] = []
        self.second_step_started: float | None = None  # the first step pays for warm-up: not in estimates
        self._pending: list[tuple[Any, Any, int, float]] = []

    def step(self, train_step: Callable[[Any, Any], tuple[Any, Any]], x: Any, y: Any) -> bool:
        """Run and time one step; ``True`` when the queued metrics were read just now."""
        tic = time.perf_counter()
        if self.steps == 1:
            self.second_step_started = tic
        loss, correct = train_step(x, y)
        self._pending.append((loss, correct, len(y), time.perf_counter() - tic))
        self.steps += 1
        if self.at_point() or len(self._pending) >= FETCH_EVERY:
            self.read()
            return True
        return False

    def at_point(self) -> bool:
        """Whether the last step ends a stretch of the epoch that gets a point on the plot."""
        return self.steps % self.point_every == 0 or self.steps == self.per_epoch

    def read(self) -> None:
        """Fetch the queued metrics (one host sync, counted in the last step's time) into the rows."""
        if not self._pending:
            return
        tic = time.perf_counter()
        values = self.runner.fetch([v for pending in self._pending for v in pending[:2]])
        sync = time.perf_counter() - tic
        first = self.steps - len(self._pending) + 1
        for k, (_, _, n, seconds) in enumerate(self._pending):
            loss, correct = values[2 * k], values[2 * k + 1]
            seconds += sync if k == len(self._pending) - 1 else 0.0
            row = {"epoch": self.epoch + 1, "step": first + k, "loss": loss / n, "acc": correct / n}
            self.rows.append(row | {"examples": n, "seconds": seconds})
            self.loss, self.correct = self.loss + loss, self.correct + int(correct)
            self.examples, self.seconds = self.examples + n, self.seconds + seconds
        self.last_read, self._pending = len(self._pending), []

    @property
    def train_loss(self) -> float:
        return self.loss / self.examples

    @property
    def train_acc(self) -> float:
        return self.correct / self.examples


def train_steps(
    runner: Runner, batches: Iterable[tuple[Any, Any]], meter: Meter, on_read: Callable[[Meter], None]
) -> None:
    """SGD over ``batches`` into ``meter``; ``on_read(meter)`` after each read of the metrics.

    The training loop's inner loop, and what ``d2lvgg bench`` times.
    """
    for x, y in batches:
        if meter.step(runner.train_step, x, y):
            on_read(meter)
    meter.read()
