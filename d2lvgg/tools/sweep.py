"""Comparison grids: a TOML file names the axes, ``sweep`` trains every cell into its own folder.

A grid is ``[base]`` settings shared by every cell and ``[axes]``, each a list of values; the
cells are every combination. An axis value is one setting, or a table of settings that change
together (``{ arch = "alexnet", lr = 0.01, label = "alexnet" }``). A cell whose folder already
holds a finished run of the same settings is skipped, and an interrupted one is resumed, so a
lab session that stops half way continues where it stopped.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..backends import all_options, available, declaration
from ..errors import ConfigError, RunError, RunInterrupted
from ..model.spec import VGGSpec
from ..training.config import TrainConfig, recipe_spec

GRIDS_DIR = Path(__file__).with_name("grids")
ARCH_KEYS = ("arch", "ratio", "head", "resize", "in_channels", "num_classes")
# TrainConfig's fields, then every option a backend declares (a cell keeps those of its backend)
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("data_dir", "options")) + tuple(all_options())
SETTINGS = ARCH_KEYS + TRAIN_KEYS


@dataclass(frozen=True)
class Cell:
    """One combination of the grid's axes: a folder name and the settings it trains with."""

    name: str
    settings: dict[str, Any]

    def spec(self) -> VGGSpec:
        reshape = {k: v for k, v in self.settings.items() if k in ARCH_KEYS}
        if "head" in reshape:
            reshape["head"] = tuple(reshape["head"])
        return recipe_spec(self.settings.get("recipe", "d2l-zh"), **reshape)

    def config(self, data_dir: str | None = None) -> TrainConfig:
        train = {k: v for k, v in self.settings.items() if k in TRAIN_KEYS and k != "recipe"}
        return TrainConfig.from_recipe(self.settings.get("recipe", "d2l-zh"), data_dir=data_dir, **train)


@dataclass(frozen=True)
class Grid:
    """A named comparison: shared settings, the axes that vary, and whether cells are trained."""

    name: str
    description: str
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    train: bool = True
    source: str = ""

    def cells(self) -> list[Cell]:
        """Every combination of the axes, in the order the file lists them."""
        cells = []
        for combo in itertools.product(*self.axes.values()):
            settings, labels = dict(self.base), []
            for axis, value in zip(self.axes, combo, strict=True):
                if isinstance(value, dict):
                    value = dict(value)
                    labels.append(str(value.pop("label", "-".join(_text(v) for v in value.values()))))
                    settings.update(value)
                else:
                    labels.append(f"{axis}-{_text(value)}")
                    settings[axis] = value
            cells.append(Cell("__".join(labels) or "base", settings))
        return cells


def _text(value: Any) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def shipped_grids() -> dict[str, Path]:
    """The grids that come with d2lvgg, by name (the file name without ``.toml``)."""
    return {path.stem: path for path in sorted(GRIDS_DIR.glob("*.toml"))}


def load_grid(source: str | Path) -> Grid:
    """A grid from a TOML file, or a shipped grid's name; errors name the key and what to do."""
    from ..model.specfile import tomllib

    path = Path(source)
    if not path.is_file():
        known = shipped_grids()
        if str(source) not in known:
            shipped = ", ".join(known)
            raise ConfigError(f"no grid file {source!r} and no shipped grid of that name; shipped grids: {shipped}")
        path = known[str(source)]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"name", "description", "train", "base", "axes"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key(s) {sorted(unknown)}; use name, description, train, base, axes"
        )
    base, axes = data.get("base", {}), data.get("axes", {})
    _check_settings(base, f"{path} [base]")
    for axis, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: axis {axis!r} must be a non-empty list of values, got {values!r}")
        for value in values:
            _check_settings(value if isinstance(value, dict) else {axis: value}, f"{path} axis {axis!r}", label=True)
    grid = Grid(
        data.get("name", path.stem), data.get("description", ""), base, axes, bool(data.get("train", True)), str(source)
    )
    names = [cell.name for cell in grid.cells()]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: two cells would share a folder name; give table values distinct labels")
    for cell in grid.cells():
        cell.spec()  # a bad architecture fails now, not an hour into the sweep
        if grid.train:
            cell.config()
    return grid


def _check_settings(settings: dict[str, Any], where: str, *, label: bool = False) -> None:
    allowed = set(SETTINGS) | ({"label"} if label else set())
    unknown = set(settings) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}; known settings: {', '.join(SETTINGS)}")


@dataclass(frozen=True)
class CellOutcome:
    cell: Cell
    path: Path
    status: str  # "trained", "resumed", "skipped", or "not here" (its framework is not installed)
    seconds: float


def plan(cell: Cell, folder: Path, data_dir: str | None = None) -> str:
    """What ``sweep`` will do with ``cell`` in ``folder``: train, resume, restart, skip, or "not here" where a
    cell still to run needs a framework that is not installed (JAX and MindSpore never share an environment)."""
    action = _action(cell, folder, data_dir)
    return "not here" if action != "skip" and cell.config(data_dir).backend not in available() else action


