"""Side-by-side comparison of finished runs: one table, one overlaid plot, one markdown file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RunError
from ..language import word
from ..model.analysis import summarize
from ..training.checkpoint import load_checkpoint
from ..training.rundir import CHECKPOINT, EPOCHS, RESULT, RunDir

HEADERS = [
    "run",
    "backend",
    "device",
    "arch",
    "input",
    "params",
    "MACs",
    "train loss",
    "train acc",
    "test acc",
    "examples/s",
    "wall s",
]


@dataclass(frozen=True)
class RunSummary:
    """What one finished run folder says about itself."""

    label: str
    backend: str
    device: str
    arch: str
    input_size: int
    params: int
    macs: int
    train_loss: float
    train_acc: float
    test_acc: float
    examples_per_sec: float
    wall_seconds: float
    history: Any

    def cells(self) -> list[str]:
        from .render import human

        return [
            self.label,
            self.backend,
            self.device,
            self.arch,
            str(self.input_size),
            human(self.params),
            human(self.macs),
            f"{self.train_loss:.3f}",
            f"{self.train_acc:.3f}",
            f"{self.test_acc:.3f}",
            f"{self.examples_per_sec:.1f}",
            f"{self.wall_seconds:.0f}",
        ]


def _history(run: RunDir) -> Any:
    """The run's curves from its last checkpoint; from ``epochs.csv``, a point an epoch, where the checkpoint of a
    finished run was deleted to save space (as the docs' result folders are kept)."""
    from ..training.report import History

    if run.file(CHECKPOINT).is_file():
        progress = load_checkpoint(run.path).progress
        return History(progress["steps"], progress["epochs"], progress["points"])
    epochs = run.read_rows(EPOCHS)
    return History(
        [], epochs, [{"x": row["epoch"], **{k: row[k] for k in ("train_loss", "train_acc")}} for row in epochs]
    )


def load_run(path: str | Path) -> RunSummary:
    """Read a finished run folder; an unfinished one is an error that says so."""
    from ..training.setup import load_config

    run = RunDir.open(path)
    if not run.file(RESULT).is_file():
        raise RunError(f"{run.path} has not finished (no {RESULT}); resume it with: d2lvgg train --resume {run.path}")
    spec, config = load_config(run)
    result = run.read_json(RESULT)
    history = _history(run)
    static = summarize(spec)
    return RunSummary(
        run.path.name,
        config.backend,
        result["device"],
        spec.name,
        spec.input_size,
        static.total_params,
        static.total_macs,
        result["train_loss"],
        result["train_acc"],
        result["test_acc"],
        result["step_examples_per_sec"],
        run.read_rows(EPOCHS)[-1]["wall_seconds"],
        history,
    )


def compare_runs(paths: list[str | Path], out: Path) -> tuple[list[RunSummary], list[Path]]:
    """Load the runs and write ``compare.md``, ``compare.png`` and ``compare.svg`` into ``out``."""
    from ..training import plot
    from .render import markdown_table

    runs = [load_run(p) for p in paths]
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise RunError(f"two runs share a folder name ({', '.join(labels)}); give them distinct folder names")
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(HEADERS, [r.cells() for r in runs])
    (out / "compare.md").write_text(f"### Comparison of {len(runs)} runs\n\n{table}\n")
    fig = plot.overlay({r.label: r.history for r in runs}, word("comparison"))
    written = [out / "compare.md", *plot.save(fig, out / "compare")]
    return runs, written


def redraw_curves(path: str | Path, stem: Path) -> list[Path]:
    """A finished run's curves drawn again from its folder, in the current language: ``stem.png`` and ``.svg``."""
    from ..training import plot

    run = load_run(path)
    title = f"{run.arch}, {run.backend} on {run.device}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    return plot.save(plot.draw(run.history.points, run.history.epochs, title), stem)
