"""The package's shape: each framework is imported by its own backend module and nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "d2lvgg"


def _importers(framework: str) -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(name.split(".")[0] == framework for name in names):
                found.add(path.relative_to(PACKAGE).as_posix())
    return found


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_each_framework_is_imported_only_by_its_backend(framework):
    importers = _importers(framework)
    assert f"backends/{framework}/backend.py" in importers
    assert all(path.startswith(f"backends/{framework}/") for path in importers), importers
