"""The textbook's training plot: train loss and accuracy five times an epoch, test accuracy once.

Always written to disk (PNG and SVG); also shown live when running inside a Jupyter kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..language import word


def _pyplot():
    import matplotlib

    if not _in_notebook():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def draw(points: Sequence[dict[str, Any]], epochs: Sequence[dict[str, Any]], title: str = "") -> Any:
    """A figure with train loss and train acc (``points``) and test acc (``epochs``) against epoch."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = [p["x"] for p in points]
    ax.plot(xs, [p["train_loss"] for p in points], "-", label=word("train loss"))
    ax.plot(xs, [p["train_acc"] for p in points], "m--", label=word("train acc"))
    test = [e["test_acc"] for e in epochs]
    ax.plot([e["epoch"] for e in epochs], test, "g-.", marker="o", label=word("test acc"))
    last = max([*xs, *(e["epoch"] for e in epochs), 1])
    ax.set_xlim(0, last)
    ax.set_xlabel(word("epoch"))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def save(fig: Any, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` and close ``fig`` (pyplot keeps every open figure); both paths."""
    paths = [Path(f"{stem}.png"), Path(f"{stem}.svg")]
    try:
        for path in paths:
            with atomic_write(path, "wb") as handle:  # a reader (another build, a browser) never sees half a figure
                fig.savefig(handle, format=path.suffix[1:], dpi=120)
    finally:
        _pyplot().close(fig)
    return paths


class LivePlot:
    """Redraws the figure in place in a notebook; does nothing elsewhere."""

    def __init__(self, title: str = "") -> None:
        self.enabled = _in_notebook()
        self.title = title
        self._handle = None

    def update(self, points: Sequence[dict[str, Any]], epochs: Sequence[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        from IPython.display import display

        fig = draw(points, epochs, self.title)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        _pyplot().close(fig)


def overlay(histories: dict[str, Any], title: str = "") -> Any:
    """Several runs' train loss (lines) and test accuracy (markers) on one figure, one colour each."""
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.5))
    for i, (label, history) in enumerate(histories.items()):
        colour = f"C{i}"
        xs = [p["x"] for p in history.points]
        loss_ax.plot(xs, [p["train_loss"] for p in history.points], "-", color=colour, label=label)
        train = [p["train_acc"] for p in history.points]
        acc_ax.plot(xs, train, "--", color=colour, label=f"{label} {word('train')}")
        epochs = [e["epoch"] for e in history.epochs]
        test = [e["test_acc"] for e in history.epochs]
        acc_ax.plot(epochs, test, "o-.", color=colour, label=f"{label} {word('test')}")
    for ax, name in ((loss_ax, "train loss"), (acc_ax, "accuracy")):
        ax.set_xlabel(word("epoch"))
        ax.set_ylabel(word(name))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
