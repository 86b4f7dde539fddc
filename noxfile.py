"""nox sessions: lint, types, the framework-free tests on every Python, the package, one per backend, parity, docs.

``nox`` alone (CI's command) installs each framework once: ``frameworks`` holds the four that share numpy 1
(PyTorch, MindSpore, PaddlePaddle, TensorFlow) and runs their suites, every pair's parity and the docs in one
environment; ``frameworks-jax`` holds JAX, which needs numpy 2. The per-backend sessions are for checking one install.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "package", "frameworks", "frameworks-jax", "docs-browser"]
nox.options.reuse_existing_virtualenvs = True
# uv makes the environments and installs into them where it is installed (.ci/run installs it), else pip does.
nox.options.default_venv_backend = "uv|virtualenv"

# The framework-free suite runs on every supported Python; the framework sessions on 3.11, where the
# pinned CPU build of PyTorch lies on the build machines (MindSpore 2.10 supports 3.10 to 3.12).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
FRAMEWORK_PYTHON = "3.11"

CONSTRAINTS = ("-c", ".ci/constraints.txt")
# Test workers: one per core, at most four (each may hold a framework of 1-2 GB); each worker computes on its share
# of the cores (tests/conftest.py), so two workers on two cores do not fight over spinning threads.
WORKERS = str(min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
# Every framework beside another in one environment, for what compares them: ONNX exporters, MindCV's VGG.
NUMPY1_FRAMEWORKS = "torch,mindspore,paddle,tensorflow,onnx"
EXPORTERS = ("mindcv", "paddle2onnx", "tf2onnx")


def _runs(python: str) -> bool:
    """Whether ``python`` is on PATH and starts (a pyenv shim of an inactive version is on PATH but fails)."""
    found = shutil.which(python)
    return bool(found) and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0


# nox skips a session whose Python is not on PATH and still exits green: say so before it starts.
MISSING = [version for version in PYTHONS if not _runs(f"python{version}")]
if MISSING:
    print(
        f"nox: Python {', '.join(MISSING)} not on PATH, so tests-{MISSING[0]} and the like are skipped; "
        "with pyenv, put them all on it first: export PYENV_VERSION=$(pyenv versions --bare | paste -sd:)",
        file=sys.stderr,
    )

# An environment with PyTorch, MindSpore and PaddlePaddle takes 1 to 4 GB: CI's disk cannot hold all of them at
# once, so .ci/run sets this to delete each session's environment when the session ends.
DISCARD_ENVS = os.environ.get("D2LVGG_NOX_DISCARD_ENVS") == "1"


# Each session's seconds, installing and the rest, one line a session: .ci/run prints them at its end.
TIMINGS = Path(".nox", "timings.tsv")
_installing: dict[str, float] = {}


def install(session: nox.Session, *args: str) -> None:
    """``session.install``, its time counted as the session's install time.

    Nothing it installs is byte-compiled (uv never does, pip is told not to): Python compiles each module the session
    imports, once, when it is first imported (the frameworks' environment holds 19,342 modules; compiling them all
    took pip about 50 s of its 143, compiling the ones a session imports takes about 15). So the session may write
    bytecode, whatever the shell's PYTHONDONTWRITEBYTECODE says.
    """
    started = time.monotonic()
    session.install(*(() if session.venv_backend == "uv" else ("--no-compile",)), *args)
    session.env["PYTHONDONTWRITEBYTECODE"] = None  # None: unset for the session's commands
    _installing[session.name] = _installing.get(session.name, 0.0) + time.monotonic() - started


def discarding_session(**options):
    """``nox.session`` that records its time and deletes the session's environment afterwards when DISCARD_ENVS
    is set."""

    def register(func):
        @functools.wraps(func)
        def run(session: nox.Session) -> None:
            started = time.monotonic()
            try:
                func(session)
            finally:
                total, installing = time.monotonic() - started, _installing.pop(session.name, 0.0)
                TIMINGS.parent.mkdir(exist_ok=True)
                with TIMINGS.open("a") as timings:
                    timings.write(f"{session.name}\t{installing:.0f}\t{total - installing:.0f}\n")
                if DISCARD_ENVS:
                    shutil.rmtree(session.virtualenv.location, ignore_errors=True)

        return nox.session(**options)(run)

    return register


@functools.cache
def trained_runs() -> str:
    """A folder for the reduced recipe's runs (tests/conftest.py) that every session of this nox run shares:
    ``frameworks`` and ``frameworks-jax`` both compare PyTorch's. New each time nox starts, removed when it ends."""
    folder = tempfile.mkdtemp(prefix="d2lvgg-trained-runs-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def run_pytest(session: nox.Session, selection: str, env: dict[str, str] | None = None) -> None:
    """The tests ``selection`` picks: those that may share the cores on parallel workers, then those marked
    ``serial`` (they time steps or kill processes) alone; the 15 slowest of each are listed.

    The units go out in the suite's order, the long trainings first (tests/conftest.py), not largest first; a crashed
    worker fails the run at once, where pytest-xdist would wait on its tests.
    """
    env = {**(env or {}), "D2LVGG_TEST_RUNS": trained_runs()}
    selected = ("pytest", "--durations=15", *session.posargs)
    parallel = ("-n", WORKERS, "--dist", "loadscope", "--no-loadscope-reorder", "--max-worker-restart=0")
    session.run(*selected, "-m", f"({selection}) and not serial", *parallel, env=env)
    session.run(*selected, "-m", f"({selection}) and serial", env=env, success_codes=[0, 5])  # 5: none selected


@discarding_session()
def lint(session: nox.Session) -> None:
    """ruff: style and common bugs."""
    install(session, "ruff>=0.4")
    session.run("ruff", "check", "d2lvgg", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "d2lvgg", "tests", "benchmarks", "noxfile.py")


@discarding_session(python=FRAMEWORK_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over d2lvgg/: its own code typed, the frameworks read as Any (settings in pyproject.toml)."""
    install(session, "-e", ".[dev]", "mypy>=1.10", *CONSTRAINTS)
    session.run("mypy")


@discarding_session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The spec, analysis, data and CLI tests: no deep-learning framework installed."""
    install(session, "-e", ".[dev,zh]", *CONSTRAINTS)
    run_pytest(session, "not (torch or mindspore or paddle or tensorflow or jax or parity)")


@discarding_session(python=FRAMEWORK_PYTHON, venv_backend="virtualenv")
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, then install each (not editable) with pip, as a user does, and use it from
    outside the checkout."""
    install(session, "build")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    # The shipped grids are package data: a wheel without them would pass an import check alone.
    grids = "import d2lvgg.tools.sweep as s; assert 'frameworks-cpu' in s.shipped_grids()"
    check = f"import d2lvgg; {grids}; print(d2lvgg.__file__)"
    for archive in ("*.whl", "*.tar.gz"):
        (built,) = dist.glob(archive)
        session.install(str(built))
        with session.chdir(session.create_tmp()):  # away from the checkout, so the installed copy is used
            session.run("python", "-c", check)
            session.run("d2lvgg", "summary", "d2l_vgg11", "--format", "markdown")
        session.run("python", "-m", "pip", "uninstall", "-y", "d2lvgg")


@discarding_session(python=FRAMEWORK_PYTHON)
def frameworks(session: nox.Session) -> None:
    """CI's session for the four frameworks that share numpy 1, installed once: every test of theirs (the slow
    trainings included), parity between every pair of them, then the site, built with all four (``docs``)."""
    install(session, "-e", f".[dev,docs,zh,{NUMPY1_FRAMEWORKS}]", *EXPORTERS, *CONSTRAINTS)
    run_pytest(session, "torch or mindspore or paddle or tensorflow or parity")
    build_docs(session)


@discarding_session(name="frameworks-jax", python=FRAMEWORK_PYTHON)
def frameworks_jax(session: nox.Session) -> None:
    """CI's session for JAX, which needs numpy 2 (MindSpore 2.10 needs numpy 1): every JAX test and its parity
    with PyTorch, the slow training and the every-preset sweep included."""
    _install_jax(session)
    run_pytest(session, "jax or parity", env=_xla_cache(session))


def _install_jax(session: nox.Session) -> None:
    install(session, "-e", ".[dev,jax,torch,onnx]", *CONSTRAINTS)


def _xla_cache(session: nox.Session) -> dict[str, str]:
    """XLA compiles each step and network once per process; the tests start many processes on a few networks."""
    return {
        "JAX_COMPILATION_CACHE_DIR": session.create_tmp() + "/xla",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


# One framework's own check, for a student or teacher testing their install: every test of its backend, the slow
# ones too (PyTorch's fast-path check, MindSpore's killed worker and lost node: about 40 and 110 s more). Under ten
# minutes on two cores, the install included. CI runs the same tests in ``frameworks`` and ``frameworks-jax``.
@discarding_session(name="tests-torch", python=FRAMEWORK_PYTHON)
def tests_torch(session: nox.Session) -> None:
    """The PyTorch backend's tests, real Fashion-MNIST training included (CPU build pinned)."""
    install(session, "-e", ".[dev,torch,onnx]", *CONSTRAINTS)
    run_pytest(session, "torch")


@discarding_session(name="tests-mindspore", python=FRAMEWORK_PYTHON)
def tests_mindspore(session: nox.Session) -> None:
    """The MindSpore backend's tests (graph and PyNative modes, real training, MindCV's VGG)."""
    install(session, "-e", ".[dev,mindspore,onnx]", "mindcv", *CONSTRAINTS)
    run_pytest(session, "mindspore")


@discarding_session(name="tests-paddle", python=FRAMEWORK_PYTHON)
def tests_paddle(session: nox.Session) -> None:
    """The PaddlePaddle backend's tests, real Fashion-MNIST training included (CPU wheel)."""
    install(session, "-e", ".[dev,paddle,onnx]", "paddle2onnx", *CONSTRAINTS)
    run_pytest(session, "paddle")


@discarding_session(name="tests-tensorflow", python=FRAMEWORK_PYTHON)
def tests_tensorflow(session: nox.Session) -> None:
    """The TensorFlow backend's tests (Keras 3, CPU build)."""
    install(session, "-e", ".[dev,tensorflow,onnx]", "tf2onnx", *CONSTRAINTS)
    run_pytest(session, "tensorflow")


@discarding_session(name="tests-jax", python=FRAMEWORK_PYTHON)
def tests_jax(session: nox.Session) -> None:
    """The JAX backend's tests (Flax linen, optax, CPU jaxlib), in its own environment (numpy 2)."""
    _install_jax(session)
    run_pytest(session, "jax", env=_xla_cache(session))


@discarding_session(python=FRAMEWORK_PYTHON)
def parity(session: nox.Session) -> None:
    """PyTorch, MindSpore and PaddlePaddle side by side, every pair: shapes, parameters, logits, one step, weights,
    and five epochs of the reduced recipe each, compared pair by pair."""
    install(session, "-e", ".[dev,torch,mindspore,paddle,onnx]", "paddle2onnx", *CONSTRAINTS)
    run_pytest(session, "parity")


@discarding_session(python=FRAMEWORK_PYTHON)
def docs(session: nox.Session) -> None:
    """The site, built in its own environment (CI builds it in ``frameworks``)."""
    install(session, "-e", ".[docs,zh,torch,mindspore,paddle,tensorflow]", *CONSTRAINTS)
    build_docs(session)


def build_docs(session: nox.Session) -> None:
    """The site in English and Chinese (every notebook and code cell executed, warnings fail), the Chinese
    catalogue checked complete against the English pages, and every tabbed snippet doctested."""
    # The Chinese figures need a CJK font, the system's or d2lvgg[zh]'s: without one, this stops with one line.
    session.run(
        "d2lvgg", "draw", "d2l_vgg11", "--lang", "zh", "--overwrite", "--out", f"{session.create_tmp()}/font-check"
    )
    before = _source_changes()
    html = ("sphinx-build", "-W", "--keep-going", "-b", "html")
    unexecuted = ("-D", "nb_execution_mode=off", "docs")
    # Two builds at a time, one core each: most of a build is single-threaded Python, so one alone leaves a core idle.
    _at_once(
        session,
        ((*html, "docs", "docs/_build/html"), {}),
        ((*html, "-D", "language=zh_CN", "docs", "docs/_build/html/zh_CN"), {"D2LVGG_LANG": "zh"}),
    )
    _at_once(
        session,
        (("sphinx-build", "-W", "-b", "gettext", *unexecuted, "docs/_build/gettext"), {}),
        (("sphinx-build", "-W", "-b", "doctest", *unexecuted, "docs/_build/doctest"), {}),
    )
    session.run("python", "docs/check_translations.py")
    after = _source_changes()
    if after != before:  # a page's cell must write into a scratch folder, never beside the sources
        session.error(f"the docs build changed the checkout: {sorted(set(after) ^ set(before))}")


def _at_once(session: nox.Session, *commands: tuple[tuple[str, ...], dict[str, str]]) -> None:
    """Run ``(args, env)`` commands side by side in the session's environment, each pinned to its share of the
    cores; each one's output is printed when it ends, and the session fails if any of them did."""
    share = str(max(1, int(WORKERS) // len(commands)))
    base = {**os.environ, **session.env, "PATH": os.pathsep.join([session.bin, os.environ.get("PATH", "")])}
    base = {name: value for name, value in base.items() if value is not None}  # nox's None: unset it
    logs = Path(session.create_tmp()) / "at-once"
    logs.mkdir(exist_ok=True)
    running = []
    for number, (args, env) in enumerate(commands):
        log = logs / f"{number}.log"
        session.log(" ".join(args))
        with log.open("w") as out:
            thread_env = {**base, "D2LVGG_THREADS": share, **env}
            running.append((args, log, subprocess.Popen(args, env=thread_env, stdout=out, stderr=subprocess.STDOUT)))
    failed = []
    for args, log, process in running:
        if process.wait() != 0:
            failed.append(" ".join(args))
        print(log.read_text(), end="")
    if failed:
        session.error(f"failed: {'; '.join(failed)}")


def _source_changes() -> list[str]:
    """``git status`` of the checkout, ignored build folders aside (empty where this is not a git checkout)."""
    done = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=False)
    return sorted(done.stdout.splitlines())


@discarding_session(name="docs-browser", python=FRAMEWORK_PYTHON)
def docs_browser(session: nox.Session) -> None:
    """The site the docs session built, opened in headless Chromium at laptop and phone width, both languages:
    no sideways scrolling, no missing image or page, no English navigation in Chinese; screenshots kept."""
    install(session, "playwright>=1.40")
    session.run("python", "docs/check_pages.py")
