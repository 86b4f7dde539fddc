"""Every result figure the pages show can be drawn again in Chinese from the data beside it (docs/conf.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
FIGURE = re.compile(r"\]\((results/[^)]+\.png)\)")


def _figures() -> list[Path]:
    return sorted({DOCS / found for page in DOCS.glob("*.md") for found in FIGURE.findall(page.read_text())})


def _redrawable(figure: Path) -> bool:
    """Whether the zh_CN build finds what it redraws ``figure`` from."""
    folder = figure.parent
    if figure.name == "curves.png":
        return (folder / "epochs.csv").is_file() and (folder / "config.json").is_file()
    if figure.name == "compare.png":
        return (folder / "sweep.json").is_file()
    if figure.name == "training-overlay.png":
        training = [c for c in json.loads((folder / "parity.json").read_text())["checks"] if c["name"] == "training"]
        return bool(training) and "curves" in training[0]["details"]
    return False


def test_the_pages_show_result_figures_and_each_has_its_data_for_the_chinese_site():
    figures = _figures()
    assert len(figures) >= 8 and all(figure.is_file() for figure in figures)
    assert [str(f.relative_to(DOCS)) for f in figures if not _redrawable(f)] == []
