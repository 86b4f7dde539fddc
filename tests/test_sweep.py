"""Comparison grids: parsing and planning without a framework; real sweeps on Fashion-MNIST with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from d2lvgg import D2LVGGError, RunError
from d2lvgg.backends import REGISTRY, available
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.tools.sweep import _keep_training_times, load_grid, plan, shipped_grids, sweep
from d2lvgg.training.weights import load_weights

needs_data = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")

TINY_GRID = """
name = "tiny"
[base]
arch = "d2l_vgg11"
ratio = 16
head = [64]
resize = 32
epochs = 2
train_limit = 640
test_limit = 200
device = "cpu"
[axes]
lr = [0.05, 0.1]
"""


@pytest.fixture
def tiny_grid(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_GRID)
    return path


def test_cells_are_every_combination_of_the_axes(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[base]\nepochs = 1\n[axes]\nbackend = ["torch", "mindspore"]\nresize = [224, 96]\n')
    cells = load_grid(path).cells()
    assert [c.name for c in cells] == [
        "backend-torch__resize-224",
        "backend-torch__resize-96",
        "backend-mindspore__resize-224",
        "backend-mindspore__resize-96",
    ]
    assert cells[3].settings == {"epochs": 1, "backend": "mindspore", "resize": 96}
    assert cells[3].spec().input_size == 96 and cells[3].config().backend == "mindspore"


def test_a_table_value_changes_several_settings_under_one_label():
    grid = load_grid("alexnet")
    vgg, alex = grid.cells()
    assert (vgg.name, alex.name) == ("vgg11_small", "alexnet")
    assert (vgg.config().lr, alex.config().lr) == (0.05, 0.01)
    assert (vgg.spec().name, alex.spec().name) == ("d2l_vgg11_small", "alexnet")


@pytest.mark.skipif(len(available()) == len(REGISTRY), reason="needs a backend whose framework is not installed")
def test_a_cell_whose_framework_is_not_installed_is_left_for_another_environment(tmp_path):
    missing = [name for name in REGISTRY if name not in available()][:2]
    path = tmp_path / "g.toml"
    path.write_text(f"[base]\nepochs = 1\nresize = 32\n[axes]\nbackend = {json.dumps(missing)}\n")
    said: list[str] = []
    with pytest.raises(RunError, match="no cell of g could run here"):
        sweep(load_grid(path), tmp_path / "out", say=said.append)
    not_here = [line for line in said if ": not here" in line]
    assert len(not_here) == len(missing) and "same --out" in not_here[0]
    assert not any((tmp_path / "out").glob("*/config.json"))  # nothing started


def test_a_skipped_cell_keeps_the_time_it_took_to_train(tmp_path):
    earlier = {"cells": [{"name": "a", "status": "trained", "seconds": 61.5}, {"name": "b", "status": "skipped"}]}
    (tmp_path / "sweep.json").write_text(json.dumps(earlier))
    for name in ("a", "b"):  # two finished runs; b was trained by a sweep in another environment
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        (tmp_path / name / "epochs.csv").write_text("epoch,wall_seconds\n1,20.04\n2,40.08\n")
    cells = [{"name": name, "status": "skipped", "seconds": 0.01} for name in ("a", "b")]
    record = {"cells": [*cells, {"name": "c", "status": "trained", "seconds": 99.0}]}
    _keep_training_times(record, tmp_path / "sweep.json")
    assert [cell["seconds"] for cell in record["cells"]] == [61.5, 40.1, 99.0]


def test_every_shipped_grid_loads_and_each_comparison_has_a_cpu_variant():
    grids = shipped_grids()
    for name in ("frameworks", "alexnet", "resolution", "depth"):
        assert name in grids and f"{name}-cpu" in grids
    for name, path in grids.items():
        grid = load_grid(path)
        assert len(grid.cells()) >= 2 and grid.description, name
        if name.endswith("-cpu"):
            assert all(cell.config().device == "cpu" for cell in grid.cells()), name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[base]\nlearning_rate = 0.1\n", r"unknown setting\(s\) \['learning_rate'\]"),
        ("[axes]\nresize = 96\n", "axis 'resize' must be a non-empty list"),
        ("[axes]\nresize = []\n", "axis 'resize' must be a non-empty list"),
        ("[axes]\nresize = [224, 16]\n", "input_size"),
        ("[axes]\nlr = [0.1, -1.0]\n", "lr must be a positive number"),
        ("colour = 'red'\n", "unknown top-level key"),
        ("[axes\n", "is not valid TOML"),
    ],
)
def test_a_bad_grid_is_refused_before_anything_trains(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(D2LVGGError, match=message):
        load_grid(path)


def test_an_unknown_grid_name_lists_the_shipped_ones(capsys):
    assert main(["sweep", "no-such-grid"]) == 2
    err = capsys.readouterr().err
    assert "no grid file 'no-such-grid'" in err and "frameworks-cpu" in err


def test_the_shape_only_grid_writes_the_comparison_and_a_drawing_per_cell(tmp_path, capsys):
    before = _open_figures()
    assert main(["sweep", "depth", "--out", str(tmp_path)]) == 0
    summary = (tmp_path / "summary.md").read_text()
    for params in ("132,863,336", "133,047,848", "138,357,544", "143,667,240"):
        assert params in summary
    assert (tmp_path / "arch-vgg19-blocks.png").read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in capsys.readouterr().out
    assert _open_figures() == before


def _open_figures() -> list[int]:
    import matplotlib.pyplot as plt

    return plt.get_fignums()


def test_a_folder_holding_something_else_is_never_overwritten(tiny_grid, tmp_path):
    grid = load_grid(tiny_grid)
    cell = grid.cells()[0]
    folder = tmp_path / "cell"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not a d2lvgg run"):
        plan(cell, folder)
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.torch
@needs_data
def test_an_interrupted_sweep_skips_finished_cells_and_resumes_the_cut_one(tiny_grid, tmp_path, capsys, monkeypatch):
    import d2lvgg.training.session

    reference = tmp_path / "uninterrupted"
    sweep(load_grid(tiny_grid), reference, say=lambda line: None)

    real_save = d2lvgg.training.session.save_checkpoint

    def save_then_stop_in_second_cell(folder, checkpoint):
        real_save(folder, checkpoint)
        if folder.name == "lr-0.1" and checkpoint.epochs_done == 1:
            raise KeyboardInterrupt  # Ctrl-C in the lab, one epoch into the second cell

    monkeypatch.setattr(d2lvgg.training.session, "save_checkpoint", save_then_stop_in_second_cell)
    out = tmp_path / "sweep"
    assert main(["sweep", str(tiny_grid), "--out", str(out)]) == 130
    assert f"Continue with: d2lvgg sweep {tiny_grid} --out {out}" in capsys.readouterr().err
    assert (out / "lr-0.05" / "result.json").is_file() and not (out / "lr-0.1" / "result.json").exists()
    monkeypatch.setattr(d2lvgg.training.session, "save_checkpoint", real_save)
    finished_weights = (out / "lr-0.05" / "weights.npz").stat().st_mtime_ns

    assert main(["sweep", str(tiny_grid), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| lr-0.05 |" in printed and "| lr-0.1 |" in printed
    assert {p.name for p in out.iterdir()} >= {"lr-0.05", "lr-0.1", "compare.md", "compare.png", "sweep.json"}
    record = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in record["cells"]] == ["skipped", "resumed"]
    assert (out / "lr-0.05" / "weights.npz").stat().st_mtime_ns == finished_weights  # skipped: not rewritten
    for cell in ("lr-0.05", "lr-0.1"):  # resumed or not, each cell ends exactly as the uninterrupted sweep's
        got, want = load_weights(out / cell / "weights.npz"), load_weights(reference / cell / "weights.npz")
        assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.torch
@needs_data
def test_a_cell_folder_with_other_settings_is_refused(tiny_grid, tmp_path):
    out = tmp_path / "sweep"
    sweep(load_grid(tiny_grid), out, say=lambda line: None)
    tiny_grid.write_text(TINY_GRID.replace("epochs = 2", "epochs = 3"))
    with pytest.raises(RunError, match="holds a run with other settings"):
        sweep(load_grid(tiny_grid), out, say=lambda line: None)


@pytest.mark.torch
@needs_data
def test_a_sweep_of_many_training_cells_leaves_no_figure_open(tmp_path):
    grid = TINY_GRID.replace("epochs = 2", "epochs = 1").replace("lr = [0.05, 0.1]", "lr = [0.02, 0.04, 0.06, 0.08]")
    path = tmp_path / "four.toml"
    path.write_text(grid)
    before = _open_figures()
    sweep(load_grid(path), tmp_path / "sweep", say=lambda line: None)
    assert len(list((tmp_path / "sweep").glob("lr-*/curves.png"))) == 4
    assert (tmp_path / "sweep" / "compare.png").is_file()
    assert _open_figures() == before  # each run's curves and the overlay were closed once saved
