"""The training check: both backends train on the same batches, and their accuracies and curves compared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...model.spec import VGGSpec
from .checks import Check, default_pair

TRAINING_POINTS = 0.02  # final test accuracies may differ by two points


def check_training(
    spec: VGGSpec, config: Any, out: Path, backends: tuple[str, str] | None = None, trained: dict | None = None
) -> Check:
    """Both backends train from the same initial weights on the same batches; curves overlaid.

    ``trained`` holds runs already made (backend -> result) and gains this check's: across several
    pairs, each backend trains once.
    """
    from ...training.loop import train

    backends = backends or default_pair()
    trained = {} if trained is None else trained
    for backend in backends:
        if backend not in trained:
            folder = out / f"train-{backend}"
            trained[backend] = train(spec, config.for_backend(backend), out=folder, overwrite=True, progress=False)
    results = {backend: trained[backend] for backend in backends}
    accs = {b: r.test_acc for b, r in results.items()}
    gap = abs(accs[backends[0]] - accs[backends[1]])
    curves = {b: _curves(r.history) for b, r in results.items()}
    out.mkdir(parents=True, exist_ok=True)  # a pair whose backends both trained for earlier pairs
    draw_overlay(f"{spec.name}: {' vs '.join(backends)}", curves, out / "training-overlay")
    return Check(
        "training",
        gap <= TRAINING_POINTS,
        ", ".join(f"{b} test acc {a:.3f}" for b, a in accs.items()) + f" (gap {gap * 100:.1f} points)",
        f"gap <= {TRAINING_POINTS * 100:g} points",
        {
            "test_acc": accs,
            "gap": gap,
            "plot": str(out / "training-overlay.png"),
            "examples_per_sec": {b: r.step_examples_per_sec for b, r in results.items()},
            "curves": curves,
        },
    )


def _curves(history: Any) -> dict[str, list[dict[str, Any]]]:
    """What the overlay draws of one run, kept in the report so the figure can be drawn again."""
    return {
        "points": history.points,
        "epochs": [{"epoch": row["epoch"], "test_acc": row["test_acc"]} for row in history.epochs],
    }


def draw_overlay(title: str, curves: dict[str, dict[str, list]], stem: Path) -> list[Path]:
    """Both backends' curves on one figure, in the current language: ``stem.png`` and ``.svg``."""
    from ...training import plot
    from ...training.report import History

    histories = {backend: History(points=c["points"], epochs=c["epochs"]) for backend, c in curves.items()}
    stem.parent.mkdir(parents=True, exist_ok=True)
    return plot.save(plot.overlay(histories, title), stem)


def redraw_overlay(record: Path, stem: Path) -> list[Path]:
    """The training overlay drawn again from a pair's ``parity.json``; nothing where it has no curves."""
    report = json.loads(record.read_text())
    training = next((c for c in report["checks"] if c["name"] == "training"), None)
    if training is None or "curves" not in training["details"]:
        return []
    return draw_overlay(f"{report['arch']}: {' vs '.join(report['backends'])}", training["details"]["curves"], stem)
