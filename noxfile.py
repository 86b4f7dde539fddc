"""nox sessions: lint, the framework-free tests, one test session per backend, parity, and the docs."""

from __future__ import annotations

import functools
import os
import shutil

import nox

nox.options.sessions = ["lint", "tests", "tests-torch", "tests-mindspore", "parity", "docs"]
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = ("-c", ".ci/constraints.txt")

# An environment with PyTorch and MindSpore takes 1 to 4 GB: CI's disk cannot hold all of them at
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


@discarding_session()
def tests(session: nox.Session) -> None:
    """The spec, analysis, data and CLI tests: no deep-learning framework installed."""
    session.install("-e", ".[dev]", *CONSTRAINTS)
    session.run("pytest", "-m", "not torch and not mindspore and not parity", *session.posargs)


@discarding_session(name="tests-torch")
def tests_torch(session: nox.Session) -> None:
    """The PyTorch backend's tests, real Fashion-MNIST training included (CPU build pinned)."""
    session.install("-e", ".[dev,torch]", *CONSTRAINTS)
    session.run("pytest", "-m", "torch", *session.posargs)


@discarding_session(name="tests-mindspore")
def tests_mindspore(session: nox.Session) -> None:
    """The MindSpore backend's tests, graph and PyNative modes and real training included (CPU)."""
    session.install("-e", ".[dev,mindspore]", *CONSTRAINTS)
    session.run("pytest", "-m", "mindspore", *session.posargs, env={"GLOG_v": "3"})


@discarding_session()
def parity(session: nox.Session) -> None:
    """Both backends installed side by side: shapes, parameters, logits, one step, training."""
    session.install("-e", ".[dev,torch,mindspore]", *CONSTRAINTS)
    session.run("pytest", "-m", "parity", *session.posargs, env={"GLOG_v": "3"})


@discarding_session()
def docs(session: nox.Session) -> None:
    """The Sphinx site: every notebook and code cell executed, every tabbed snippet doctested, warnings fail."""
    session.install("-e", ".[docs,torch,mindspore]", *CONSTRAINTS)
    env = {"GLOG_v": "3"}
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", env=env)
    session.run("sphinx-build", "-W", "-b", "doctest", "-D", "nb_execution_mode=off", "docs", "docs/_build/doctest",
                env=env)  # fmt: skip
