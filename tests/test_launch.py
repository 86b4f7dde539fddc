"""``d2lvgg train --nproc``: the launcher commands, and how a world shares a batch (no framework needed)."""

from __future__ import annotations

import pytest

from d2lvgg import ConfigError
from d2lvgg.backends.base import World
from d2lvgg.tools.launch import launch_command, without_nproc


def test_each_process_of_a_world_gets_a_contiguous_share_and_together_all_rows():
    for size in (1, 2, 3, 4):
        for n in (size, 7, 64, 96, 128):
            shares = [World(rank, size).share(n) for rank in range(size)]
            rows = [row for share in shares for row in range(n)[share]]
            assert rows == list(range(n))
            assert max(len(range(n)[s]) for s in shares) - min(len(range(n)[s]) for s in shares) <= 1
    assert World().leader and not World(1, 2).leader


def test_the_launch_command_is_the_backends_launcher_running_d2lvgg_train():
    command = launch_command("torch", 2, ["--epochs", "1", "--out", "runs/x"], "runs/x")
    assert command[:4] == ["torchrun", "--standalone", "--nproc-per-node=2", "-m"]
    assert command[4:] == ["d2lvgg", "train", "--epochs", "1", "--out", "runs/x"]
    command = launch_command("mindspore", 4, ["--backend", "mindspore"], "runs/y")
    assert command[0] == "msrun" and "--worker_num=4" in command and "--log_dir=runs/y-msrun-logs" in command
    assert command[-4].endswith("d2lvgg/__main__.py") and command[-3:] == ["train", "--backend", "mindspore"]
    with pytest.raises(ConfigError, match="the paddle backend has no data-parallel launcher: leave out --nproc"):
        launch_command("paddle", 2, [], "runs/z")


def test_the_launched_processes_do_not_relaunch():
    assert without_nproc(["--epochs", "1", "--nproc", "2", "--out", "r"]) == ["--epochs", "1", "--out", "r"]
    assert without_nproc(["--nproc=2", "--resume", "r"]) == ["--resume", "r"]
