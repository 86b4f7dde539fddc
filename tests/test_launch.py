"""``d2lvgg train --nproc``: the launcher commands, and how a world shares a batch (no framework needed)."""

from __future__ import annotations

import os
import re
import sys

import pytest

from d2lvgg import ConfigError, RunError
from d2lvgg.backends.base import World
from d2lvgg.tools import launch as launching
from d2lvgg.tools.cli import main
from d2lvgg.tools.launch import (
    Nodes,
    _root_cause,
    launch,
    launch_command,
    launch_environment,
    nodes_from,
    without_launch_options,
)


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
    assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--node-rank=0"]
    assert "--nproc-per-node=2" in command and "--master-addr=127.0.0.1" in command
    assert command[-7:] == ["-m", "d2lvgg", "train", "--epochs", "1", "--out", "runs/x"]
    command = launch_command("mindspore", 4, ["--backend", "mindspore"], "runs/y")
    assert command[:3] == [sys.executable, "-m", "mindspore.parallel.cluster.run"]
    assert {"--worker_num=4", "--local_worker_num=4", "--log_dir=runs/y-msrun-logs"} <= set(command)
    assert command[-4].endswith("d2lvgg/__main__.py") and command[-3:] == ["train", "--backend", "mindspore"]
    command = launch_command("paddle", 2, ["--backend", "paddle"], "runs/z")
    assert command[:5] == [sys.executable, "-m", "paddle.distributed.launch", "--host=127.0.0.1", "--nnodes=1"]
    master = next(part for part in command if part.startswith("--master="))
    assert re.fullmatch(r"--master=127\.0\.0\.1:\d+", master) and "--log_dir=runs/z-paddle-logs" in command
    with pytest.raises(ConfigError, match="the jax backend has no data-parallel launcher: leave out --nproc"):
        launch_command("jax", 2, [], "runs/z")


def test_on_two_machines_each_node_launches_its_share_and_names_node_0_as_the_rendezvous():
    node = nodes_from(2, 1, "10.0.0.1:29500")
    assert node == Nodes(2, 1, "10.0.0.1", 29500) and not node.loopback
    command = launch_command("torch", 4, ["--out", "runs/x"], "runs/x", node)
    assert "--nnodes=2" in command and "--node-rank=1" in command and "--nproc-per-node=4" in command
    assert "--master-addr=10.0.0.1" in command and "--master-port=29500" in command
    command = launch_command("mindspore", 4, [], "runs/x", node)
    assert "--worker_num=8" in command and "--local_worker_num=4" in command and "--node_rank=1" in command
    assert "--master_addr=10.0.0.1" in command and "--log_dir=runs/x-node1-msrun-logs" in command
    command = launch_command("paddle", 1, [], "runs/x", node)
    assert "--nnodes=2" in command and "--rank=1" in command and "--master=10.0.0.1:29500" in command
    assert "--host=127.0.0.1" not in command  # a real network: the launcher finds this machine's address
    loopback = nodes_from(2, 0, "127.0.0.1:29500")
    assert loopback.loopback and "--host=127.0.0.1" in launch_command("paddle", 1, [], "runs/x", loopback)
    assert nodes_from(2, 0, "[::1]:29500") == Nodes(2, 0, "::1", 29500)
    assert nodes_from(3, 2, "head.lab:6000").host == "head.lab" and nodes_from(1, None, None) == Nodes()


def test_the_launched_processes_do_not_relaunch():
    argv = ["--epochs", "1", "--nproc", "2", "--out", "r", "--nodes", "2", "--node-rank=1", "--master", "h:1"]
    assert without_launch_options(argv) == ["--epochs", "1", "--out", "r"]
    assert without_launch_options(["--nproc=2", "--resume", "r"]) == ["--resume", "r"]


