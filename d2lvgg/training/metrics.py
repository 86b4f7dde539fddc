"""One epoch's metrics: the book's ``Accumulator(3)`` (summed loss, correct predictions, examples).

A step's loss and correct count stay where the runner left them (on a GPU, say) until a few
steps have queued or a plot point is due; then ``read`` brings them all in with one ``fetch``.
The book reads them with ``float()`` after every step, which stalls the device each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

FETCH_EVERY = 10  # steps between host syncs for the metrics
POINTS_PER_EPOCH = 5  # plot points per epoch


@dataclass
class Step:
    """One training step as the runner returned it: loss and correct count, maybe still on the device."""

    loss: Any
    correct: Any
    examples: int
    seconds: float


class EpochMetrics:
    """Sums of loss, correct predictions, examples and step seconds over one epoch, and a row per step."""

    def __init__(self, epoch: int, per_epoch: int) -> None:
        self.epoch, self.per_epoch = epoch, per_epoch
        self.point_every = max(per_epoch // POINTS_PER_EPOCH, 1)
        self.loss, self.correct, self.examples, self.seconds = 0.0, 0, 0, 0.0
        self.steps = 0
        self.last_read = 0  # steps the last read brought in
        self.rows: list[dict[str, Any]] = []
        self.warm_since: float | None = None  # the end of step 1, which pays for warm-up: not in estimates
        self.first_step = 0.0  # step 1's seconds: a compiling framework's (JAX's) compile time
        self._queued: list[Step] = []

    def add(self, loss: Any, correct: Any, examples: int, seconds: float) -> None:
        """Queue one step's results; ``due`` says when to ``read`` them."""
        self._queued.append(Step(loss, correct, examples, seconds))
        self.steps += 1
        if self.steps == 1:
            self.warm_since, self.first_step = time.perf_counter(), seconds

    def due(self) -> bool:
        """Whether the queued steps should be read now: a plot point is due, or enough have queued."""
        return self.at_point() or len(self._queued) >= FETCH_EVERY

    def at_point(self) -> bool:
        """Whether the last step ends a stretch of the epoch that gets a point on the plot."""
        return self.steps % self.point_every == 0 or self.steps == self.per_epoch

    def read(self, fetch: Callable[[list[Any]], list[float]]) -> None:
        """Bring the queued steps in with one ``fetch`` (a host sync, counted in the last step's time)."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        tic = time.perf_counter()
        values = fetch([step.loss for step in queued] + [step.correct for step in queued])
        queued[-1].seconds += time.perf_counter() - tic
        losses, corrects = values[: len(queued)], values[len(queued) :]
        for number, step, loss, correct in zip(count(self.steps - len(queued) + 1), queued, losses, corrects):
            row = {"epoch": self.epoch + 1, "step": number, "loss": loss / step.examples}
            self.rows.append(row | {"acc": correct / step.examples, "examples": step.examples, "seconds": step.seconds})
            self.loss, self.correct = self.loss + loss, self.correct + int(correct)
            self.examples, self.seconds = self.examples + step.examples, self.seconds + step.seconds
        self.last_read = len(queued)

    @property
    def last_stretch(self) -> tuple[int, float]:
        """The examples and step seconds of the steps the last ``read`` brought in."""
        rows = self.rows[len(self.rows) - self.last_read :]
        return sum(row["examples"] for row in rows), sum(row["seconds"] for row in rows)

    @property
    def train_loss(self) -> float:
        return self.loss / self.examples

    @property
    def train_acc(self) -> float:
        return self.correct / self.examples
