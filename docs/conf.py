"""Sphinx configuration: MyST pages and notebooks, executed on every build; tabs; API from docstrings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from docutils import nodes
from sphinx.transforms import SphinxTransform

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

project = "d2lvgg"
author = "the d2lvgg developers"
copyright = "2026, the d2lvgg developers"

extensions = [
    "myst_nb",  # MyST markdown, .ipynb notebooks and text notebooks, executed by the build
    "sphinx_design",  # tab sets: each framework's form of a step side by side
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]
myst_enable_extensions = ["colon_fence", "deflist", "tasklist"]
myst_heading_anchors = 3

nb_execution_mode = "force"  # every notebook and code cell runs on every build: outputs cannot go stale
nb_execution_raise_on_error = True
nb_execution_timeout = 900
nb_merge_streams = True
nb_render_markdown_format = "myst"  # Markdown outputs (the summary tables) rendered with tables, as the pages are

# JAX needs numpy 2 and MindSpore numpy 1, so the docs environment (MindSpore's) cannot hold JAX: its tabs are
# skipped here and run by tests/test_doc_tabs.py in the tests-jax session instead.
doctest_global_setup = "import importlib.util\nhas_jax = importlib.util.find_spec('jax') is not None"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}

exclude_patterns = ["_build", "_generated", "runs", "results/**/*.md", "**/.ipynb_checkpoints"]

# Two languages from the same sources: English, and Simplified Chinese from docs/locale/zh_CN (gettext
# catalogues kept with sphinx-intl; `sphinx-build -D language=zh_CN` builds the Chinese site).
language = "en"
locale_dirs = ["locale/"]
gettext_compact = False  # one catalogue per page
gettext_uuid = False

templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["tables.css"]  # comparison tables: a readable first column, scrolling in their own box
html_theme = "furo"
html_sidebars = {
    "**": [
        "sidebar/brand.html",
        "sidebar/language.html",  # the switch to the same page in the other language
        "sidebar/search.html",
        "sidebar/scroll-start.html",
        "sidebar/navigation.html",
        "sidebar/scroll-end.html",
    ]
}
# The header's and sidebar's title in each site's language (-D language=... is applied after this file runs).
TITLES = {
    "en": "d2lvgg: VGG from Dive into Deep Learning, in five frameworks",
    "zh_CN": "d2lvgg：《动手学深度学习》的 VGG，五个框架实现",
}
html_title = TITLES["en"]


def _draw_networks() -> None:
    """The network drawings the pages show, generated from the presets on every build."""
    from d2lvgg.model.presets import preset
    from d2lvgg.tools.drawing import save_drawing

    out = DOCS / "_generated"
    out.mkdir(exist_ok=True)
    for name in ("d2l_vgg11", "d2l_vgg11_small", "alexnet", "vgg16", "vgg19"):
        save_drawing(preset(name), out / f"{name}-blocks")


def _chinese_notebook() -> None:
    """The companion notebook with its text from the zh_CN catalogue, for the download link in its first cell."""
    sys.path.insert(0, str(DOCS))
    from translate_notebook import write_chinese_notebook

    write_chinese_notebook(DOCS / "_generated" / "download" / "companion.zh_CN.ipynb")


def _load_frameworks() -> None:
    """Each installed framework loaded through its backend, so each reads its own GLOG_v."""
    from d2lvgg.backends import available, get_backend

    for name in available():
        get_backend(name)


def _result_figures_in_chinese() -> None:
    """On the Chinese site, each result figure drawn again from its data (run folders, parity records) in Chinese.

    ``figure_language_filename`` makes the zh_CN build show ``_generated/zh_CN/results/...`` in place of
    ``results/...``; the English build keeps the committed figures.
    """
    from d2lvgg import language
    from d2lvgg.tools.compare import compare_runs, redraw_curves
    from d2lvgg.tools.parity import redraw_overlay

    if language.current() != "zh":
        return
    results, out = DOCS / "results", DOCS / "_generated" / "zh_CN" / "results"
    for curves in results.glob("*/curves.png"):
        redraw_curves(curves.parent, out / curves.parent.name / "curves")
    for record in results.glob("grids/*/sweep.json"):
        cells = [record.parent / cell["name"] for cell in json.loads(record.read_text())["cells"]]
        compare_runs([cell for cell in cells if cell.is_dir()], out / "grids" / record.parent.name)
    for record in results.glob("parity-*/*/parity.json"):
        redraw_overlay(record, out / record.parent.relative_to(results) / "training-overlay")


figure_language_filename = "/_generated/{language}/{root}{ext}"

_draw_networks()
_result_figures_in_chinese()
_chinese_notebook()
_load_frameworks()


COPYRIGHTS = {"en": copyright, "zh_CN": "2026，d2lvgg 开发者"}


def _title_in_language(app, config) -> None:
    config.html_title = TITLES.get(config.language, TITLES["en"])
    config.copyright = COPYRIGHTS.get(config.language, COPYRIGHTS["en"])


class NestedTableSources(SphinxTransform):
    """Give a table nested in a directive (a table in a tab) its page as source, so gettext translates it.

    Sphinx translates only text that knows its source file; MyST leaves that out of a table parsed
    inside a sphinx-design tab, so without this its cells stay English on the Chinese site.
    """

    default_priority = 5  # before Sphinx's Locale transform (20) applies the translations

    def apply(self, **kwargs) -> None:
        for table in self.document.findall(nodes.table):
            holder = next((node for node in _ancestors(table) if node.source), self.document)
            for cell_text in table.findall(nodes.TextElement):
                if not cell_text.source:
                    cell_text.source = holder.source or self.document["source"]
                    cell_text.line = cell_text.line or holder.line


def _ancestors(node: nodes.Node):
    while node.parent is not None:
        node = node.parent
        yield node


def setup(app) -> None:
    app.connect("config-inited", _title_in_language)
    app.add_transform(NestedTableSources)
