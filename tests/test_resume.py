"""Runs survive interruption: per-epoch checkpoints, SIGKILL then --resume, Ctrl-C, bad checkpoints."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from d2lvgg import ConfigError, RunError, TrainConfig, preset, resume, train
from d2lvgg.backends import REGISTRY
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.training.checkpoint import load_checkpoint
from d2lvgg.training.weights import load_weights

pytestmark = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")

BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in REGISTRY]
TINY = preset("d2l_vgg11").scaled(16).with_options(head=(256, 256), input_size=32)
ARGV = ["--arch", "d2l_vgg11", "--ratio", "16", "--head", "256,256", "--resize", "32", "--device", "cpu"]
ARGV += ["--epochs", "3", "--batch-size", "64", "--lr", "0.1", "--train-limit", "6400", "--test-limit", "500"]


def config(backend: str) -> TrainConfig:
    return TrainConfig(backend=backend, epochs=3, batch_size=64, lr=0.1, train_limit=6400, test_limit=500, device="cpu")


def _deliver_sigint() -> None:
    """In the child, before Python starts: SIGINT acts as a terminal's Ctrl-C, even where this test's
    parent ignores it (a job started in the background), which the child would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_after_first_epoch(argv: list[str], out, signum: int) -> tuple[int, str]:
    """Start ``d2lvgg train`` in a child process, send ``signum`` once epoch 1 is saved; exit code and stderr."""
    command = [sys.executable, "-m", "d2lvgg", "train", *argv, "--out", str(out)]
    proc = subprocess.Popen(  # env: inherited
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_deliver_sigint
    )
    deadline = time.monotonic() + 600
    while not (out / "checkpoint.npz").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint after 10 minutes"
        time.sleep(0.02)
    proc.send_signal(signum)  # mid-way through epoch 2
    _, err = proc.communicate()
    return proc.returncode, err.decode()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.serial  # kills a process: never beside another test
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_and_metrics(tmp_path, backend):
    killed = tmp_path / "killed"
    _signal_after_first_epoch([*ARGV, "--backend", backend], killed, signal.SIGKILL)  # no chance to clean up
    assert load_checkpoint(killed).epochs_done == 1
    assert not (killed / "weights.npz").exists()

    assert main(["train", "--resume", str(killed)]) == 0
    whole = train(TINY, config(backend), out=tmp_path / "whole", progress=False, echo=False)

    resumed_weights, whole_weights = load_weights(killed / "weights.npz"), load_weights(whole.path / "weights.npz")
    assert all(np.array_equal(resumed_weights[k], whole_weights[k]) for k in whole_weights)
    resumed_epochs = (killed / "epochs.csv").read_text().splitlines()
    whole_epochs = (whole.path / "epochs.csv").read_text().splitlines()
    assert len(resumed_epochs) == len(whole_epochs) == 4
    for ours, theirs in zip(resumed_epochs[1:], whole_epochs[1:], strict=True):
        assert ours.split(",")[:4] == theirs.split(",")[:4]  # epoch, train loss, train acc, test acc
    assert (killed / "steps.csv").read_text().count("\n") == (whole.path / "steps.csv").read_text().count("\n")


