"""Skip tests whose backend or device is absent, always with the reason; pin each test process's threads; train the
reduced recipe once per backend for every test that needs it."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from d2lvgg import TrainConfig, preset, train
from d2lvgg.backends import REGISTRY, available, declaration, get_backend, plain_options
from d2lvgg.model.initializers import initial_weights
from d2lvgg.model.ir import lower
from d2lvgg.training import threads

BACKEND_MODULES = {name: declaration(name).framework for name in REGISTRY}  # pytest marker -> framework


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda_available() -> bool:
    if not _installed("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def _ascend_available() -> bool:
    if not _installed("mindspore"):
        return False
    import mindspore

    return bool(mindspore.hal.is_available("Ascend"))


def _thread_share() -> int:
    """This test process's share of the cores: all of them, or an equal part when pytest-xdist runs several workers
    (two workers of two spinning threads each on two cores run slower than one)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, threads.cores() // workers)


def pytest_configure(config: pytest.Config) -> None:
    """Pin the thread count, so that two runs compared bit for bit compute alike whatever the load (a
    probed count follows the machine's load; test_threads.py tests the probe). Then load the frameworks
    that need an environment (GLOG_v) or a load order through their backends, before any test module
    imports one directly; the others load later, in the environment these set (PaddlePaddle sets
    OMP_NUM_THREADS=1), as the tests' child processes do."""
    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        return  # pytest-xdist's controller runs no test: each worker pins its own share and loads the frameworks
    if "PYTEST_XDIST_WORKER" in os.environ:  # a worker's share of the cores, whatever the shell set: no oversubscribing
        os.environ[threads.ENVIRONMENT] = str(_thread_share())
    else:
        os.environ.setdefault(threads.ENVIRONMENT, str(_thread_share()))
    for name in available():
        if declaration(name).environment or declaration(name).load_first:
            get_backend(name)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With ``--dist loadscope`` (the nox sessions'), a work unit is one test function with all its parameters, not a
    whole module: a function's cases share what they build (a preset compiled once across pairs), and two workers
    still share a long module's functions."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFunction(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid.split("[", 1)[0]

    return ByFunction(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        for marker, module in BACKEND_MODULES.items():
            if marker in marks and not _installed(module):
                extra = declaration(marker).extra
                item.add_marker(pytest.mark.skip(reason=f"{module} is not installed (pip install 'd2lvgg[{extra}]')"))
        if "gpu" in marks and not _cuda_available():
            item.add_marker(pytest.mark.skip(reason="no CUDA GPU on this machine"))
        if "ascend" in marks and not _ascend_available():
            item.add_marker(pytest.mark.skip(reason="no Ascend NPU on this machine"))
        if "parity" in marks and len(available()) < 2:
            item.add_marker(pytest.mark.skip(reason=f"parity needs two backends installed, not {available()}"))
    items.sort(key=_turn)


def _turn(item: pytest.Item) -> int:
    """When a test goes out to the workers: the trainings on all the data first (the longest: no worker waits at the
    end), then the rest, and last what compares every backend's run, trained by then (not trained or awaited by the
    one worker that took it while the others train)."""
    fixtures = getattr(item, "fixturenames", ())
    if "reduced_recipe_runs" in fixtures:
        return 2
    return 0 if "reduced_recipe_run" in fixtures or item.get_closest_marker("slow") is not None else 1


# The reduced recipe: the CI-sized network (the book's VGG-11, channels / 16, a 256-wide head, 32 px) trained for
# five epochs on all 60,000 real images. Each backend's own check that it reaches 0.80 and the parity of every pair's
# training read the same run.
REDUCED = preset("d2l_vgg11").scaled(16).with_options(head=(256, 256), input_size=32)
REDUCED_RECIPE = TrainConfig(epochs=5, lr=0.05, batch_size=64, device="cpu")


class ReducedRecipe:
    """The reduced recipe's runs (``RunResult``): each backend's trained once in a test session, by whichever test
    worker asks first; a worker asking while another trains it waits for that run."""

    spec, config = REDUCED, REDUCED_RECIPE

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, backend: str, wait: bool = True, plain: bool = False):
        """The run on ``backend`` (``plain``: its speed-ups off); ``None`` where ``wait`` is False and another
        worker is training it now."""
        name = f"{backend}-plain" if plain else backend
        with open(self.folder / f"{name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return None
            record = self.folder / f"{name}.pickle"
            if not record.exists():
                config = self.config.for_backend(backend)
                config = replace(config, options=plain_options(backend)) if plain else config
                run = train(self.spec, config, out=self.folder / name, progress=False)
                record.write_bytes(pickle.dumps(run))
            return pickle.loads(record.read_bytes())

    def every(self, backends: list[str]) -> dict:
        """The runs of all ``backends``: first those no other worker is training (trained here), then the rest."""
        runs = {backend: self(backend, wait=False) for backend in backends}
        return {backend: run or self(backend) for backend, run in runs.items()}


# A folder that several pytest runs share for the reduced recipe's runs: nox gives its sessions one (frameworks and
# frameworks-jax both need PyTorch's run), new each time it starts.
SHARED_RUNS = "D2LVGG_TEST_RUNS"


@pytest.fixture(scope="session")
def reduced_recipe_run(tmp_path_factory) -> ReducedRecipe:
    """The reduced recipe's runs, in a folder every pytest-xdist worker of this session shares (and every pytest run
    that ``$D2LVGG_TEST_RUNS`` names)."""
    root = tmp_path_factory.getbasetemp()
    workers_root = root.parent if "PYTEST_XDIST_WORKER" in os.environ else root
    folder = Path(os.environ.get(SHARED_RUNS) or workers_root / "reduced-recipe")
    folder.mkdir(exist_ok=True)
    return ReducedRecipe(folder)


@pytest.fixture(scope="session")
def reduced_recipe_runs(reduced_recipe_run) -> Callable[[list[str]], dict]:
    """The runs of every backend named, for a test that compares them: it goes out after the tests that train them."""
    return reduced_recipe_run.every


# Batch norm keeps this fit far from the edge of stability: the same plain network with kaiming init at
# lr 0.05 ended at 0.23, 0.78 or 0.75 of its first loss with 1, 2 or 4 PyTorch threads (its loss climbed
# to 1.6x on the way), so the thread count decided the verdict. This one ends near 0.003 with every count.
FIXED_BATCH_SPEC = preset("d2l_vgg11").scaled(8).with_options(head=(128,), input_size=32, dropout=0.0, batch_norm=True)


def _fit_fixed_batch(runner) -> tuple[float, float, int]:
    """100 SGD steps on one batch of 32 random images from Xavier weights: first loss, last loss, correct."""
    runner.load_state(initial_weights(lower(FIXED_BATCH_SPEC), "xavier", 0))
    runner.set_optimizer(0.05)
    rng = np.random.default_rng(0)
    x = rng.random((32, 1, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    first, _ = runner.fetch(list(runner.train_step(x, y)))
    for _ in range(100):
        last, _ = runner.fetch(list(runner.train_step(x, y)))
    return first, last, int(runner.fetch([runner.evaluate(x, y)[1]])[0])


@pytest.fixture
def fixed_batch():
    """``(spec, fit)``: a runner built for ``spec`` goes to ``fit(runner) -> (first loss, last loss, correct)``."""
    return FIXED_BATCH_SPEC, _fit_fixed_batch
