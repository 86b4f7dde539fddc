"""``d2lvgg train --nproc N [--nodes M ...]``: the backend's own data-parallel launcher, started with the right
arguments on each node (machine); every node runs the same command but for its ``--node-rank``.

The launcher runs as a module of this interpreter (``python -m torch.distributed.run``), and its
processes find this interpreter's ``bin`` folder first on ``PATH`` (msrun starts its workers as
``python``), so a full path to ``d2lvgg``, a cron job or a notebook kernel needs no activated venv.
What the processes print on stderr is shown as it comes, up to the launcher's report of a failure (a
traceback, about 40 lines from torchrun; PaddlePaddle's "LAUNCH ERROR" block): that is kept, with
everything else, in ``RUN-launch.log`` beside the run folder, and the one line that stops the run names
its root cause.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..backends import declaration
from ..backends.base import NODE_RANK, Launcher
from ..errors import ConfigError, RunError
from ..training.rundir import RESULT


@dataclass(frozen=True)
class Nodes:
    """The machines one data-parallel run spans: how many, which one this is, and node 0's rendezvous."""

    count: int = 1
    rank: int = 0
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port of this machine, chosen at launch

    @property
    def loopback(self) -> bool:
        """Whether every node is this machine (the master is a loopback address)."""
        return self.host == "localhost" or self.host.startswith("127.") or self.host == "::1"

    def logs(self, out: str) -> str:
        """Where this node's launcher writes its logs: beside the run folder, named by node when there are several."""
        return out if self.count == 1 else f"{out}-node{self.rank}"


def nodes_from(count: int, rank: int | None, master: str | None) -> Nodes:
    """``--nodes``, ``--node-rank`` and ``--master`` as a ``Nodes``; a one-line refusal of what does not fit."""
    if count < 1:
        raise ConfigError(f"--nodes must be 1 or more, got {count}")
    if count == 1:
        if rank is not None or master is not None:
            raise ConfigError(
                "--node-rank and --master are for a run across machines: add --nodes N, or leave them out"
            )
        return Nodes()
    if rank is None or master is None:
        raise ConfigError(
            f"--nodes {count} needs --node-rank R (0 on the machine --master names, 1 to {count - 1} on the others) "
            "and --master HOST:PORT (node 0's address, the same on every node)"
        )
    if not 0 <= rank < count:
        raise ConfigError(f"--node-rank must be 0 to {count - 1} for --nodes {count}, got {rank}")
    found = re.fullmatch(r"\[?([^\s\[\]]+?)\]?:(\d{1,5})", master)
    if not found or not 0 < int(found[2]) < 65536:
        raise ConfigError(
            f"--master must be HOST:PORT, node 0's address and a free port there (e.g. 10.0.0.1:29500), got {master!r}"
        )
    return Nodes(count, rank, found[1], int(found[2]))


def processes_per_node(nproc: int | None, nodes: int) -> int:
    """``--nproc``: 2 or more on one machine; 1 or more (1 if not given) on each of several."""
    if nodes == 1 and (nproc is None or nproc < 2):
        raise ConfigError(f"--nproc must be 2 or more, got {nproc}; for one process leave it out")
    if nproc is not None and nproc < 1:
        raise ConfigError(f"--nproc must be 1 or more (processes on each node), got {nproc}")
    return nproc or 1


def require_launcher(backend: str) -> Launcher:
    """``backend``'s launcher; a one-line refusal where it has none."""
    launcher = declaration(backend).launcher
    if launcher is None:
        raise ConfigError(f"the {backend} backend has no data-parallel launcher: leave out --nproc and --nodes")
    return launcher


def launch_command(backend: str, nproc: int, train_args: list[str], out: str, nodes: Nodes = Nodes()) -> list[str]:
    """The launcher's command line that runs ``d2lvgg train TRAIN_ARGS`` in ``nproc`` processes on this node."""
    launcher = require_launcher(backend)
    values = {
        "python": sys.executable,
        "main": Path(__file__).resolve().parent.parent / "__main__.py",
        "nproc": nproc,
        "nodes": nodes.count,
        "world": nodes.count * nproc,
        "node_rank": nodes.rank,
        "host": nodes.host,
        "port": nodes.port or free_port(),
        "logs": nodes.logs(out),
    }
    parts = [part.format(**values) for part in launcher.command]
    if nodes.loopback:
        parts[3:3] = launcher.loopback_arguments  # after `python -m LAUNCHER`
    return [*parts, "train", *train_args]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now, for a launcher's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_environment(backend: str, nodes: Nodes = Nodes()) -> dict[str, str]:
    """The launched processes' environment: the launcher's needs, the user's settings over them, this bin first."""
    launcher = require_launcher(backend)
    needs = dict(launcher.environment) | (dict(launcher.loopback_environment) if nodes.loopback else {})
    environment = needs | dict(os.environ) | {NODE_RANK: str(nodes.rank)}
    here = os.path.dirname(sys.executable)
    environment["PATH"] = os.pathsep.join([here, environment.get("PATH", os.defpath)])
    return environment