def test_the_launched_processes_find_this_interpreter_first_without_an_activated_venv(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a cron job's PATH: no venv on it
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "eth7")
    environment = launch_environment("torch")
    assert environment["PATH"].split(os.pathsep) == [os.path.dirname(sys.executable), "/usr/bin", "/bin"]
    assert environment["GLOO_SOCKET_IFNAME"] == "eth7"  # the user's own setting wins over the launcher's
    monkeypatch.delenv("GLOO_SOCKET_IFNAME")
    assert launch_environment("torch")["GLOO_SOCKET_IFNAME"] == "lo"
    across = launch_environment("torch", Nodes(2, 1, "10.0.0.1", 29500))
    assert "GLOO_SOCKET_IFNAME" not in across and across["D2LVGG_NODE_RANK"] == "1"  # gloo finds the network itself


def _fake_launcher(monkeypatch, script: str) -> None:
    """``launch`` runs ``script`` in a fresh interpreter in place of the backend's launcher."""
    monkeypatch.setattr(launching, "launch_command", lambda *args: [sys.executable, "-c", script])


def test_a_run_whose_result_is_written_is_not_failed_by_a_process_dying_at_exit(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    _fake_launcher(
        monkeypatch, f"import pathlib, sys; pathlib.Path({str(out)!r}, 'result.json').write_text('{{}}'); sys.exit(1)"
    )
    assert launch("torch", 2, [], str(out)) == 0
    assert "is complete; a training process failed on its way out (exit status 1)" in capsys.readouterr().err


def test_a_failed_run_names_the_resume_and_an_old_result_does_not_count(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    old = out / "result.json"
    old.write_text("{}")
    os.utime(old, (0, 0))  # written by an earlier run, long before this launch
    _fake_launcher(monkeypatch, "import sys; sys.exit(1)")
    with pytest.raises(RunError, match=f"resume with d2lvgg train --resume {out} --nproc 2$"):
        launch("torch", 2, [], str(out))


def test_a_launcher_program_missing_from_path_is_named_with_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `ip` here (nor beside this interpreter)
    monkeypatch.setattr(launching.sys, "executable", str(tmp_path / "python"))
    _fake_launcher(monkeypatch, "raise SystemExit('the launcher must not start')")
    message = "the mindspore launcher needs the 'ip' command, which is not on PATH"
    message += " (Debian and Ubuntu: apt-get install iproute2)"
    with pytest.raises(ConfigError, match=re.escape(message)):
        launch("mindspore", 2, [], str(tmp_path / "run"))


def test_the_launchers_report_comes_down_to_its_root_cause():
    report = """Traceback (most recent call last):
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Failures:
  <NO_OTHER_FAILURES>
Root Cause (first observed failure):
[0]:
  time      : 2026-12-04_09:30:00
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 4242)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 4242
"""
    cause = "rank 1 (local_rank: 1) failed with exit code -9 (pid: 4242): Signal 9 (SIGKILL) received by PID 4242"
    assert _root_cause(report) == cause
    assert (
        _root_cause("Traceback (most recent call last):\n  File ...\nValueError: bad shape\n")
        == "ValueError: bad shape"
    )
    assert _root_cause("") == ""
    paddle = """LAUNCH ERROR 2026-12-04 11:44:39,104 Container failed !!!
Container rank 1 status failed cmd ['python', '-u', 'main.py'] code -9 log runs/x-paddle-logs/workerlog.1
LAUNCH INFO 2026-12-04 11:44:39,104 ------------------------- ERROR LOG DETAIL -------------------------
"""
    assert _root_cause(paddle) == "rank 1 failed with exit code -9 (SIGKILL); its log: runs/x-paddle-logs/workerlog.1"


def test_the_launchers_chatter_goes_to_the_log_only(tmp_path, monkeypatch, capsys):
    chatter = "[2026-12-04 14:59:32,597] [    INFO] _client.py:1025 - HTTP Request: GET http://127.0.0.1:29544/ 200"
    script = f"import sys; print({chatter!r}, file=sys.stderr); print('epoch 1/1', file=sys.stderr)"
    _fake_launcher(monkeypatch, script)
    assert launch("paddle", 2, [], str(tmp_path / "run")) == 0
    assert capsys.readouterr().err == "epoch 1/1\n"
    assert chatter in (tmp_path / "run-launch.log").read_text()


def test_a_failed_node_says_where_the_run_folder_is_and_how_to_resume(tmp_path, monkeypatch):
    _fake_launcher(monkeypatch, "import sys; sys.exit(1)")
    out = str(tmp_path / "run")
    said = f"of node 1 stopped .* in node 0's {out}: resume with .* --resume {out} --nproc 2$"
    with pytest.raises(RunError, match=said):
        launch("torch", 1, [], out, Nodes(2, 1, "10.0.0.1", 29500))
    assert (tmp_path / "run-node1-launch.log").is_file()


def test_a_lost_peer_is_named_by_the_error_the_worker_raised(tmp_path):
    gloo = "/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp"
    advice = "This is typically caused by a remote worker hanging or bugs in the application."
    report = f"""[rank0]: Traceback (most recent call last):
[rank0]: RuntimeError: [{gloo}/pair.cc:537] Read error [127.0.0.1]:9953: Connection reset by peer. {advice}
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Root Cause (first observed failure):
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 11818)
  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
"""
    said = (
        f"rank 0 (local_rank: 0) failed with exit code 1 (pid: 11818): RuntimeError: [{gloo}/pair.cc:537] Read error "
    )
    assert _root_cause(report) == said + "[127.0.0.1]:9953: Connection reset by peer"
    log = tmp_path / "workerlog.0"
    log.write_text("epoch 1/3 ...\nRuntimeError: [pair.cc:584] TIMEOUT self_rank = 0 pair_rank = 1\n")
    paddle = f"Container rank 0 status failed cmd ['python'] code 1 log {log}\n"
    said = "rank 0 failed with exit code 1: RuntimeError: [pair.cc:584] TIMEOUT self_rank = 0 pair_rank = 1"
    assert _root_cause(paddle) == f"{said}; its log: {log}"
    logs = tmp_path / "run-msrun-logs"
    logs.mkdir()
    (logs / "scheduler.log").write_text(
        "[ERROR] DISTRIBUTED ... The node: 1 is timed out.\nRuntimeError: The total number of timed out node is 1. "
        "Timed out node list is: {1}, worker 1 is the first one timed out, please check its log.\n"
    )
    msrun = f"RuntimeError: Distributed job exited with exception. Please check logs in directory: {logs}.\n"
    said = "RuntimeError: The total number of timed out node is 1. Timed out node list is: {1}, worker 1 is the first"
    assert _root_cause(msrun) == f"{said} one timed out, please check its log; the logs: {logs}"
    killed = "[ERROR] ME(19560) [_api.py:365] Worker process 19572 exit with exception. Error code: -9.\n" + msrun
    assert _root_cause(killed).startswith("worker process 19572 failed with exit code -9 (SIGKILL); " + said)


def test_overwrite_reaches_a_launched_run_and_other_nodes_leave_the_folder_alone(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr(launching, "launch", lambda *args: launched.append(args) or 0)
    out = tmp_path / "run"
    out.mkdir()
    (out / "result.json").write_text("{}")  # an earlier run's
    argv = ["train", "--arch", "d2l_vgg11", "--ratio", "16", "--head", "256,256", "--resize", "32", "--out", str(out)]
    assert main([*argv, "--nproc", "2"]) == 2  # refused: it holds files
    assert main([*argv, "--nproc", "2", "--overwrite"]) == 0
    assert main([*argv, "--nodes", "2", "--node-rank", "1", "--master", "10.0.0.1:29500"]) == 0  # not node 0's
    (_, nproc, train_args, folder, nodes), (*_, across) = launched
    assert nproc == 2 and folder == str(out) and "--overwrite" in train_args and "--nproc" not in train_args
    assert across == Nodes(2, 1, "10.0.0.1", 29500)
