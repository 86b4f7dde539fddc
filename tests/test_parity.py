"""PyTorch and MindSpore agree: shapes, parameters, logits, one SGD step, training, weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from d2lvgg import TrainConfig, evaluate_run, preset, preset_names, train
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.tools.parity import check_backward, check_forward, check_parameters, check_shapes, run_parity

pytestmark = pytest.mark.parity

TINY = preset("d2l_vgg11").scaled(16).with_options(head=(256, 256), input_size=32)


def _small(name: str):
    spec = preset(name)
    return spec.with_options(input_size=spec.smallest_input_size)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_agrees_at_a_small_input_size(name):
    spec = _small(name)
    for check in (check_shapes(spec), check_parameters(spec), check_forward(spec)):
        assert check.passed, (check.name, check.measured, check.details)


def test_d2l_vgg11_logits_agree_at_224():
    check = check_forward(preset("d2l_vgg11"), batch=2)
    assert check.passed, check.measured
    assert check.details["max_rel"] <= 1e-4


@pytest.mark.parametrize("name", ["d2l_vgg11_small", "vgg11_bn", "vgg11_lrn", "alexnet"])
def test_one_sgd_step_gives_the_same_weights(name):
    # 64 px, not 32: with batch norm over 2x2 maps one float32 step is ill-conditioned
    # (PyTorch float32 against float64 differs by 9%), so no two implementations can agree there.
    spec = preset(name)
    check = check_backward(spec.with_options(input_size=max(64, spec.smallest_input_size)))
    assert check.passed, check.measured
    assert check.details["max_update"] > 1e-4  # the step really moved the weights


def test_the_textbook_mindspore_network_shows_up_as_a_parameter_difference():
    spec = preset("d2l_vgg11")
    check = check_parameters(spec, spec.with_options(conv_bias=False))
    assert not check.passed
    assert check.details["counts"] == {"torch": 128_806_154, "mindspore": 128_803_402}
    assert "0.0.bias" in check.details["differing_tensors"]
    assert "(+2,752)" in check.measured


def test_parity_command_writes_json_and_markdown_and_exits_by_verdict(tmp_path, capsys):
    assert main(["parity", "--arch", "d2l_vgg11_small", "--input-size", "32", "--out", str(tmp_path / "ok")]) == 0
    report = json.loads((tmp_path / "ok" / "parity.json").read_text())
    assert report["passed"] and [c["name"] for c in report["checks"]] == ["shapes", "parameters", "forward", "backward"]
    assert "| forward | pass | max abs" in (tmp_path / "ok" / "parity.md").read_text()
    argv = ["parity", "--arch", "d2l_vgg11_small", "--input-size", "32", "--textbook-mindspore"]
    assert main([*argv, "--out", str(tmp_path / "fail")]) == 1
    assert "some checks FAIL" in capsys.readouterr().out


needs_data = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")


@needs_data
@pytest.mark.parametrize(("trained_by", "scored_by"), [("torch", "mindspore"), ("mindspore", "torch")])
def test_weights_trained_in_one_backend_score_the_same_in_the_other(tmp_path, trained_by, scored_by):
    config = TrainConfig(backend=trained_by, epochs=1, lr=0.1, train_limit=1280, test_limit=500, device="cpu")
    run = train(TINY, config, out=tmp_path / trained_by, progress=False, echo=False)
    other = evaluate_run(run.path, backend=scored_by)
    assert other["backend"] == scored_by and other["test_acc"] == pytest.approx(run.test_acc, abs=1 / 500)


@needs_data
@pytest.mark.slow
def test_both_backends_train_the_reduced_recipe_to_within_two_points(tmp_path):
    config = TrainConfig(epochs=5, lr=0.05, batch_size=64, device="cpu")
    report = run_parity(TINY, train_config=config, out=tmp_path)
    training = report.checks[-1]
    assert training.name == "training" and training.passed, training.measured
    assert all(acc >= 0.80 for acc in training.details["test_acc"].values()), training.details
    assert (tmp_path / "training-overlay.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isfinite(training.details["gap"])
