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


def test_a_page_trips_on_sideways_scrolling_wide_tables_missing_files_english_navigation_and_tofu(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    state = {
        "overflow": 240,
        "broken": ["_images/curves.png"],
        "images": [page.as_uri()],
        "links": [(tmp_path / "gone.html").as_uri() + "#top", "https://example.org/"],
        "navigation": ["d2lvgg：用 PyTorch 实现 VGG", "Getting started", ""],
        "wideTables": ["step"],
        "tofu": True,
    }
    trips = _module()._trips(state, "zh", "laptop")
    assert trips == [
        "the page scrolls sideways by 240 px",
        "image _images/curves.png does not load",
        f"{tmp_path / 'gone.html'} does not exist",
        "the table starting 'step' is wider than the reading column",
        "navigation in English: 'Getting started'",
        "Chinese text is drawn as boxes: install a CJK font (fonts-noto-cjk)",
    ]
    on_a_phone = _module()._trips({**state, "overflow": 1, "broken": [], "links": []}, "en", "phone")
    assert on_a_phone == []  # a wide table scrolls in its box on a phone; English pages need no CJK font
