"""The package's shape: layers import one way, and only a backend names or imports its framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from d2lvgg.backends import REGISTRY, declaration

PACKAGE = Path(__file__).resolve().parents[1] / "d2lvgg"
# The libraries a backend builds on beside its framework, with the backend that owns them.
COMPANIONS = {"keras": "tensorflow", "tf2onnx": "tensorflow", "flax": "jax", "optax": "jax"}
FRAMEWORKS = {declaration(name).framework for name in REGISTRY} | set(COMPANIONS)
NAMES = set(REGISTRY) | FRAMEWORKS
# Each layer may import the layers before it, never one after it (errors, atomic, optional, language: shared leaves).
LAYERS = ["model", "data", "backends", "training", "interop", "tools"]


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))]


def _imports(tree: ast.Module, path: str) -> list[str]:
    """Every module ``path`` imports, relative imports made absolute within d2lvgg."""
    package = ["d2lvgg", *path.split("/")[:-1]]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
    return found


def _layer(path: str) -> str | None:
    top = path.split("/")[0]
    return top if top in LAYERS else None


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_a_framework_is_imported_only_inside_its_backend(framework):
    for path, tree in _modules():
        if any(name.split(".")[0] == framework for name in _imports(tree, path)):
            owner = COMPANIONS.get(framework) or next(
                (n for n in REGISTRY if framework == declaration(n).framework), None
            )
            assert owner and path.startswith(f"backends/{owner}/"), f"{path} imports {framework}"


def test_no_module_outside_the_backends_names_a_backend_or_framework():
    """No branching on a backend's name: strings like 'torch' appear only in ``backends/``."""
    for path, tree in _modules():
        if path.startswith("backends/"):
            continue
        named = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in NAMES]
        assert not named, f"{path} names {named}"


def test_layers_import_one_way():
    for path, tree in _modules():
        layer = _layer(path)
        if layer is None:
            continue
        for module in _imports(tree, path):
            parts = module.split(".")
            if parts[0] != "d2lvgg" or len(parts) < 2 or parts[1] not in LAYERS:
                continue
            assert LAYERS.index(parts[1]) <= LAYERS.index(layer), f"{path} ({layer}) imports {module}"
            if layer == "backends" and parts[1] == "backends" and len(parts) > 2 and parts[2] in REGISTRY:
                assert path.startswith(f"backends/{parts[2]}/"), f"{path} reaches into another backend: {module}"


def test_there_are_no_import_cycles_between_modules():
    graph = {}
    for path, tree in _modules():
        name = "d2lvgg." + path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        graph[name] = {m for m in _imports(tree, path) if m.startswith("d2lvgg")}
    known = set(graph)

    def targets(module: str) -> set[str]:  # "from .x import y": y may be a module or a name in x
        return {m if m in known else m.rsplit(".", 1)[0] for m in graph[module]} & known - {module}

    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(targets(module)):
            if state.get(target) == 1 and not _is_package_of(target, module):
                raise AssertionError(" -> ".join([*trail, module, target]))
            if target not in state:
                visit(target, [*trail, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def _is_package_of(package: str, module: str) -> bool:
    """A package's ``__init__`` and its own modules may import each other (Python allows it)."""
    return module.startswith(package + ".")
