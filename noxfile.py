"""nox sessions: lint, types, the framework-free tests on every Python, the package, one per backend, parity, docs."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "package",
    "tests-torch",
    "tests-mindspore",
    "tests-paddle",
    "tests-tensorflow",
    "tests-jax",
    "docs",
    "docs-browser",
]
nox.options.reuse_existing_virtualenvs = True

# The framework-free suite runs on every supported Python; the framework sessions on 3.11, where the
# pinned CPU build of PyTorch lies on the build machines (MindSpore 2.10 supports 3.10 to 3.12).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
FRAMEWORK_PYTHON = "3.11"

CONSTRAINTS = ("-c", ".ci/constraints.txt")


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


def discarding_session(**options):
    """``nox.session`` that deletes the session's environment afterwards when DISCARD_ENVS is set."""

    def register(func):
        @functools.wraps(func)
        def run(session: nox.Session) -> None:
            try:
                func(session)
            finally:
                if DISCARD_ENVS:
                    shutil.rmtree(session.virtualenv.location, ignore_errors=True)

        return nox.session(**options)(run)

    return register


@discarding_session()
def lint(session: nox.Session) -> None:
    """ruff: style and common bugs."""
    session.install("ruff>=0.4")
    session.run("ruff", "check", "d2lvgg", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "d2lvgg", "tests", "benchmarks", "noxfile.py")


@discarding_session(python=FRAMEWORK_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over d2lvgg/: its own code typed, the frameworks read as Any (settings in pyproject.toml)."""
    session.install("-e", ".[dev]", "mypy>=1.10", *CONSTRAINTS)
    session.run("mypy")


@discarding_session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The spec, analysis, data and CLI tests: no deep-learning framework installed."""
    session.install("-e", ".[dev,zh]", *CONSTRAINTS)
    session.run("pytest", "-m", "not (torch or mindspore or paddle or tensorflow or jax or parity)", *session.posargs)


@discarding_session(python=FRAMEWORK_PYTHON)
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, then install each (not editable) and use it from outside the checkout."""
    session.install("build")
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


@discarding_session(name="tests-torch", python=FRAMEWORK_PYTHON)
def tests_torch(session: nox.Session) -> None:
    """The PyTorch backend's tests, real Fashion-MNIST training included (CPU build pinned).

    Not the slow check that the fast path converges to the plain path's accuracy (two six-epoch runs, 6 to 9
    minutes of CI's 90); ``nox -s tests-torch -- -m torch`` runs it.
    """
    session.install("-e", ".[dev,torch,onnx]", *CONSTRAINTS)
    session.run("pytest", "-m", "torch and not slow", *session.posargs)


@discarding_session(name="tests-mindspore", python=FRAMEWORK_PYTHON)
def tests_mindspore(session: nox.Session) -> None:
    """The MindSpore backend's tests (graph and PyNative modes, real training, MindCV's VGG), then parity.

    Then, in the same environment, what the ``parity`` session runs: PyTorch and PaddlePaddle beside
    MindSpore, every pair. MindSpore (2.5 GB) is installed once for both, not twice.
    """
    session.install("-e", ".[dev,torch,mindspore,paddle,onnx]", "mindcv", "paddle2onnx", *CONSTRAINTS)
    session.run("pytest", "-m", "mindspore and not slow", *session.posargs)
    session.run("pytest", "-m", "parity and not slow", *session.posargs)


@discarding_session(name="tests-paddle", python=FRAMEWORK_PYTHON)
def tests_paddle(session: nox.Session) -> None:
    """The PaddlePaddle backend's tests, real Fashion-MNIST training included (CPU wheel)."""
    session.install("-e", ".[dev,paddle,onnx]", "paddle2onnx", *CONSTRAINTS)
    session.run("pytest", "-m", "paddle and not slow", *session.posargs)


@discarding_session(name="tests-tensorflow", python=FRAMEWORK_PYTHON)
def tests_tensorflow(session: nox.Session) -> None:
    """The TensorFlow backend's tests (Keras 3, CPU build), and its parity with PyTorch.

    Every parity check but the slow one that trains both and the every-preset sweep, as for JAX (``tests_jax``):
    the two-backend training comparison of TensorFlow is the measured report in docs/results/parity-d2l_vgg11_r16.
    """
    session.install("-e", ".[dev,tensorflow,torch,onnx]", "tf2onnx", *CONSTRAINTS)
    session.run("pytest", "-m", "(tensorflow or parity) and not slow", "-k", "not every_preset", *session.posargs)