@pytest.mark.torch
def test_ctrl_c_stops_after_the_last_saved_epoch_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from d2lvgg.backends.torch import backend as torch_backend

    calls = {"n": 0}
    original = torch_backend.Runner.train_step

    def interrupt_in_epoch_two(self, x, y):
        calls["n"] += 1
        if calls["n"] == 100 + 10:  # 100 steps an epoch: the tenth step of epoch 2
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(torch_backend.Runner, "train_step", interrupt_in_epoch_two)
    out = tmp_path / "run"
    assert main(["train", *ARGV, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"Resume with: d2lvgg train --resume {out}" in err and "Traceback" not in err
    assert load_checkpoint(out).epochs_done == 1
    monkeypatch.undo()
    result = resume(out, progress=False, echo=False)
    assert [e["epoch"] for e in result.history.epochs] == [1, 2, 3]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.serial  # signals a process: never beside another test
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_real_ctrl_c_or_sigterm_exits_130_with_the_resume_line_in_every_backend(tmp_path, backend, stop):
    out = tmp_path / "run"
    code, err = _signal_after_first_epoch([*ARGV, "--backend", backend], out, stop)
    assert code == 130, err
    assert f"Resume with: d2lvgg train --resume {out}" in err and "Traceback" not in err
    assert load_checkpoint(out).epochs_done >= 1


@pytest.mark.torch
def test_damaged_checkpoints_are_refused_and_finished_runs_are_not_resumed(tmp_path, capsys):
    out = tmp_path / "run"
    train(TINY, replace(config("torch"), epochs=1), out=out, progress=False, echo=False)
    with pytest.raises(RunError, match="already finished all 1 epochs"):
        resume(out)
    raw = (out / "checkpoint.npz").read_bytes()

    (out / "checkpoint.npz").write_bytes(raw[: len(raw) // 2])
    assert main(["train", "--resume", str(out)]) == 2
    assert "is damaged" in capsys.readouterr().err

    tampered = bytearray(raw)
    tampered[len(raw) // 2] ^= 0xFF  # flip bits inside the stored weights
    (out / "checkpoint.npz").write_bytes(bytes(tampered))
    assert main(["train", "--resume", str(out)]) == 2
    assert re.search(r"damaged|does not match its digest", capsys.readouterr().err)

    (out / "checkpoint.npz").unlink()
    assert main(["train", "--resume", str(out)]) == 2
    assert "has no checkpoint.npz" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "is not a d2lvgg run folder" in capsys.readouterr().err


@pytest.mark.torch
@pytest.mark.parametrize("stage", ["weights", "plot", "result"])
def test_ctrl_c_while_the_end_files_are_written_leaves_a_run_that_resume_finishes(tmp_path, monkeypatch, capsys, stage):
    import d2lvgg.training.session as session

    whole = train(TINY, replace(config("torch"), epochs=1, train_limit=640), out=tmp_path / "whole", echo=False)
    interrupt = {
        "weights": (session, "save_weights"),
        "plot": (session.plot, "save"),
        "result": (session.RunDir, "write_json"),
    }
    owner, name = interrupt[stage]
    original = getattr(owner, name)

    def ctrl_c_at_the_end(*args, **kwargs):
        if stage != "result" or args[1] == "result.json":
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, ctrl_c_at_the_end)
    out = tmp_path / "run"
    argv = ["train", *ARGV, "--epochs", "1", "--train-limit", "640", "--out", str(out)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert (
        f"all 1 epochs are saved in {out}. Finish it (weights, plot, result) with: d2lvgg train --resume {out}" in err
    )
    assert not (out / "result.json").exists()
    monkeypatch.undo()

    assert main(["train", "--resume", str(out)]) == 0
    assert (out / "result.json").is_file() and (out / "curves.png").is_file()
    assert load_weights(out / "weights.npz").keys() == load_weights(whole.path / "weights.npz").keys()
    finished = load_weights(out / "weights.npz")
    assert all(np.array_equal(finished[k], v) for k, v in load_weights(whole.path / "weights.npz").items())
    with pytest.raises(RunError, match="already finished all 1 epochs"):
        resume(out)


def test_the_same_command_again_on_an_unfinished_run_names_resume_first(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "checkpoint.npz").write_bytes(b"saved epochs")
    assert main(["train", *ARGV, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"holds an unfinished run: continue it with d2lvgg train --resume {out}; or choose another" in err
    assert err.endswith("or pass --overwrite to throw its saved epochs away")
    assert (out / "checkpoint.npz").read_bytes() == b"saved epochs"


@pytest.mark.parametrize("option", [["--lr", "0.2"], ["--batch-size=32"], ["--backend", "paddle"], ["--overwrite"]])
def test_resume_refuses_a_setting_it_cannot_change_instead_of_ignoring_it(tmp_path, capsys, option):
    assert main(["train", "--resume", str(tmp_path / "run"), *option]) == 2
    name = option[0].split("=")[0]
    err = capsys.readouterr().err
    assert (
        f"{name} cannot change mid-run (--resume takes only --epochs, --nproc, --nodes, --node-rank, --master, --lang)"
        in err
    )


@pytest.mark.torch
def test_resume_with_more_epochs_ends_as_a_run_that_asked_for_them_at_the_start(tmp_path):
    short = replace(config("torch"), epochs=1, train_limit=640)
    train(TINY, replace(short, epochs=2), out=tmp_path / "two", progress=False, echo=False)
    train(TINY, short, out=tmp_path / "one", progress=False, echo=False)
    assert main(["train", "--resume", str(tmp_path / "one"), "--epochs", "2"]) == 0
    got, want = load_weights(tmp_path / "one" / "weights.npz"), load_weights(tmp_path / "two" / "weights.npz")
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert json.loads((tmp_path / "one" / "config.json").read_text())["train"]["epochs"] == 2
    with pytest.raises(ConfigError, match="has already trained 2 epoch"):
        resume(tmp_path / "one", epochs=1)


@pytest.mark.torch
def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint_and_says_how_to_go_on(tmp_path, monkeypatch, capsys):
    """The disk fills in the middle of epoch 2's checkpoint: half a file written, then ENOSPC."""
    import errno

    import d2lvgg.training.weights as weights

    real_savez, out = np.savez, tmp_path / "run"

    def savez_until_the_disk_is_full(handle, **arrays):
        meta = json.loads(bytes(arrays["meta"]).decode()) if "meta" in arrays else {}
        if meta.get("epochs_done") == 2:
            handle.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(handle, **arrays)

    monkeypatch.setattr(weights.np, "savez", savez_until_the_disk_is_full)
    assert main(["train", *ARGV, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "writing epoch 2's files" in err and "No space left on device" in err
    assert f"d2lvgg train --resume {out}" in err
    assert load_checkpoint(out).epochs_done == 1  # whole: the half-written file never replaced it
    assert not list(out.glob(".checkpoint.npz.*"))  # and nothing half-written is left beside it
    monkeypatch.setattr(weights.np, "savez", real_savez)
    assert main(["train", "--resume", str(out)]) == 0
    assert len((out / "epochs.csv").read_text().splitlines()) == 4  # header and three epochs, none twice
