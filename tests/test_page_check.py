"""docs/check_pages.py, the browser check of the built site: its refusals, and what it counts as a trip."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "check_pages.py"


def _module():
    spec = importlib.util.spec_from_file_location("check_pages", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_built_site_it_says_what_to_run_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "run nox -s docs first" in done.stderr


def test_a_page_trips_on_sideways_scrolling_missing_files_and_english_navigation(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    state = {
        "overflow": 240,
        "broken": ["_images/curves.png"],
        "images": [page.as_uri()],
        "links": [(tmp_path / "gone.html").as_uri() + "#top", "https://example.org/"],
        "navigation": ["d2lvgg：用 PyTorch 实现 VGG", "Getting started", ""],
    }
    trips = _module()._trips(state, "zh")
    assert trips == [
        "the page scrolls sideways by 240 px",
        "image _images/curves.png does not load",
        f"{tmp_path / 'gone.html'} does not exist",
        "navigation in English: 'Getting started'",
    ]
    assert _module()._trips({**state, "overflow": 1, "broken": [], "links": []}, "en") == []
