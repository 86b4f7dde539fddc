"""The benchmark's tables: computed from its JSON, and the README's copy kept equal to them."""

from __future__ import annotations

import json
from pathlib import Path

from d2lvgg.tools.bench import provenance, speed_table
from d2lvgg.tools.bench.report import frameworks_table

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = json.loads((ROOT / "docs/results/bench/summary-cpu.json").read_text())
OWN_STEP = ROOT / "docs/results/bench/own-step"


def _entry(speed: float, **extra) -> dict:
    return {
        "examples_per_sec": speed,
        "compute_examples_per_sec": 1.2 * speed,
        "fraction_of_matmul_peak": 0.5,
        "timed": "4 steps",
        "batch_size": 8,
        "repeats": 3,
        "command": "bench.py",
    } | extra


def test_the_table_computes_speedups_and_leaves_unmeasured_cells_blank():
    summary = {
        "configs": {
            "both": {
                "torch/d2lvgg": _entry(300.0),
                "torch/textbook": _entry(100.0),
                "mindspore/d2lvgg": _entry(150.0),
                "mindspore/textbook": _entry(60.0),
            },
            "torch only": {"torch/d2lvgg": _entry(50.0), "torch/textbook": _entry(40.0)},
        }
    }
    rows = speed_table(summary).splitlines()[2:]
    timed = "4 steps, batch 8, median of 3"
    assert rows[0] == f"| both | 300.0 | 100.0 | 120.0 | 3.00x | 150.0 | 0.50 | 2.50x | 50% | {timed} |"
    assert rows[1] == f"| torch only | 50.0 | 40.0 | 48.0 | 1.25x |  |  |  | 50% | {timed} |"


def test_the_provenance_names_the_machine_versions_and_every_command():
    text = provenance(SUMMARY)
    assert f"{SUMMARY['machine']['cores']} cores" in text and "torch " in text and "mindspore " in text
    commands = {r["command"] for loops in SUMMARY["configs"].values() for r in loops.values()}
    assert all(f"command: {command}" in text for command in commands)


def test_the_readme_shows_the_measured_tables():
    readme = (ROOT / "README.md").read_text()
    torch_only = dict(SUMMARY)  # PyTorch against the book: the frameworks are compared side by side below
    torch_only["configs"] = {
        name: {key: r for key, r in loops.items() if key.startswith("torch/")}
        for name, loops in SUMMARY["configs"].items()
    }
    assert speed_table(torch_only) in readme, "README's speed table differs from docs/results/bench: regenerate it"
    assert provenance(torch_only) in readme
    records = {
        network: [json.loads((OWN_STEP / f"{name}.json").read_text()) for name in (f"{stem}-cpu", f"{stem}-cpu-jax")]
        for network, stem in (("reduced-32", "reduced-32"), ("small-96", "small-96"))
    }
    side_by_side = frameworks_table(records)
    assert side_by_side in readme, "README's side-by-side table differs from docs/results/bench/own-step: regenerate it"
    assert "| small-96 | PyTorch |" in side_by_side and side_by_side.count("| JAX |") == 2  # both environments'


def test_the_side_by_side_table_gives_each_framework_its_medians_and_the_rounds_range():
    def runs(*speeds: float) -> list[dict]:
        return [{"examples_per_sec": speed} for speed in speeds]

    record = {
        "config": {"batch_size": 10},
        "runs": {
            "torch": {"own": runs(1000, 1000), "d2lvgg": runs(2000, 1000), "textbook": runs(500, 500)},
            "jax": {"own": runs(500, 250), "d2lvgg": runs(500, 500)},
        },
    }
    rows = frameworks_table({"net": [record, record]}).splitlines()[2:]
    assert rows == [  # ms a step of 10 images; d2lvgg/own per round 0.5 and 1.0, JAX's own 2 and 4 x PyTorch's
        "| net | PyTorch | 10.0 | 7.5 | 20.0 | 0.75 (0.50-1.00) | 0.38 | 1.00 |",
        "|  | JAX | 30.0 | 20.0 |  | 0.75 (0.50-1.00) |  | 3.00 |",
    ]
