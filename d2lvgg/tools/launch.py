"""``d2lvgg train --nproc N``: the backend's own data-parallel launcher, started with the right arguments.

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
from pathlib import Path

from ..backends import declaration
from ..errors import ConfigError, RunError
from ..training.rundir import RESULT


def require_launcher(backend: str) -> tuple[str, ...]:
    """``backend``'s launch command template; a one-line refusal where it has none."""
    template = declaration(backend).launcher
    if not template:
        raise ConfigError(f"the {backend} backend has no data-parallel launcher: leave out --nproc")
    return template


def launch_command(backend: str, nproc: int, train_args: list[str], out: str) -> list[str]:
    """The launcher's command line that runs ``d2lvgg train TRAIN_ARGS`` in ``nproc`` processes into ``out``."""
    template = require_launcher(backend)
    main = Path(__file__).resolve().parent.parent / "__main__.py"
    values = {"python": sys.executable, "nproc": nproc, "main": main, "out": out, "port": free_port()}
    parts = [part.format(**values) for part in template]
    return [*parts, "train", *train_args]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now, for a launcher's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_environment(backend: str) -> dict[str, str]:
    """The launched processes' environment: the launcher's needs, the user's settings over them, this bin first."""
    environment = dict(declaration(backend).launch_environment) | dict(os.environ)
    here = os.path.dirname(sys.executable)
    environment["PATH"] = os.pathsep.join([here, environment.get("PATH", os.defpath)])
    return environment


def launch(backend: str, nproc: int, train_args: list[str], out: str) -> int:
    """Run the launcher, printing its command first; a failure names the run folder to resume."""
    if nproc < 2:
        raise ConfigError(f"--nproc must be 2 or more, got {nproc}; for one process leave it out")
    command = launch_command(backend, nproc, train_args, out)
    environment = launch_environment(backend)
    for program, install in declaration(backend).launch_commands.items():
        if shutil.which(program, path=environment["PATH"]) is None:
            raise ConfigError(f"the {backend} launcher needs the {program!r} command, which is not on PATH ({install})")
    print(f"running: {shlex.join(command)}", flush=True)
    started = time.time()
    log = Path(f"{out}-launch.log")
    status, cause = _run_keeping_the_report(command, environment, log)
    if status and _finished_since(Path(out), started):
        print(
            f"d2lvgg train: the run finished and {out}/{RESULT} is complete; "
            f"a training process failed on its way out (exit status {status}), after the last file was written",
            file=sys.stderr,
        )
        return 0
    if status:
        raise RunError(
            f"the {nproc} training processes stopped ({cause or f'exit status {status}'}; the launcher's report is in "
            f"{log}); finished epochs are kept in {out}: resume with d2lvgg train --resume {out} --nproc {nproc}"
        )
    return 0


# Where a launcher's report of a failure begins: a traceback (torchrun prefixes a worker's lines with its
# rank), or PaddlePaddle's launcher's error block.
REPORT = re.compile(r"(\[rank\d+\]: )?Traceback \(most recent call last\)|LAUNCH ERROR")


def _run_keeping_the_report(command: list[str], environment: dict[str, str], log: Path) -> tuple[int, str]:
    """Run ``command``, its stderr shown line by line until a failure's report begins, all of it appended to
    ``log``; the exit status and the root cause the hidden report names ("" where there is none)."""
    hidden: list[str] = []
    with subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        with log.open("a", encoding="utf-8") as kept:
            kept.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(command)}\n")
            for line in process.stderr:
                kept.write(line)
                hidden += [line] if hidden or REPORT.match(line) else []
                if not hidden:
                    sys.stderr.write(line)
    return process.returncode, _root_cause("".join(hidden))


def _root_cause(report: str) -> str:
    """The failed rank, its exit code and signal from torchrun's "Root Cause" block or PaddlePaddle's launcher's
    "Container failed" line; else a traceback's last line."""
    paddle = re.search(r"Container rank (\d+) status failed cmd .* code (-?\d+) log (\S+)", report)
    if paddle:
        rank, code, log = paddle.groups()
        signal_name = f" ({signal.Signals(-int(code)).name})" if int(code) < 0 else ""
        return f"rank {rank} failed with exit code {code}{signal_name}; its log: {log}"
    found = {
        key: " ".join(value.split())
        for key, value in re.findall(r"^\s*(rank|exitcode|traceback)\s*:(.+)$", report, re.M)
    }
    if {"rank", "exitcode"} <= found.keys():
        how = f": {found['traceback']}" if "traceback" in found else ""
        return f"rank {found['rank']} failed with exit code {found['exitcode']}{how}"
    lines = [line for line in report.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _finished_since(out: Path, started: float) -> bool:
    """Whether the launched run wrote its result (the last file a run writes) after ``started``."""
    result = out / RESULT
    return result.is_file() and result.stat().st_mtime >= started


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` of ``d2lvgg train`` without its ``--nproc`` option (the launched processes do not relaunch)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept
