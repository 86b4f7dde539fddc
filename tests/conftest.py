"""Skip tests whose backend or device is absent, always with the reason."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from d2lvgg import preset
from d2lvgg.backends import REGISTRY, available, declaration, get_backend
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


def pytest_configure(config: pytest.Config) -> None:
    """Pin the thread count, so that two runs compared bit for bit compute alike whatever the load (a
    probed count follows the machine's load; test_threads.py tests the probe). Then load the frameworks
    that need an environment (GLOG_v) or a load order through their backends, before any test module
    imports one directly; the others load later, in the environment these set (PaddlePaddle sets
    OMP_NUM_THREADS=1), as the tests' child processes do."""
    os.environ.setdefault(threads.ENVIRONMENT, str(threads.cores()))
    for name in available():
        if declaration(name).environment or declaration(name).load_first:
            get_backend(name)


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
