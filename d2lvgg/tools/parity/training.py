"""The training check: both backends train on the same batches, and their accuracies and curves compared."""

from __future__ import annotations

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
    from ...training import plot
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
    fig = plot.overlay({b: r.history for b, r in results.items()}, f"{spec.name}: {' vs '.join(backends)}")
    out.mkdir(parents=True, exist_ok=True)  # a pair whose backends both trained for earlier pairs
    plot.save(fig, out / "training-overlay")
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
        },
    )
