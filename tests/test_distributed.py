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
from d2lvgg.tools.launch import free_port
from d2lvgg.training.checkpoint import load_checkpoint
from d2lvgg.training.threads import ENVIRONMENT as THREADS
from d2lvgg.training.weights import load_weights

pytestmark = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")
# The tests that kill a worker or a node are `serial`: never beside another test. A launched run that is left alone
# shares the cores like any test: its processes take the worker's thread share, and its result does not depend on time.

# The reduced network (dropout in its head) on a slice of the real data, two epochs.
ARCH = ["--arch", "d2l_vgg11", "--ratio", "16", "--head", "256,256", "--resize", "32"]
SETTINGS = ["--epochs", "2", "--batch-size", "64", "--lr", "0.05", "--device", "cpu"]
LIMITS = ["--train-limit", "2560", "--test-limit", "1000"]
SPEC = resolve_spec("d2l_vgg11", ratio=16, head=(256, 256), input_size=32)
D2LVGG = [sys.executable, "-m", "d2lvgg"]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The run of one process per backend (its folder), trained once for every comparison of the module."""
    runs: dict[str, Path] = {}

    def run(backend: str) -> Path:
        if backend not in runs:
            out = tmp_path_factory.mktemp(f"one-{backend}") / "run"
            config = TrainConfig(
                backend=backend, epochs=2, batch_size=64, lr=0.05, device="cpu", train_limit=2560, test_limit=1000
            )
            train(SPEC, config, out=out, progress=False, echo=False)
            runs[backend] = out
        return runs[backend]

    return run


@pytest.fixture
def short_node_timeout(monkeypatch):
    """MindSpore's scheduler declares a silent node lost after ``MS_NODE_TIMEOUT`` s (30 by default): these tests are
    about d2lvgg's line and the resume, not that wait (node 0 stopped 45 s after node 1 was lost, 16 to 34 s at 10)."""
    monkeypatch.setenv("MS_NODE_TIMEOUT", "10")


def _largest_difference(a: Path, b: Path) -> float:
    one, two = load_weights(a / "weights.npz"), load_weights(b / "weights.npz")
    assert one.keys() == two.keys()
    return max(float(np.abs(one[k] - two[k]).max()) for k in one)


# PaddlePaddle's weight gradients summed in two halves round differently from one sum (1.5e-8 after the
# first epoch's 40 steps); its second epoch, still at chance accuracy, amplifies that to 6e-4.
TOLERANCES = [
    pytest.param("torch", 1e-6, marks=pytest.mark.torch),
    pytest.param("mindspore", 1e-5, marks=pytest.mark.mindspore),
    pytest.param("paddle", 1e-3, marks=pytest.mark.paddle),
]


def _check_the_same_training(one: Path, launched: Path, backend: str, tolerance: float, size: int) -> None:
    difference = _largest_difference(one, launched)
    print(f"{backend}: largest weight difference {difference:.2e}")
    assert difference <= tolerance
    result, single = (json.loads((run / "result.json").read_text()) for run in (launched, one))
    assert abs(result["test_acc"] - single["test_acc"]) <= 0.002
    config = json.loads((launched / "config.json").read_text())
    assert config["world"]["size"] == size and config["world"]["engine"]


@pytest.mark.parametrize(("backend", "tolerance"), TOLERANCES)
def test_two_processes_end_with_the_weights_of_one(tmp_path, capsys, monkeypatch, one_process, backend, tolerance):
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")  # no venv on PATH: the launcher is found all the same
    argv = ["train", "--backend", backend, *ARCH, *SETTINGS, *LIMITS, "--out", str(tmp_path / "two"), "--nproc", "2"]
    assert main(argv) == 0
    _check_the_same_training(one_process(backend), tmp_path / "two", backend, tolerance, size=2)
    assert "running: " in capsys.readouterr().out


