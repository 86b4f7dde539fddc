"""A live progress bar for training: loss, accuracy and examples/s; silent when disabled."""

from __future__ import annotations

from typing import Any


class ProgressBar:
    """A rich progress bar (transient: it leaves the per-epoch lines behind, not itself)."""

    def __init__(self, total: int, *, completed: int = 0, enabled: bool) -> None:
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
        self._task = self._progress.add_task(
            "train", total=total, completed=completed, loss=float("nan"), acc=0.0, speed=0.0
        )
        self._progress.start()

    def update(self, loss: float, acc: float, speed: float, steps: int = 1) -> None:
        """``steps`` more steps are done; show the running loss, accuracy and examples/sec."""
        if self._progress is not None:
            self._progress.update(self._task, advance=steps, loss=loss, acc=acc, speed=speed)

    def note(self, line: str, say: Any) -> None:
        if self._progress is not None:
            self._progress.console.print(line)
        else:
            say(line)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
