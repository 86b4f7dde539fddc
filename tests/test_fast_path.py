"""PyTorch's fast path: channels-last batches, lazy metrics, AMP and compile switches, and its convergence."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from d2lvgg import TrainConfig, preset, train
from d2lvgg.data.fashion_mnist import SYSTEM_DIR, load_fashion_mnist
from d2lvgg.model.ir import lower
from d2lvgg.tools.cli import main

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}"),
]
TINY = preset("d2l_vgg11").scaled(16).with_options(head=(256, 256), input_size=32)
PLAIN = {"device_data": False, "channels_last": False, "amp": "off", "compile": "off"}


@pytest.fixture(scope="module")
def data():
    return load_fashion_mnist()


def test_device_batches_come_channels_last(data):
    import torch

    from d2lvgg.backends.torch.backend import Runner

    runner = Runner(lower(TINY), device="cpu", device_data=True, channels_last=True)
    feed = runner.data(data.train_images[:300], data.train_labels[:300], 32)
    shapes = [tuple(x.shape) for x, _ in feed.batches(batch_size=128, shuffle=True, seed=3, epoch=2)]
    assert shapes == [(128, 1, 32, 32), (128, 1, 32, 32), (44, 1, 32, 32)]
    x, _ = next(feed.batches(batch_size=128, shuffle=True, seed=3, epoch=2))
    assert x.is_contiguous(memory_format=torch.channels_last)  # what the batches equal: test_runners.py


def test_metrics_stay_on_the_device_until_fetched(data):
    import torch

    from d2lvgg.backends.torch.backend import Runner

    runner = Runner(lower(TINY), device="cpu", device_data=True)
    runner.set_optimizer(0.05)
    x, y = next(
        runner.data(data.train_images[:64], data.train_labels[:64], 32).batches(
            batch_size=64, shuffle=False, seed=0, epoch=0
        )
    )
    loss, correct = runner.train_step(x, y)
    assert isinstance(loss, torch.Tensor) and isinstance(correct, torch.Tensor)
    fetched = runner.fetch([loss, correct])
    assert all(isinstance(v, float) for v in fetched) and 0 <= fetched[1] <= 64 and fetched[0] > 0


def test_the_run_records_which_switches_were_on(tmp_path):
    config = TrainConfig(epochs=1, train_limit=256, test_limit=128, device="cpu")
    train(TINY, config, out=tmp_path / "fast", progress=False, echo=False)
    record = json.loads((tmp_path / "fast" / "config.json").read_text())
    assert record["fast"] == {
        "device_data": True,
        "channels_last": True,
        "amp": False,
        "compile": False,
        "lazy_metrics": True,
    }
    assert (
        main(
            [
                "train",
                "--arch",
                "d2l_vgg11",
                "--ratio",
                "16",
                "--head",
                "64",
                "--resize",
                "32",
                "--epochs",
                "1",
                "--train-limit",
                "256",
                "--test-limit",
                "128",
                "--device",
                "cpu",
                "--plain",
                "--out",
                str(tmp_path / "plain"),
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "plain" / "config.json").read_text())
    assert not any(record["fast"].values())
    assert record["train"] | PLAIN == record["train"]


def test_bfloat16_autocast_trains_and_predicts_float32(tmp_path):
    config = TrainConfig(epochs=1, lr=0.05, train_limit=640, test_limit=256, device="cpu", options={"amp": "on"})
    result = train(TINY, config, out=tmp_path / "amp", progress=False, echo=False)
    assert np.isfinite(result.train_loss) and 0.0 <= result.test_acc <= 1.0
    assert json.loads((tmp_path / "amp" / "config.json").read_text())["fast"]["amp"] is True


def test_a_time_estimate_is_printed_before_the_first_epoch_ends(tmp_path, capsys):
    config = TrainConfig(epochs=3, batch_size=16, train_limit=160, test_limit=32, device="cpu")
    train(TINY, config, out=tmp_path / "run", progress=False)
    printed = capsys.readouterr().out
    assert re.search(r"estimate from \d+ steps: about \d+ s per epoch, \d+ s for 3 epochs", printed), printed
    assert printed.index("estimate") < printed.index("epoch 1/3")
    assert "this is slow" not in printed


def test_a_long_cpu_run_at_224_gets_configurations_that_fit_a_class():
    from d2lvgg.training.report import estimate_line

    cpu, gpu, epochs = "cpu", "cuda:0", (0, 10)
    at224 = preset("d2l_vgg11_small")
    line = estimate_line(3120.0, 9, at224, cpu, epochs)
    assert line.startswith("estimate from 9 steps: about 52 min per epoch, 8.7 h for 10 epochs (plus")
    assert "--ratio 16 --head 256,256 --resize 32" in line and "d2lvgg sweep --list" in line
    assert "this is slow" not in estimate_line(3120.0, 9, at224, gpu, epochs)
    assert "this is slow" not in estimate_line(60.0, 9, at224, cpu, epochs)  # 10 minutes: it fits
    assert "this is slow" not in estimate_line(3120.0, 9, at224.with_options(input_size=96), cpu, epochs)


def test_a_resumed_runs_estimate_counts_only_the_epochs_left():
    from d2lvgg.training.report import estimate_line

    line = estimate_line(60.0, 9, preset("d2l_vgg11_small"), "cpu", (7, 10))
    assert line.startswith("estimate from 9 steps: about 60 s per epoch, 3 min for 3 epochs still to run")


def test_a_compiled_first_step_is_named_and_left_out_of_the_estimate():
    from d2lvgg.training.report import estimate_line

    line = estimate_line(60.0, 9, preset("d2l_vgg11_small"), "cpu", (0, 10), first_step=12.34)
    assert line.startswith("estimate from 9 steps: about 60 s per epoch, 10 min for 10 epochs")
    assert line.endswith(
        "; the first step took 12.3 s to warm up (compiling, where the framework compiles) and is left out"
    )
    assert "warm up" not in estimate_line(60.0, 9, preset("d2l_vgg11_small"), "cpu", (0, 10))


@pytest.mark.slow
def test_fast_path_accuracy_is_within_a_point_of_the_plain_path(reduced_recipe_run):
    """The reduced recipe on all the real data (the shared run) and again with every speed-up off, same seed.

    Early in training two runs that differ only in rounding (channels-last kernels, the resize done by another
    matrix product) can sit a few points apart; after the recipe's five epochs the five frameworks' runs, which
    differ in far more than rounding, land within half a point of each other (docs/results/parity-*), so a point
    bounds the real gap.
    """
    fast, plain = reduced_recipe_run("torch"), reduced_recipe_run("torch", plain=True)
    switches = {
        name: json.loads((run.path / "config.json").read_text())["fast"]
        for name, run in (("fast", fast), ("plain", plain))
    }
    assert switches["fast"]["device_data"] and switches["fast"]["channels_last"] and switches["fast"]["lazy_metrics"]
    assert not any(switches["plain"].values()), switches
    accuracy = {"fast": fast.test_acc, "plain": plain.test_acc}
    assert accuracy["fast"] >= 0.80 and abs(accuracy["fast"] - accuracy["plain"]) <= 0.01, accuracy


@pytest.mark.gpu
def test_on_a_gpu_the_fast_path_uses_bfloat16_and_compile_and_keeps_accuracy(tmp_path):
    import torch

    results = {}
    for name, switches in (("fast", {}), ("plain", PLAIN)):
        config = TrainConfig(epochs=2, lr=0.05, batch_size=128, device="cuda", train_limit=12800, options=switches)
        results[name] = train(TINY, config, out=tmp_path / name, progress=False, echo=False)
    fast = json.loads((tmp_path / "fast" / "config.json").read_text())["fast"]
    assert fast["compile"] and fast["amp"] == torch.cuda.is_bf16_supported()
    assert abs(results["fast"].test_acc - results["plain"].test_acc) <= 0.02
