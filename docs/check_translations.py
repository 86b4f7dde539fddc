"""Fail when the Chinese catalogue lags the English pages: every message must be translated, none fuzzy.

Run after ``sphinx-build -b gettext docs docs/_build/gettext``: each fresh template's messages are
looked up in ``docs/locale/zh_CN``. A message without words (numbers, code, Chinese already) may
stay empty; the API reference's docstrings stay in English, its prose does not.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

DOCS = Path(__file__).parent
TEMPLATES = DOCS / "_build" / "gettext"
CATALOGUE = DOCS / "locale" / "zh_CN" / "LC_MESSAGES"
CODE = re.compile(r"`[^`]*`|\]\([^)]*\)|https?://\S+")  # inline code, link targets and addresses


def needs_words(message: str) -> bool:
    """Whether a message holds prose: letters outside inline code and link targets."""
    return re.search(r"[A-Za-z]{2,}", CODE.sub("", message)) is not None


def on_a_page(locations: list[tuple[str, int | None]]) -> bool:
    """Whether a message comes from a page (.md, .ipynb) rather than only from a docstring autodoc read."""
    return any(path.endswith((".md", ".ipynb")) for path, _ in locations)


def problems() -> list[str]:
    found = []
    for template in sorted(TEMPLATES.glob("*.pot")):
        with template.open("rb") as handle:
            wanted = read_po(handle)
        catalogue_path = CATALOGUE / f"{template.stem}.po"
        if not catalogue_path.exists():
            found.append(f"{catalogue_path.name}: missing (run sphinx-intl update -p docs/_build/gettext -l zh_CN)")
            continue
        with catalogue_path.open("rb") as handle:
            catalogue = read_po(handle)
        for message in wanted:
            if not message.id or not on_a_page(message.locations) or not needs_words(message.id):
                continue
            have = catalogue.get(message.id)
            page = next(f"{Path(p).name}:{line}" for p, line in message.locations if p.endswith((".md", ".ipynb")))
            where = f"{catalogue_path.name} ({page})"
            if have is None or not have.string:
                found.append(f"{where}: untranslated: {message.id[:70]}")
            elif have.fuzzy:
                found.append(f"{where}: fuzzy (the English changed): {message.id[:70]}")
    return found


def main() -> int:
    if not TEMPLATES.is_dir():
        print(f"no message templates in {TEMPLATES}: run sphinx-build -b gettext docs {TEMPLATES} first")
        return 2
    found = problems()
    for line in found:
        print(line)
    print(f"{len(found)} message(s) of the Chinese catalogue untranslated or fuzzy" if found else "zh_CN: complete")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
