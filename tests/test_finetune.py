"""Fine-tuning from imported weights: each adaptation the book's recipe needs, and a real run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from d2lvgg import RunError, preset
from d2lvgg.model import ir
from d2lvgg.model.initializers import initial_weights
from d2lvgg.tools.cli import main
from d2lvgg.training.finetune import adaptive_pool_matrix, starting_weights
from d2lvgg.training.weights import save_weights

# An ImageNet-shaped small VGG (3 channels, 1,000 classes, a 7x7 map before the head) and its Fashion-MNIST form.
SOURCE = preset("vgg11_bn").scaled(16).with_options(head=(64, 64))
TARGET = SOURCE.with_options(in_channels=1, num_classes=10, input_size=32)


def _saved(tmp_path, spec=SOURCE, pool="always", drop=()):
    arrays = initial_weights(ir.lower(spec), "kaiming", 1)
    arrays = {n: a for n, a in arrays.items() if n not in drop}
    return save_weights(arrays, tmp_path / "w.npz", {"spec": spec.to_dict(), "adaptive_pool": pool}), arrays


def test_the_adaptive_pool_matrix_replicates_a_1x1_map_and_averages_a_14x14_one():
    assert np.array_equal(adaptive_pool_matrix(1), np.ones((49, 1)))
    x = np.arange(14 * 14, dtype=float)
    pooled = (adaptive_pool_matrix(14) @ x).reshape(7, 7)
    assert pooled[0, 0] == np.mean([0, 1, 14, 15]) and pooled[6, 6] == np.mean([180, 181, 194, 195])


def test_imagenet_weights_fit_fashion_mnist_with_every_adaptation_named(tmp_path):
    path, source = _saved(tmp_path)
    target = ir.lower(TARGET)
    fresh = initial_weights(target, "xavier", 0)
    arrays, notes = starting_weights(path, target, fresh)
    assert np.allclose(arrays["0.0.weight"], source["0.0.weight"].sum(axis=1, keepdims=True))
    assert np.allclose(arrays["6.weight"], source["6.weight"].reshape(64, 32, 49).sum(axis=2), atol=1e-6)
    assert np.array_equal(arrays["9.weight"], source["9.weight"])  # the hidden dense layer fits as it is
    assert np.array_equal(arrays["12.weight"], fresh["12.weight"])  # 1,000 classes -> 10: a new output layer
    assert notes == [
        "first convolution 0.0.weight: 3 input channels summed into 1 (greyscale input)",
        "dense layer 6: the source pooled the 1x1 map to 7x7 before it; that pooling is folded into its weights "
        "(1568 -> 32 inputs)",
        "dense layer 12: new, (64, 1000) -> (64, 10) (in, out), freshly drawn",
    ]


def test_without_an_adaptive_pool_in_the_source_a_resized_dense_layer_is_drawn_anew(tmp_path):
    path, _ = _saved(tmp_path, pool="never")
    fresh = initial_weights(ir.lower(TARGET), "xavier", 0)
    arrays, notes = starting_weights(path, ir.lower(TARGET), fresh)
    assert np.array_equal(arrays["6.weight"], fresh["6.weight"]) and "dense layer 6: new" in notes[1]


def test_a_source_without_conv_bias_starts_the_biases_at_zero(tmp_path):
    bias_free = SOURCE.with_options(conv_bias=False)
    path, _ = _saved(tmp_path, spec=bias_free)
    arrays, notes = starting_weights(path, ir.lower(SOURCE), initial_weights(ir.lower(SOURCE), "xavier", 0))
    assert not arrays["0.0.bias"].any() and notes[0].startswith("convolution biases: the source has none")


def test_a_file_that_is_not_d2lvgg_weights_is_sent_to_weights_import(tmp_path):
    (tmp_path / "vgg11.pth").write_bytes(b"PK")
    with pytest.raises(RunError, match=r"is not d2lvgg weights \(\.npz\): convert it first with d2lvgg weights import"):
        starting_weights(tmp_path / "vgg11.pth", ir.lower(TARGET), {})
    foreign = save_weights({"features.0.weight": np.zeros((4, 3, 3, 3), np.float32)}, tmp_path / "foreign.npz")
    with pytest.raises(RunError, match="holds no tensor under d2lvgg's names: convert it first"):
        starting_weights(foreign, ir.lower(TARGET), {})


def test_weights_of_another_convolution_stack_are_refused(tmp_path):
    path, _ = _saved(tmp_path)
    other = ir.lower(preset("vgg11_bn").scaled(8).with_options(head=(64, 64)))
    with pytest.raises(RunError, match=r"'0\.0\.weight' has shape \(4, 3, 3, 3\), this network needs \(8, 3, 3, 3\)"):
        starting_weights(path, other, {})
    deeper = ir.lower(preset("vgg13").scaled(16).with_options(head=(64, 64)))
    with pytest.raises(RunError, match="holds|lacks"):
        starting_weights(path, deeper, {})


@pytest.mark.torch
def test_an_imported_imagenet_shaped_network_fine_tunes_on_real_fashion_mnist(tmp_path, capsys):
    path, _ = _saved(tmp_path)
    spec_file = tmp_path / "source.json"
    spec_file.write_text(json.dumps(SOURCE.to_dict()))
    out = tmp_path / "run"
    argv = ["train", "--weights", str(path), "--arch", str(spec_file), "--in-channels", "1", "--classes", "10"]
    argv += ["--resize", "32", "--epochs", "2", "--lr", "0.05", "--train-limit", "4096", "--test-limit", "1000"]
    assert main([*argv, "--out", str(out), "--plain"]) == 0
    printed = capsys.readouterr().out
    assert "3 input channels summed into 1" in printed and "dense layer 12: new" in printed
    record = json.loads((out / "config.json").read_text())
    assert record["train"]["weights"] == str(path) and len(record["adapted"]) == 3
    result = json.loads((out / "result.json").read_text())
    assert result["test_acc"] > 0.5  # ten classes: chance is 0.1
