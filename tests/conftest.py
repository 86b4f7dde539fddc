"""Skip tests whose backend or device is absent, always with the reason."""

from __future__ import annotations

import importlib.util

import pytest

BACKEND_MODULES = {"torch": "torch", "mindspore": "mindspore"}


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        for marker, module in BACKEND_MODULES.items():
            if marker in marks and not _installed(module):
                item.add_marker(pytest.mark.skip(reason=f"{module} is not installed (pip install 'd2lvgg[{marker}]')"))
        if "gpu" in marks and not _cuda_available():
            item.add_marker(pytest.mark.skip(reason="no CUDA GPU on this machine"))
        if "ascend" in marks and not _ascend_available():
            item.add_marker(pytest.mark.skip(reason="no Ascend NPU on this machine"))
        if "parity" in marks and not all(_installed(m) for m in BACKEND_MODULES.values()):
            item.add_marker(pytest.mark.skip(reason="parity needs both torch and mindspore installed"))