@discarding_session(name="tests-jax", python=FRAMEWORK_PYTHON)
def tests_jax(session: nox.Session) -> None:
    """The JAX backend's tests (Flax linen, optax, CPU jaxlib), and its parity with PyTorch.

    Its own environment: JAX 0.5 and later need numpy 2, MindSpore 2.10 numpy 1, so the two never share one.
    Every parity check but the slow one that trains both (as for TensorFlow) and the sweep of every preset at
    its smallest input (3 minutes of CI's 90): the backend suite holds every preset's shapes and parameters to
    the static analysis, and the parity checks here compare logits at 224 px and one step of four presets.
    """
    session.install("-e", ".[dev,jax,torch,onnx]", *CONSTRAINTS)
    # XLA compiles each step and network once per process; the tests start many processes on a few networks.
    cache = {
        "JAX_COMPILATION_CACHE_DIR": session.create_tmp() + "/xla",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    selected = ("-m", "(jax or parity) and not slow", "-k", "not every_preset")
    session.run("pytest", *selected, *session.posargs, env=cache)


@discarding_session(python=FRAMEWORK_PYTHON)
def parity(session: nox.Session) -> None:
    """Every backend installed side by side, every pair: shapes, parameters, logits, one step, weights.

    CI runs these checks at the end of ``tests-mindspore``; this session runs them alone.

    Not the slow check that trains every pair for five epochs (8 minutes of CI's 90, PaddlePaddle's 5 of them):
    each backend's own session trains that recipe to 0.80, and docs/results holds the pairs' measured gaps.
    ``nox -s parity -- -m parity`` runs it too.
    """
    session.install("-e", ".[dev,torch,mindspore,paddle,onnx]", "paddle2onnx", *CONSTRAINTS)
    session.run("pytest", "-m", "parity and not slow", *session.posargs)


@discarding_session(python=FRAMEWORK_PYTHON)
def docs(session: nox.Session) -> None:
    """The site in English and Chinese (every notebook and code cell executed, warnings fail), the Chinese
    catalogue checked complete against the English pages, and every tabbed snippet doctested."""
    session.install("-e", ".[docs,zh,torch,mindspore,paddle,tensorflow]", *CONSTRAINTS)
    # The Chinese figures need a CJK font, the system's or d2lvgg[zh]'s: without one, this stops with one line.
    session.run("d2lvgg", "draw", "d2l_vgg11", "--lang", "zh", "--out", f"{session.create_tmp()}/font-check")
    before = _source_changes()
    html = ("sphinx-build", "-W", "--keep-going", "-b", "html")
    session.run(*html, "docs", "docs/_build/html")
    session.run(*html, "-D", "language=zh_CN", "docs", "docs/_build/html/zh_CN", env={"D2LVGG_LANG": "zh"})
    session.run("sphinx-build", "-W", "-b", "gettext", "-D", "nb_execution_mode=off", "docs", "docs/_build/gettext")
    session.run("python", "docs/check_translations.py")
    session.run("sphinx-build", "-W", "-b", "doctest", "-D", "nb_execution_mode=off", "docs", "docs/_build/doctest")
    after = _source_changes()
    if after != before:  # a page's cell must write into a scratch folder, never beside the sources
        session.error(f"the docs build changed the checkout: {sorted(set(after) ^ set(before))}")


def _source_changes() -> list[str]:
    """``git status`` of the checkout, ignored build folders aside (empty where this is not a git checkout)."""
    done = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=False)
    return sorted(done.stdout.splitlines())


@discarding_session(name="docs-browser", python=FRAMEWORK_PYTHON)
def docs_browser(session: nox.Session) -> None:
    """The site the docs session built, opened in headless Chromium at laptop and phone width, both languages:
    no sideways scrolling, no missing image or page, no English navigation in Chinese; screenshots kept."""
    session.install("playwright>=1.40")
    session.run("python", "docs/check_pages.py")
