"""The framework tabs of docs/frameworks.md that the docs build cannot run (``:skipif:``), run here instead.

The docs build doctests every tab whose framework it can install beside the others; JAX cannot
share an environment with MindSpore (numpy 2 against numpy 1), so its tabs carry ``:skipif:`` and
this suite runs them, in order and in one namespace as the doctest builder would, in the backend's
own session.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from d2lvgg.backends import REGISTRY

PAGE = Path(__file__).resolve().parents[1] / "docs" / "frameworks.md"
BLOCK = re.compile(r"```\{(testcode|testoutput)\} (\w+)\n((?::\w+:[^\n]*\n)*)\n?(.*?)```", re.DOTALL)


def _skipped_tabs(page: str) -> dict[str, list[tuple[str, str]]]:
    """Each group whose blocks the docs build skips: its (code, expected output) pairs in page order."""
    groups: dict[str, list[tuple[str, str]]] = {}
    code = None
    for kind, group, options, body in BLOCK.findall(page):
        if ":skipif:" not in options:
            continue
        if kind == "testcode":
            code = body
        else:
            groups.setdefault(group, []).append((code, body))
    return groups


SKIPPED = _skipped_tabs(PAGE.read_text(encoding="utf-8"))


def test_only_a_backend_that_cannot_join_the_docs_build_skips_its_tabs():
    assert set(SKIPPED) <= set(REGISTRY) and SKIPPED, SKIPPED


@pytest.mark.parametrize("group", [pytest.param(g, marks=getattr(pytest.mark, g)) for g in SKIPPED])
def test_the_tabs_the_docs_build_skips_print_what_the_page_says(group):
    namespace: dict = {}
    for code, expected in SKIPPED[group]:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"{PAGE.name}[{group}]", "exec"), namespace)
        assert printed.getvalue().strip() == expected.strip(), code
