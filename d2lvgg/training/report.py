"""What a run tells its user: the per-epoch line, the time estimate, and the closing result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.spec import VGGSpec

LAB_SECONDS = 15 * 60  # a run longer than this on a CPU does not fit a class
# Configurations that fit a class on a CPU, measured on a 2-core machine (docs/classroom.md).
CPU_SUGGESTIONS = (
    "--recipe d2l-cpu (the book's recipe on VGG-11 / 8 at 32 px: 0.87 test accuracy in 1 to 3 minutes on 2 cores)",
    "--recipe cpu-lab (the lab recipe: 0.92 test accuracy in about 4 minutes on 2 cores)",
    "--arch d2l_vgg11 --ratio 16 --head 256,256 --resize 32 --batch-size 64 (about 15 s an epoch on 2 cores)",
    "d2lvgg sweep --list (comparison grids sized for a 2-core lab machine)",
)


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


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """One finished epoch, as the book prints its closing line."""
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.3f}, train acc {row['train_acc']:.3f}, "
        f"test acc {row['test_acc']:.3f}, {row['examples_per_sec']:.1f} examples/sec"
    )


def estimate_line(
    seconds: float,
    steps: int,
    spec: VGGSpec,
    device_label: str,
    epochs: tuple[int, int],
    *,
    first_step: float = 0.0,
) -> str:
    """Expected time per epoch and for the epochs left of ``epochs = (done, total)``; CPU advice at 224 px.

    ``first_step``, when given, is a first step far slower than the rest (a compiled step's compile, as
    JAX's ``jit``; a first allocation elsewhere): the line says how long it took, and that it is left out.
    """
    done, total = epochs
    left = total - done
    still = " still to run" if done else ""
    line = (
        f"estimate from {steps} steps: about {duration(seconds)} per epoch, "
        f"{duration(seconds * left)} for {left} epochs{still} (plus evaluation)"
    )
    if first_step:
        warm_up = "to warm up (compiling, where the framework compiles)"
        line += f"; the first step took {first_step:.1f} s {warm_up} and is left out"
    if device_label.startswith("cpu") and spec.input_size >= 224 and seconds * left > LAB_SECONDS:
        line += "\non a CPU at 224 px this is slow; configurations that fit a class:\n  " + "\n  ".join(CPU_SUGGESTIONS)
    return line


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
