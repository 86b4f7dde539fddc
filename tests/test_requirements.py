"""A package that a later pip install upgraded past what a backend needs is named before the framework loads."""

from __future__ import annotations

import importlib.metadata

import pytest

from d2lvgg import BackendError
from d2lvgg.backends import check_requirements, declaration


def _installed(monkeypatch, versions: dict[str, str]) -> None:
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: versions.get(name) or real(name))


def test_numpy_2_beside_mindspore_is_refused_with_the_one_line_fix(monkeypatch):
    _installed(monkeypatch, {"numpy": "2.4.6"})
    with pytest.raises(BackendError) as raised:
        check_requirements("mindspore")
    assert str(raised.value) == (
        "the mindspore backend needs numpy<2, found numpy 2.4.6 (MindSpore 2.10's tensor arithmetic fails "
        "with numpy 2): pip install 'numpy<2'"
    )


def test_numpy_1_passes_and_backends_without_requirements_check_nothing(monkeypatch):
    _installed(monkeypatch, {"numpy": "1.26.4"})
    check_requirements("mindspore")
    _installed(monkeypatch, {"numpy": "2.4.6"})
    assert not declaration("torch").requires and not declaration("paddle").requires
    check_requirements("torch")
    check_requirements("paddle")