def _action(cell: Cell, folder: Path, data_dir: str | None) -> str:
    from ..training.rundir import CHECKPOINT, CONFIG, RESULT

    if not folder.is_dir() or not any(folder.iterdir()):
        return "train"
    if not (folder / CONFIG).is_file():
        raise RunError(f"{folder} holds files that are not a d2lvgg run; move them, or pass another --out")
    record = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    wanted_train = {k: v for k, v in cell.config(data_dir).record().items() if k != "data_dir"}
    saved = TrainConfig.from_record(record["train"])  # a run from an older d2lvgg gets today's defaults filled in
    saved_train = {k: v for k, v in saved.record().items() if k != "data_dir"}
    if record["spec"] != cell.spec().to_dict() or saved_train != wanted_train:
        raise RunError(
            f"{folder} holds a run with other settings than the grid's cell {cell.name!r}; "
            "move that folder away or pass another --out (it is never overwritten)"
        )
    if (folder / RESULT).is_file():
        return "skip"
    return "resume" if (folder / CHECKPOINT).is_file() else "restart"


def run_cell(cell: Cell, folder: Path, *, data_dir: str | None = None, progress: bool = False) -> CellOutcome:
    """Train, resume or skip one cell, by what its folder already holds (``plan``); a cell "not here" is left for
    a sweep where its framework is installed."""
    from ..training.loop import resume, train

    action = plan(cell, folder, data_dir)
    if action == "not here":
        return CellOutcome(cell, folder, action, 0.0)
    tic = time.perf_counter()
    if action == "resume":
        resume(folder, progress=progress)
    elif action in ("train", "restart"):  # "restart": killed before its first epoch finished; nothing is lost
        train(cell.spec(), cell.config(data_dir), out=folder, overwrite=action == "restart", progress=progress)
    status = {"skip": "skipped", "resume": "resumed"}.get(action, "trained")
    return CellOutcome(cell, folder, status, time.perf_counter() - tic)


def sweep(
    grid: Grid,
    out: str | Path | None = None,
    *,
    data_dir: str | None = None,
    progress: bool = False,
    say: Callable[[str], None] = print,
) -> tuple[list[CellOutcome], list[Path]]:
    """Run every cell of ``grid`` under ``out`` and write the comparison of all of them there."""
    from ..training.setup import check_fits_fashion_mnist
    from .compare import compare_runs

    root = Path(out or Path("runs") / f"sweep-{grid.name}")
    cells = grid.cells()
    for cell in cells:  # every cell's settings are checked before the first one trains
        check_fits_fashion_mnist(cell.spec())
        cell.config(data_dir)
    outcomes = []
    for i, cell in enumerate(cells, 1):
        say(f"[{i}/{len(cells)}] {cell.name}")
        try:
            outcome = run_cell(cell, root / cell.name, data_dir=data_dir, progress=progress)
        except RunInterrupted:
            raise RunInterrupted(
                f"interrupted in cell {cell.name}; finished cells and epochs are kept. "
                f"Continue with: d2lvgg sweep {grid.source or grid.name} --out {root}"
            ) from None
        if outcome.status == "not here":
            extra = declaration(cell.config(data_dir).backend).extra
            say(
                f"[{i}/{len(cells)}] {cell.name}: not here, its framework is not installed; run this sweep with the "
                f"same --out where d2lvgg[{extra}] is, and the comparison will take it in"
            )
        else:
            say(f"[{i}/{len(cells)}] {cell.name}: {outcome.status} in {outcome.seconds:.0f} s")
        outcomes.append(outcome)
    finished: list[str | Path] = [o.path for o in outcomes if o.status != "not here"]
    if not finished:
        raise RunError(f"no cell of {grid.name} could run here: install the frameworks it compares")
    _, written = compare_runs(finished, root)
    record = {
        "grid": grid.name,
        "cells": [
            {"name": o.cell.name, "settings": o.cell.settings, "status": o.status, "seconds": round(o.seconds, 1)}
            for o in outcomes
        ],
    }
    _keep_training_times(record, root / "sweep.json")
    (root / "sweep.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return outcomes, [*written, root / "sweep.json"]


def _keep_training_times(record: dict[str, Any], path: Path) -> None:
    """A skipped cell keeps the seconds it took to train: from the sweep that trained it (``path``), else the
    run's own clock (its last epoch's ``wall_seconds``), when another environment's sweep trained it."""
    from ..training.rundir import EPOCHS, RunDir

    earlier = json.loads(path.read_text(encoding="utf-8"))["cells"] if path.is_file() else []
    seconds = {cell["name"]: cell["seconds"] for cell in earlier if cell["status"] != "skipped"}
    for cell in record["cells"]:
        if cell["status"] == "skipped":
            run = RunDir.open(path.parent / cell["name"])
            cell["seconds"] = seconds.get(cell["name"]) or round(run.read_rows(EPOCHS)[-1]["wall_seconds"], 1)


def shapes(grid: Grid, out: str | Path | None = None) -> list[Path]:
    """A grid's cells compared by shape and compute alone (no training): ``summary.md`` and drawings."""
    from ..model.analysis import summarize
    from .drawing import save_drawing
    from .render import to_markdown

    root = Path(out or Path("runs") / f"sweep-{grid.name}")
    root.mkdir(parents=True, exist_ok=True)
    summaries = [summarize(cell.spec()) for cell in grid.cells()]
    written = [root / "summary.md"]
    written[0].write_text(to_markdown(summaries, "block"), encoding="utf-8")
    for cell, summary in zip(grid.cells(), summaries, strict=True):
        written += save_drawing(summary.spec, root / f"{cell.name}-blocks")
    return written
