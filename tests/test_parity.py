"""Every installed pair of backends agrees: shapes, parameters, logits, one SGD step, training, weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from d2lvgg import TrainConfig, evaluate_run, preset, preset_names, train
from d2lvgg.backends import available
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.tools.parity import (
    check_backward,
    check_forward,
    check_onnx,
    check_parameters,
    check_shapes,
    exporters,
    installed_pairs,
    redraw_overlay,
    run_parity,
)

pytestmark = pytest.mark.parity

TINY = preset("d2l_vgg11").scaled(16).with_options(head=(256, 256), input_size=32)
PAIRS = [pytest.param(pair, id="-".join(pair)) for pair in installed_pairs()]
# Every preset against the reference, PyTorch: two backends that each agree with it agree with each other.
WITH_TORCH = [pytest.param(pair, id="-".join(pair)) for pair in installed_pairs() if "torch" in pair]
torch_and_mindspore = pytest.mark.skipif(
    not {"torch", "mindspore"} <= set(available()), reason="this test compares torch with mindspore"
)
ORDERED = [pytest.param(*pair[::step], id="-".join(pair[::step])) for pair in installed_pairs() for step in (1, -1)]


def _small(name: str):
    spec = preset(name)
    return spec.with_options(input_size=spec.smallest_input_size)


@pytest.mark.parametrize("pair", WITH_TORCH)
@pytest.mark.parametrize("name", preset_names())
def test_every_preset_agrees_at_a_small_input_size(name, pair):
    spec = _small(name)
    for check in (check_shapes(spec, pair), check_parameters(spec, backends=pair), check_forward(spec, backends=pair)):
        assert check.passed, (check.name, check.measured, check.details)


@pytest.mark.parametrize("pair", PAIRS)
def test_d2l_vgg11_logits_agree_at_224(pair):
    check = check_forward(preset("d2l_vgg11"), batch=2, backends=pair)
    assert check.passed, check.measured
    assert check.details["max_rel"] <= 1e-4


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("name", ["d2l_vgg11_small", "vgg11_bn", "vgg11_lrn", "alexnet"])
def test_one_sgd_step_gives_the_same_weights(name, pair):
    # 64 px, not 32: with batch norm over 2x2 maps one float32 step is ill-conditioned
    # (PyTorch float32 against float64 differs by 9%), so no two implementations can agree there.
    spec = preset(name)
    check = check_backward(spec.with_options(input_size=max(64, spec.smallest_input_size)), backends=pair)
    assert check.passed, check.measured
    assert check.details["max_update"] > 1e-4  # the step really moved the weights


@pytest.mark.parametrize("pair", [pair for pair in PAIRS if exporters(pair.values[0])])
def test_each_backends_onnx_export_runs_in_onnx_runtime_to_its_own_logits(pair):
    check = check_onnx(TINY, backends=pair)
    assert check.passed, check.measured
    assert tuple(check.details["backends"]) == exporters(pair)  # one without an exporter is named, not checked
    assert all(found["dynamic_batch"] for found in check.details["backends"].values())


@torch_and_mindspore
def test_the_textbook_mindspore_network_shows_up_as_a_parameter_difference():
    spec = preset("d2l_vgg11")
    check = check_parameters(spec, spec.with_options(conv_bias=False), backends=("torch", "mindspore"))
    assert not check.passed
    assert check.details["counts"] == {"torch": 128_806_154, "mindspore": 128_803_402}
    assert "0.0.bias" in check.details["differing_tensors"]
    assert "(+2,752)" in check.measured


@torch_and_mindspore
def test_parity_command_writes_json_and_markdown_and_exits_by_verdict(tmp_path, capsys):
    argv = ["parity", "--arch", "d2l_vgg11_small", "--input-size", "32", "--backends", "torch,mindspore"]
    assert main([*argv, "--out", str(tmp_path / "ok")]) == 0
    report = json.loads((tmp_path / "ok" / "parity.json").read_text())
    assert report["passed"] and [c["name"] for c in report["checks"]] == ["shapes", "parameters", "forward", "backward"]
    assert "| forward | pass | max abs" in (tmp_path / "ok" / "parity.md").read_text()
    assert main([*argv, "--textbook-mindspore", "--out", str(tmp_path / "fail")]) == 1
    assert "some checks FAIL" in capsys.readouterr().out


@pytest.mark.skipif(len(installed_pairs()) < 2, reason="one table of several pairs needs three backends installed")
def test_parity_command_checks_every_installed_pair_in_one_table(tmp_path):
    assert main(["parity", "--arch", "d2l_vgg11_small", "--input-size", "32", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "parity.md").read_text().splitlines()
    assert "| pair | shapes | parameters | forward | backward |" in table
    for pair in installed_pairs():
        assert json.loads((tmp_path / "-vs-".join(pair) / "parity.json").read_text())["passed"]
        row = next(line for line in table if line.startswith(f"| {' vs '.join(pair)} |"))
        assert row.count("pass, ") == 4


needs_data = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")


@needs_data
@pytest.mark.parametrize(("trained_by", "scored_by"), ORDERED)
def test_weights_trained_in_one_backend_score_the_same_in_the_other(tmp_path, trained_by, scored_by):
    config = TrainConfig(backend=trained_by, epochs=1, lr=0.1, train_limit=1280, test_limit=500, device="cpu")
    run = train(TINY, config, out=tmp_path / trained_by, progress=False, echo=False)
    other = evaluate_run(run.path, backend=scored_by)
    assert other["backend"] == scored_by and other["test_acc"] == pytest.approx(run.test_acc, abs=1 / 500)


@needs_data
@pytest.mark.slow
def test_every_pair_trains_the_reduced_recipe_to_within_two_points(tmp_path, reduced_recipe_run, reduced_recipe_runs):
    # each backend trains once in the session (test_train reads the same runs)
    trained = reduced_recipe_runs(sorted({name for pair in installed_pairs() for name in pair}))
    for pair in installed_pairs():
        out = tmp_path / "-vs-".join(pair)
        recipe = {"train_config": reduced_recipe_run.config, "trained": trained}
        report = run_parity(reduced_recipe_run.spec, backends=pair, out=out, **recipe)
        training = report.checks[-1]
        assert training.name == "training" and training.passed, training.measured
        assert all(acc >= 0.80 for acc in training.details["test_acc"].values()), training.details
        assert (out / "training-overlay.png").read_bytes()[:4] == b"\x89PNG"
        report.save(out)  # the record holds the curves: the figure can be drawn again, in another language
        assert [p.suffix for p in redraw_overlay(out / "parity.json", tmp_path / "again")] == [".png", ".svg"]
        assert np.isfinite(training.details["gap"])
    assert set(trained) == {name for pair in installed_pairs() for name in pair}  # no pair trained a run of its own
