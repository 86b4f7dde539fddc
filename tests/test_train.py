"""The training loop, run folder, plot and `d2lvgg train` / `evaluate`, on real Fashion-MNIST."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from d2lvgg import ConfigError, RunError, TrainConfig, evaluate_run, preset, train
from d2lvgg.backends import REGISTRY
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.training.weights import load_weights

pytestmark = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")

BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in REGISTRY]

# The CI-sized network: the textbook's VGG-11 with channels / 16, a 256-wide head, 32 pixels.
TINY = preset("d2l_vgg11").scaled(16).with_options(head=(256, 256), input_size=32)


def quick(backend: str = "torch", **overrides) -> TrainConfig:
    base = {"epochs": 2, "lr": 0.1, "train_limit": 640, "test_limit": 300, "device": "cpu", "backend": backend}
    return TrainConfig(**(base | overrides))


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, backend):
    return train(TINY, quick(backend), out=tmp_path_factory.mktemp("runs") / "quick", progress=False, echo=False)


def test_run_folder_holds_config_metrics_weights_and_plot(quick_run):
    folder = quick_run.path
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.npz",
        "config.json",
        "curves.png",
        "curves.svg",
        "epochs.csv",
        "result.json",
        "steps.csv",
        "weights.npz",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config["train"]["seed"] == 0 and config["train"]["lr"] == 0.1
    assert config["spec"]["conv_arch"] == [[1, 4], [1, 8], [2, 16], [2, 32], [2, 32]]
    assert config["device"].startswith("cpu") and config["versions"]["backend"].startswith(config["train"]["backend"])
    assert (folder / "steps.csv").read_text().count("\n") == 1 + 2 * 5  # header + 5 steps of 128 per epoch
    assert (folder / "epochs.csv").read_text().count("\n") == 1 + 2
    assert (folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (folder / "curves.svg").read_bytes()[:500]
    assert set(load_weights(folder / "weights.npz")) >= {"0.0.weight", "12.bias"}


def test_plot_has_five_points_per_epoch_and_test_acc_per_epoch(quick_run):
    history = quick_run.history
    assert [round(p["x"], 2) for p in history.points] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
    assert [e["epoch"] for e in history.epochs] == [1, 2]
    assert all(0 <= e["test_acc"] <= 1 for e in history.epochs)


def test_summary_lines_are_the_textbooks(quick_run):
    lines = quick_run.summary_lines()
    assert re.fullmatch(r"loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}", lines[0])
    assert re.fullmatch(r"\d+\.\d examples/sec on cpu.* \(training steps only, as the book counts\)", lines[1])
    assert "wall clock" in lines[2]
    assert quick_run.step_examples_per_sec >= quick_run.wall_examples_per_sec


def test_evaluate_rescoring_the_saved_weights_gives_the_final_test_acc(quick_run):
    result = evaluate_run(quick_run.path)
    assert result["test_acc"] == quick_run.test_acc and result["examples"] == 300


def test_same_seed_gives_identical_weights(quick_run, backend, tmp_path):
    again = train(TINY, quick(backend), out=tmp_path / "again", progress=False, echo=False)
    first, second = load_weights(quick_run.path / "weights.npz"), load_weights(again.path / "weights.npz")
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert again.history.epochs[-1]["train_loss"] == quick_run.history.epochs[-1]["train_loss"]


@pytest.mark.torch
def test_existing_run_is_never_overwritten_unless_asked(tmp_path):
    target = tmp_path / "run"
    train(TINY, quick(epochs=1), out=target, progress=False, echo=False)
    before = (target / "weights.npz").read_bytes()
    with pytest.raises(RunError, match="already holds files"):
        train(TINY, quick(epochs=1, seed=5), out=target, progress=False, echo=False)
    assert (target / "weights.npz").read_bytes() == before
    train(TINY, quick(epochs=1, seed=5), out=target, overwrite=True, progress=False, echo=False)
    assert json.loads((target / "config.json").read_text())["train"]["seed"] == 5


@pytest.mark.torch
def test_divergence_stops_with_a_message_naming_the_step(tmp_path):
    with pytest.raises(ConfigError, match=r"epoch 1, step \d+: the run diverged; try a smaller learning rate"):
        train(TINY, quick(lr=1e6, init="kaiming"), out=tmp_path / "boom", progress=False, echo=False)
    assert (tmp_path / "boom" / "config.json").is_file()


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_train_and_evaluate(tmp_path, capsys, backend):
    out = tmp_path / "cli"
    argv = [
        "train",
        "--backend",
        backend,
        "--arch",
        "d2l_vgg11",
        "--ratio",
        "16",
        "--head",
        "256,256",
        "--resize",
        "32",
        "--epochs",
        "1",
    ]
    argv += ["--train-limit", "256", "--test-limit", "128", "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}$", printed, re.M)
    assert re.search(r"^\d+\.\d examples/sec on cpu", printed, re.M)
    assert main(["evaluate", str(out)]) == 0
    assert re.match(rf"test acc \d\.\d{{3}} on 128 test images \({backend} on cpu", capsys.readouterr().out)


@pytest.mark.torch
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "0"], "batch_size must be a whole number >= 1, got 0"),
        (["--epochs", "-1"], "epochs must be a whole number >= 1, got -1"),
        (["--lr", "0"], "lr must be a positive number, got 0.0"),
        (["--resize", "16"], "use input_size >= 32"),
        (["--arch", "vgg99"], "unknown architecture 'vgg99'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--backend", "mxnet"], "unknown backend 'mxnet'"),
    ],
)
def test_cli_train_bad_values_are_one_line_errors(tmp_path, capsys, extra, message):
    code = main(["train", "--train-limit", "128", "--test-limit", "128", "--out", str(tmp_path / "r"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err) and err.count("\n") == 1


@pytest.mark.torch
def test_evaluate_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "is not a d2lvgg run folder" in capsys.readouterr().err


@pytest.mark.parametrize("backend", BACKENDS)
def test_reduced_recipe_reaches_80_percent_on_the_full_real_test_set(reduced_recipe_run, backend):
    """CI's real training: all 60,000 training and 10,000 test images, on the CPU."""
    result = reduced_recipe_run(backend)
    assert result.history.epochs[-1]["test_acc"] == result.test_acc
    assert result.test_acc >= 0.80, result.summary_lines()
