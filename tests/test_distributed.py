"""Data-parallel training on the frameworks' own launchers computes what one process computes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from d2lvgg import TrainConfig, resolve_spec, train
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.training.weights import load_weights

pytestmark = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")

# The reduced network (dropout in its head) on a slice of the real data, two epochs.
ARCH = ["--arch", "d2l_vgg11", "--ratio", "16", "--head", "256,256", "--resize", "32"]
SETTINGS = ["--epochs", "2", "--batch-size", "64", "--lr", "0.05", "--device", "cpu"]
LIMITS = ["--train-limit", "2560", "--test-limit", "1000"]
SPEC = resolve_spec("d2l_vgg11", ratio=16, head=(256, 256), input_size=32)


def _one_process(backend: str, out: Path, epochs: int = 2):
    config = TrainConfig(
        backend=backend, epochs=epochs, batch_size=64, lr=0.05, device="cpu", train_limit=2560, test_limit=1000
    )
    return train(SPEC, config, out=out, progress=False, echo=False)


def _largest_difference(a: Path, b: Path) -> float:
    one, two = load_weights(a / "weights.npz"), load_weights(b / "weights.npz")
    assert one.keys() == two.keys()
    return max(float(np.abs(one[k] - two[k]).max()) for k in one)


@pytest.mark.parametrize(
    ("backend", "tolerance"),
    [
        pytest.param("torch", 1e-6, marks=pytest.mark.torch),
        pytest.param("mindspore", 1e-5, marks=pytest.mark.mindspore),
        # PaddlePaddle's weight gradients summed in two halves round differently from one sum (1.5e-8 after
        # the first epoch's 40 steps); its second epoch, still at chance accuracy, amplifies that to 6e-4.
        pytest.param("paddle", 1e-3, marks=pytest.mark.paddle),
    ],
)
def test_two_processes_end_with_the_weights_of_one(tmp_path, capsys, monkeypatch, backend, tolerance):
    single = _one_process(backend, tmp_path / "one")
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")  # no venv on PATH: the launcher is found all the same
    argv = ["train", "--backend", backend, *ARCH, *SETTINGS, *LIMITS, "--out", str(tmp_path / "two"), "--nproc", "2"]
    assert main(argv) == 0
    difference = _largest_difference(tmp_path / "one", tmp_path / "two")
    print(f"{backend}: largest weight difference {difference:.2e}")
    assert difference <= tolerance
    result = json.loads((tmp_path / "two" / "result.json").read_text())
    assert abs(result["test_acc"] - single.test_acc) <= 0.002
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["world"]["size"] == 2 and config["world"]["engine"]
    assert "running: " in capsys.readouterr().out


def _worker(out: Path, rank: int, variable: str) -> int:
    """The pid of the training process of ``rank`` (its launcher's ``variable``) writing to ``out`` (from /proc)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(out).encode() in command and b"train" in command and f"{variable}={rank}".encode() in environment:
            return int(pid)
    raise AssertionError(f"no rank {rank} process for {out}")


@pytest.mark.parametrize(
    ("backend", "rank_variable", "cause", "report"),
    [
        pytest.param("torch", "RANK", "rank 1 (local_rank: 1) failed", "ChildFailedError", marks=pytest.mark.torch),
        # PaddlePaddle's launcher names the first failed process it sees: the killed one, or the other
        # one, whose collective broke (exit code 1).
        pytest.param(
            "paddle", "PADDLE_TRAINER_ID", "failed with exit code", "Container failed", marks=pytest.mark.paddle
        ),
    ],
)
def test_a_killed_worker_stops_the_others_and_the_run_resumes(tmp_path, backend, rank_variable, cause, report):
    out = tmp_path / "run"
    argv = ["--backend", backend, *ARCH, "--epochs", "4", *SETTINGS[2:], *LIMITS, "--nproc", "2"]
    assert main(["train", *argv, "--out", str(tmp_path / "whole")]) == 0
    launcher = subprocess.Popen(
        [sys.executable, "-m", "d2lvgg", "train", *argv, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = out / "checkpoint.npz"
    while not checkpoint.exists() and launcher.poll() is None:
        time.sleep(0.2)
    os.kill(_worker(out, 1, rank_variable), signal.SIGKILL)
    _, err = launcher.communicate(timeout=300)  # bounded: the survivors must not hang
    assert launcher.returncode == 2
    assert f"resume with d2lvgg train --resume {out} --nproc 2" in err.splitlines()[-1]
    assert cause in err.splitlines()[-1]  # the cause, in one line
    assert "Traceback" not in err and report not in err  # not the launcher's report,
    assert report in Path(f"{out}-launch.log").read_text()  # which is kept whole beside the run
    finished = len((out / "epochs.csv").read_text().splitlines()) - 1
    assert 1 <= finished < 4

    assert main(["train", "--resume", str(out), "--nproc", "2"]) == 0
    assert _largest_difference(out, tmp_path / "whole") == 0.0  # the same sums in the same order
    assert (out / "epochs.csv").read_text().count("\n") == 5


@pytest.mark.torch
def test_a_batch_too_small_to_share_is_refused_before_launching(tmp_path, capsys):
    argv = ["train", *ARCH, *SETTINGS, "--train-limit", "2561", "--test-limit", "1000", "--nproc", "2"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("change --batch-size or the --train-limit/--test-limit") and "leave one of 1" in err
    assert not (tmp_path / "run").exists()
