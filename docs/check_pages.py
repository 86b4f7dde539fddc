"""The built site's key pages in headless Chromium, as a reader sees them, at laptop and phone width.

    python docs/check_pages.py [docs/_build/html]

Opens each page of ``PAGES`` in both languages at 1300 x 900 and 390 x 844 and fails, naming the
page, on: a horizontal scrollbar on the page itself (a wide table must scroll in its own box), a
table of the page's own wider than the reading column at laptop width (a code cell's printed
measurements may scroll in their box), an image that does not load, a link to a page
or file of the site that does not exist, English in the Chinese site's navigation (its title, page
list and footer), and Chinese text drawn as boxes for want of a CJK font. Each view is saved as a
screenshot under ``docs/_build/screenshots/`` for a reviewer. Chromium is the system's (Debian's ``chromium``),
driven by Playwright.
"""

from __future__ import annotations

import itertools
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

PAGES = ["index", "getting-started", "companion", "frameworks", "parity", "speed", "distributed"]
VIEWS = {"laptop": (1300, 900), "phone": (390, 844)}
CJK = re.compile(r"[\u4e00-\u9fff]")
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")

PAGE_STATE = r"""() => ({
  overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  broken: [...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.getAttribute('src')),
  images: [...document.images].map(i => i.src),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  navigation: [...document.querySelectorAll('.sidebar-brand-text, .sidebar-tree a, .copyright')]
    .map(e => e.textContent.trim()),
  // The pages' own tables; a code cell's printed measurements may scroll in their box.
  wideTables: [...document.querySelectorAll('.table-wrapper')]
    .filter(w => !w.closest('.cell_output') && w.scrollWidth > w.clientWidth + 1)
    .map(w => w.querySelector('th, td').textContent.trim()),
  tofu: (() => {
    // A CJK character drawn in the page's font looks like a character no font has: it is a box.
    const ink = document.createElement('canvas').getContext('2d');
    ink.font = '32px ' + getComputedStyle(document.body).fontFamily;
    const pixels = text => {
      ink.clearRect(0, 0, 96, 48);
      ink.fillText(text, 0, 36);
      return ink.getImageData(0, 0, 96, 48).data.join();
    };
    return pixels('\u4e2d\u6587') === pixels('\u{10fffd}\u{10fffd}');
  })(),
})"""


def problems(site: Path, screenshots: Path) -> list[str]:
    """Everything a reader would trip on, one line each."""
    from playwright.sync_api import sync_playwright

    browser_path = next(filter(None, map(shutil.which, CHROMIUM)))
    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        for language, root in (("en", site), ("zh", site / "zh_CN")):
            for name, (view, (width, height)) in itertools.product(PAGES, VIEWS.items()):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto((root / f"{name}.html").as_uri(), wait_until="load")
                state = page.evaluate(PAGE_STATE)
                page.screenshot(path=str(screenshots / f"{language}-{name}-{view}.png"))
                page.close()
                found += [f"{language}/{name}.html at {width} px: {line}" for line in _trips(state, language, view)]
        browser.close()
    return sorted(set(found))


def _trips(state: dict, language: str, view: str) -> list[str]:
    """What is wrong with one page in one view, from ``PAGE_STATE``."""
    found = [f"the page scrolls sideways by {state['overflow']} px"] if state["overflow"] > 1 else []
    found += [f"image {src} does not load" for src in state["broken"]]
    found += [f"{target} does not exist" for target in _missing(state["images"] + state["links"])]
    if view == "laptop":
        found += [f"the table starting {head!r} is wider than the reading column" for head in state["wideTables"]]
    if language == "zh":
        found += [f"navigation in English: {text!r}" for text in state["navigation"] if text and not CJK.search(text)]
        found += ["Chinese text is drawn as boxes: install a CJK font (fonts-noto-cjk)"] if state["tofu"] else []
    return found


def _missing(urls: list[str]) -> list[str]:
    """The site's own files among ``urls`` that are not there."""
    return [unquote(urlparse(url).path) for url in urls if url.startswith("file:") and not _exists(url)]


def _exists(url: str) -> bool:
    return Path(unquote(urlparse(url).path)).exists()


def main() -> int:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "_build" / "html").resolve()
    if not (site / "index.html").is_file() or not (site / "zh_CN" / "index.html").is_file():
        print(f"check_pages: no built site at {site}: run nox -s docs first", file=sys.stderr)
        return 2
    if not any(map(shutil.which, CHROMIUM)):
        print("check_pages: needs Chromium: apt-get install chromium (Debian, Ubuntu)", file=sys.stderr)
        return 2
    screenshots = site.parent / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    found = problems(site, screenshots)
    for line in found:
        print(line, file=sys.stderr)
    views = len(PAGES) * len(VIEWS) * 2
    print(f"{views} views checked, {len(found)} problem(s); screenshots in {screenshots}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