def _start_node(argv: list[str], rank: int, master: str) -> subprocess.Popen:
    """``d2lvgg train ARGV`` as node ``rank`` of two, both on this machine (a loopback ``master``)."""
    command = [*D2LVGG, "train", *argv, "--nodes", "2", "--node-rank", str(rank)]
    return subprocess.Popen([*command, "--master", master], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize(("backend", "tolerance"), TOLERANCES)
def test_two_nodes_end_with_the_weights_of_one(tmp_path, one_process, backend, tolerance):
    out = tmp_path / "nodes"
    argv = ["--backend", backend, *ARCH, *SETTINGS, *LIMITS, "--out", str(out)]
    master = f"127.0.0.1:{free_port()}"
    nodes = [_start_node(argv, rank, master) for rank in (0, 1)]
    for node in nodes:
        _, err = node.communicate(timeout=600)
        assert node.returncode == 0, err
    _check_the_same_training(one_process(backend), out, backend, tolerance, size=2)
    for rank in (0, 1):  # each node's launcher keeps its own log; its processes do not relaunch
        assert " --master " not in Path(f"{out}-node{rank}-launch.log").read_text()


def _processes(out: Path, variable: str, value: int) -> list[int]:
    """The pids of what trains into ``out`` (launchers and training processes) with ``variable=value`` in its
    environment, from /proc, oldest first."""
    found = []
    for pid in sorted(filter(str.isdigit, os.listdir("/proc")), key=int):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(out).encode() in command and b"train" in command and f"{variable}={value}".encode() in environment:
            found.append(int(pid))
    return found


@pytest.mark.parametrize(
    ("backend", "rank_variable", "cause", "report"),
    [
        pytest.param("torch", "RANK", "rank 1 (local_rank: 1) failed", "ChildFailedError", marks=pytest.mark.torch),
        # PaddlePaddle's launcher names the first failed process it sees: the killed one, or the other
        # one, whose collective broke (exit code 1).
        pytest.param(
            "paddle", "PADDLE_TRAINER_ID", "failed with exit code", "Container failed", marks=pytest.mark.paddle
        ),
        # Slow, as its lost node: msrun's scheduler waits for the dead worker's heartbeat to time out (76 s in all).
        pytest.param(
            "mindspore",
            "RANK_ID",
            "failed with exit code -9 (SIGKILL)",
            "exit with exception",
            marks=[pytest.mark.mindspore, pytest.mark.slow],
        ),
    ],
)
@pytest.mark.serial
def test_a_killed_worker_stops_the_others_and_the_run_resumes(
    tmp_path, monkeypatch, short_node_timeout, backend, rank_variable, cause, report
):
    # The uninterrupted run trains beside the one that is killed (it waits out the launcher's notice of the death):
    # four processes, one thread each, for these and the resumed ones alike.
    monkeypatch.setenv(THREADS, "1")
    out, whole = tmp_path / "run", tmp_path / "whole"
    argv = ["train", "--backend", backend, *ARCH, "--epochs", "4", *SETTINGS[2:], *LIMITS, "--nproc", "2"]
    with open(tmp_path / "whole.log", "w") as log:
        uninterrupted = subprocess.Popen([*D2LVGG, *argv, "--out", str(whole)], stdout=log, stderr=log)
    launcher = subprocess.Popen(
        [*D2LVGG, *argv, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    checkpoint = out / "checkpoint.npz"
    while not checkpoint.exists() and launcher.poll() is None:
        time.sleep(0.2)
    os.kill(_processes(out, rank_variable, 1)[0], signal.SIGKILL)
    _, err = launcher.communicate(timeout=300)  # bounded: the survivors must not hang
    assert launcher.returncode == 2
    assert f"resume with d2lvgg train --resume {out} --nproc 2" in err.splitlines()[-1]
    assert cause in err.splitlines()[-1]  # the cause, in one line
    assert "Traceback" not in err and report not in err  # not the launcher's report,
    assert report in Path(f"{out}-launch.log").read_text()  # which is kept whole beside the run
    finished = len((out / "epochs.csv").read_text().splitlines()) - 1
    assert 1 <= finished < 4

    assert main(["train", "--resume", str(out), "--nproc", "2"]) == 0
    assert uninterrupted.wait(timeout=300) == 0, (tmp_path / "whole.log").read_text()[-3000:]
    assert _largest_difference(out, whole) == 0.0  # the same sums in the same order
    assert (out / "epochs.csv").read_text().count("\n") == 5


@pytest.mark.torch
def test_a_batch_too_small_to_share_is_refused_before_launching(tmp_path, capsys):
    argv = ["train", *ARCH, *SETTINGS, "--train-limit", "2561", "--test-limit", "1000", "--nproc", "2"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("change --batch-size or the --train-limit/--test-limit") and "leave one of 1" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("torch", marks=pytest.mark.torch),
        # Slow: msrun's scheduler notices the lost node only when its heartbeat times out (16-34 s at 10 s timeout).
        pytest.param("mindspore", marks=[pytest.mark.mindspore, pytest.mark.slow]),
        pytest.param("paddle", marks=pytest.mark.paddle),
    ],
)
@pytest.mark.serial
def test_a_lost_node_stops_the_other_and_the_run_resumes_on_one(tmp_path, short_node_timeout, backend):
    out = tmp_path / "run"
    argv = ["--backend", backend, *ARCH, "--epochs", "3", *SETTINGS[2:], *LIMITS, "--out", str(out)]
    nodes = [_start_node(argv, 0, master := f"127.0.0.1:{free_port()}"), _start_node(argv, 1, master)]
    while not (out / "checkpoint.npz").exists() and nodes[0].poll() is None:
        time.sleep(0.2)
    lost = time.monotonic()
    for pid in [nodes[1].pid, *_processes(out, "D2LVGG_NODE_RANK", 1)]:  # the machine of node 1 goes away
        os.kill(pid, signal.SIGKILL)
    _, err = nodes[0].communicate(timeout=300)  # bounded: node 0 must not hang
    print(f"{backend}: node 0 stopped {time.monotonic() - lost:.1f} s after node 1 was lost: {err.splitlines()[-1]}")
    assert nodes[0].returncode == 2
    assert f"resume with d2lvgg train --resume {out} --nproc 2" in err.splitlines()[-1]
    assert "Traceback" not in err
    finished = len((out / "epochs.csv").read_text().splitlines()) - 1
    assert 1 <= finished < 3 and load_checkpoint(out).epochs_done == finished  # the folder is whole

    assert main(["train", "--resume", str(out)]) == 0  # on one node, one process
    assert (out / "epochs.csv").read_text().count("\n") == 4 and (out / "result.json").is_file()
