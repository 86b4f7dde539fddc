"""The benchmark's tables: computed from its JSON, and the README's copy kept equal to them."""

from __future__ import annotations

import json
from pathlib import Path

from d2lvgg.tools.bench import provenance, speed_table

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = json.loads((ROOT / "docs/results/bench/summary-cpu.json").read_text())
FRAMEWORKS = json.loads((ROOT / "docs/results/bench/frameworks/summary-cpu.json").read_text())


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


def test_the_readme_shows_the_measured_table():
    readme = (ROOT / "README.md").read_text()
    for summary in (SUMMARY, FRAMEWORKS):
        assert speed_table(summary) in readme, "README's speed table differs from docs/results/bench: regenerate it"
        assert provenance(summary) in readme
