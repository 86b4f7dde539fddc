"""``d2lvgg train --nproc N``: the backend's own data-parallel launcher, started with the right arguments."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from ..backends import declaration
from ..errors import ConfigError, RunError


def launch_command(backend: str, nproc: int, train_args: list[str], out: str) -> list[str]:
    """The launcher's command line that runs ``d2lvgg train TRAIN_ARGS`` in ``nproc`` processes into ``out``."""
    template = declaration(backend).launcher
    if not template:
        raise ConfigError(f"the {backend} backend has no data-parallel launcher: leave out --nproc")
    main = Path(__file__).resolve().parent.parent / "__main__.py"
    return [part.format(nproc=nproc, main=main, out=out) for part in template] + ["train", *train_args]


def launch(backend: str, nproc: int, train_args: list[str], out: str) -> int:
    """Run the launcher, printing its command first; a failure names the run folder to resume."""
    if nproc < 2:
        raise ConfigError(f"--nproc must be 2 or more, got {nproc}; for one process leave it out")
    command = launch_command(backend, nproc, train_args, out)
    print(f"running: {shlex.join(command)}", flush=True)
    environment = dict(declaration(backend).launch_environment) | dict(os.environ)  # the user's own settings win
    status = subprocess.run(command, env=environment, check=False).returncode
    if status:
        raise RunError(
            f"the {nproc} training processes stopped (exit status {status}); finished epochs are kept in "
            f"{out}: resume with d2lvgg train --resume {out} --nproc {nproc}"
        )
    return 0


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