def launch(backend: str, nproc: int, train_args: list[str], out: str, nodes: Nodes = Nodes()) -> int:
    """Run the launcher, printing its command first; a failure names the run folder to resume."""
    world = nodes.count * processes_per_node(nproc, nodes.count)
    command = launch_command(backend, nproc, train_args, out, nodes)
    environment = launch_environment(backend, nodes)
    launcher = require_launcher(backend)
    for program, install in launcher.programs.items():
        if shutil.which(program, path=environment["PATH"]) is None:
            raise ConfigError(f"the {backend} launcher needs the {program!r} command, which is not on PATH ({install})")
    print(f"running: {shlex.join(command)}", flush=True)
    started = time.time()
    log = Path(f"{nodes.logs(out)}-launch.log")
    status, cause = _run_keeping_the_report(command, environment, log, launcher.chatter)
    if status and _finished_since(Path(out), started):
        print(
            f"d2lvgg train: the run finished and {out}/{RESULT} is complete; "
            f"a training process failed on its way out (exit status {status}), after the last file was written",
            file=sys.stderr,
        )
        return 0
    if status:
        processes = f"{nproc} training process{'es' if nproc > 1 else ''}"
        here = f"the {processes} of node {nodes.rank}" if nodes.count > 1 else f"the {processes}"
        where = "kept in" if nodes.rank == 0 else "in node 0's"
        raise RunError(
            f"{here} stopped ({cause or f'exit status {status}'}; the launcher's report is in {log}); "
            f"finished epochs are {where} {out}: resume with d2lvgg train --resume {out} --nproc {world}"
        )
    return 0


# Where a launcher's report of a failure begins: a traceback (torchrun prefixes a worker's lines with its
# rank), PaddlePaddle's launcher's error block, or msrun's first error line.
REPORT = re.compile(r"(\[rank\d+\]: )?Traceback \(most recent call last\)|LAUNCH ERROR|\[ERROR\] ME\(")


def _run_keeping_the_report(
    command: list[str], environment: dict[str, str], log: Path, chatter: str
) -> tuple[int, str]:
    """Run ``command``, its stderr shown line by line until a failure's report begins (but for the launcher's
    ``chatter``), all of it appended to ``log``; the exit status and the root cause the hidden report names
    ("" where there is none)."""
    hidden: list[str] = []
    quiet = re.compile(chatter) if chatter else None
    with subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        with log.open("a", encoding="utf-8") as kept:
            kept.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(command)}\n")
            for line in process.stderr:
                kept.write(line)
                hidden += [line] if hidden or REPORT.match(line) else []
                if not hidden and not (quiet and quiet.match(line)):
                    sys.stderr.write(line)
    return process.returncode, _root_cause("".join(hidden))


def _root_cause(report: str) -> str:
    """The failed rank, its exit code and signal, and the error it raised, from torchrun's "Root Cause" block,
    PaddlePaddle's launcher's "Container failed" line or msrun's failed worker (and the logs they name); else a
    traceback's last line."""
    paddle = re.search(r"Container rank (\d+) status failed cmd .* code (-?\d+) log (\S+)", report)
    if paddle:
        rank, code, log = paddle.groups()
        raised = _last_error(Path(log).read_text(errors="replace")) if Path(log).is_file() else ""
        return f"rank {rank} failed with exit code {_exit(code)}{f': {raised}' if raised else ''}; its log: {log}"
    msrun = re.search(r"Please check logs in directory: (\S+?)\.?$", report, re.M)
    if msrun:  # msrun names the first worker that failed, its scheduler which one it lost, the worker what it raised
        logs = Path(msrun[1])
        worker = re.search(r"Worker process (\d+) exit with exception\. Error code: (-?\d+)", report)
        first = f"worker process {worker[1]} failed with exit code {_exit(worker[2])}; " if worker else ""
        paths = [path for path in [logs / "scheduler.log", *sorted(logs.glob("worker_*"))] if path.is_file()]
        raised = next(filter(None, (_last_error(path.read_text(errors="replace")) for path in paths)), "")
        return f"{first}{raised or 'a process failed'}; the logs: {logs}"
    found = {
        key: " ".join(value.split())
        for key, value in re.findall(r"^\s*(rank|exitcode|traceback)\s*:(.+)$", report, re.M)
    }
    if {"rank", "exitcode"} <= found.keys():
        how = found.get("traceback", "")
        if how.startswith("To enable traceback"):  # torchrun's advice, not the cause: the worker's own error is
            how = _last_error(report)
        return f"rank {found['rank']} failed with exit code {found['exitcode']}{f': {how}' if how else ''}"
    lines = [line for line in report.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _exit(code: str) -> str:
    """An exit code as launchers report it, with the signal's name where it is a signal's (-9: SIGKILL)."""
    return f"{code} ({signal.Signals(-int(code)).name})" if int(code) < 0 else code


def _last_error(text: str) -> str:
    """The last exception a process's output shows (a worker's, where torchrun marks them by rank): its first
    sentences, up to about two lines' worth; "" where there is none."""
    raised = re.findall(r"^(\[rank\d+\]: )?([\w.]*(?:Error|Exception): \S.*)$", text, re.M)
    errors = [error for by_rank, error in raised if by_rank] or [error for _, error in raised]
    if not errors:
        return ""
    first, *rest = errors[-1].strip().split(". ")
    for sentence in rest:
        if len(first) + len(sentence) > 160:
            break
        first += f". {sentence}"
    return first.rstrip(".")


def _finished_since(out: Path, started: float) -> bool:
    """Whether the launched run wrote its result (the last file a run writes) after ``started``."""
    result = out / RESULT
    return result.is_file() and result.stat().st_mtime >= started


# The options that say how to launch: the launched processes do not relaunch.
LAUNCH_OPTIONS = ("--nproc", "--nodes", "--node-rank", "--master")


def without_launch_options(argv: list[str]) -> list[str]:
    """``argv`` of ``d2lvgg train`` without its ``LAUNCH_OPTIONS`` and their values."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LAUNCH_OPTIONS:
            skip = True
        elif arg.split("=", 1)[0] not in LAUNCH_OPTIONS:
            kept.append(arg)
    return kept
