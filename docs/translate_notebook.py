"""The companion notebook in Chinese: its markdown cells from the zh_CN catalogue, its code unchanged.

The docs build writes it beside the site for readers who open notebooks in Jupyter; the Chinese
site itself renders and executes ``companion.ipynb`` through the same catalogue.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from babel.messages.pofile import read_po

from d2lvgg.atomic import atomic_write

DOCS = Path(__file__).parent
CATALOGUE = DOCS / "locale" / "zh_CN" / "LC_MESSAGES" / "companion.po"


def _translator(catalogue_path: Path):
    with catalogue_path.open("rb") as handle:
        catalogue = read_po(handle)

    def translate(text: str) -> str:
        message = catalogue.get(" ".join(text.split()))
        return message.string if message is not None and message.string and not message.fuzzy else text

    return translate


def translate_markdown(source: str, translate) -> str:
    """Each heading, list item and paragraph of a markdown cell replaced by its translation."""
    blocks = []
    for block in source.split("\n\n"):
        heading = re.match(r"(#+) (.*)", block)
        if heading:
            blocks.append(f"{heading.group(1)} {translate(heading.group(2))}")
        elif block.startswith("- "):
            items = re.split(r"\n(?=- )", block)
            blocks.append("\n".join(f"- {translate(item[2:])}" for item in items))
        else:
            blocks.append(translate(block))
    return "\n\n".join(blocks)


def write_chinese_notebook(out: Path) -> Path:
    notebook = json.loads((DOCS / "companion.ipynb").read_text(encoding="utf-8"))
    translate = _translator(CATALOGUE)
    chinese = copy.deepcopy(notebook)
    for cell in chinese["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = translate_markdown("".join(cell["source"]), translate).splitlines(keepends=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, encoding="utf-8") as handle:  # the two sites' builds may write it at once
        handle.write(json.dumps(chinese, ensure_ascii=False, indent=1) + "\n")
    return out


if __name__ == "__main__":
    print(write_chinese_notebook(DOCS / "_generated" / "download" / "companion.zh_CN.ipynb"))
