"""`d2lvgg compare`: finished runs side by side, as a table, an overlaid plot and markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from d2lvgg import RunError, TrainConfig, preset, train
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.tools.compare import compare_runs, load_run

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}"),
]
TINY = preset("d2l_vgg11").scaled(16).with_options(head=(64,), input_size=32)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    for lr in (0.05, 0.1):
        config = TrainConfig(epochs=2, lr=lr, train_limit=640, test_limit=200, device="cpu")
        train(TINY, config, out=folder / f"lr{lr}", progress=False, echo=False)
    return [folder / "lr0.05", folder / "lr0.1"]


def test_compare_writes_markdown_and_an_overlaid_plot(two_runs, tmp_path, capsys):
    assert main(["compare", *map(str, two_runs), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert "lr0.05" in printed and "lr0.1" in printed and "wrote" in printed
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert markdown.count("| lr0.") == 2 and "| test acc |" in markdown
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "cmp" / "compare.svg").read_bytes()[:500]


def test_each_row_reports_the_runs_own_numbers(two_runs, tmp_path):
    runs, _ = compare_runs(two_runs, tmp_path / "cmp")
    for run, folder in zip(runs, two_runs, strict=True):
        result = json.loads((folder / "result.json").read_text())
        assert (run.test_acc, run.train_loss) == (result["test_acc"], result["train_loss"])
        assert (run.backend, run.arch, run.input_size, run.params) == ("torch", TINY.name, 32, 38_970)
        assert len(run.history.points) == 10 and len(run.history.epochs) == 2


def test_unfinished_or_foreign_folders_are_one_line_errors(two_runs, tmp_path, capsys):
    with pytest.raises(RunError, match="share a folder name"):
        compare_runs([two_runs[0], two_runs[0]], tmp_path / "cmp")
    unfinished = tmp_path / "unfinished"
    config = TrainConfig(epochs=1, lr=0.05, train_limit=128, test_limit=64, device="cpu")
    train(TINY, config, out=unfinished, progress=False, echo=False)
    (unfinished / "result.json").unlink()
    assert main(["compare", str(two_runs[0]), str(unfinished), "--out", str(tmp_path / "c2")]) == 2
    assert "has not finished" in capsys.readouterr().err
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "c3")]) == 2
    assert "is not a d2lvgg run folder" in capsys.readouterr().err


def test_a_finished_run_without_its_checkpoint_compares_from_its_epoch_rows():
    """The docs keep finished runs without checkpoint.npz (space); their curves come from epochs.csv."""
    kept = Path(__file__).resolve().parents[1] / "docs" / "results" / "grids" / "frameworks-cpu" / "backend-torch"
    assert not (kept / "checkpoint.npz").exists()
    run = load_run(kept)
    assert [point["x"] for point in run.history.points] == [float(e) for e in range(1, 11)]
    assert run.history.epochs[-1]["test_acc"] == run.test_acc
