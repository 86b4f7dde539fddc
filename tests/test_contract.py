"""The backend contract: every installed backend implements it, and options live with their backend."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import subprocess
import sys

import pytest

from d2lvgg import BackendError, ConfigError, preset
from d2lvgg.backends import REGISTRY, all_options, available, declaration, get_backend, options, resolve_options
from d2lvgg.backends.base import Backend, Declaration, Option, Runner
from d2lvgg.model.ir import lower
from d2lvgg.tools.cli import build_parser
from d2lvgg.training.config import TrainConfig

BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in REGISTRY]


def _verbs(protocol: type) -> list[str]:
    return [name for name, member in vars(protocol).items() if inspect.isfunction(member) and name[0] != "_"]


def _parameters(function) -> list[tuple[str, inspect._ParameterKind, object]]:
    """Each parameter's name, kind (positional, keyword-only ...) and default: what a caller relies on."""
    parameters = inspect.signature(function).parameters.values()
    return [(p.name, p.kind, p.default) for p in parameters if p.name != "self"]


@pytest.mark.parametrize("name", BACKENDS)
def test_each_installed_backend_implements_every_verb_with_its_signature(name):
    backend = get_backend(name)
    assert isinstance(backend, Backend)
    for verb in _verbs(Backend):
        assert _parameters(getattr(backend, verb)) == _parameters(getattr(Backend, verb)), verb


@pytest.mark.parametrize("name", BACKENDS)
def test_each_runner_implements_every_verb_with_its_signature(name):
    backend = get_backend(name)
    spec = preset("d2l_vgg11").scaled(16).with_options(head=(32,), input_size=32)
    runner = backend.make_runner(lower(spec), device="cpu", seed=0, options=resolve_options(name, {}))
    assert isinstance(runner, Runner)
    assert isinstance(runner.device_label, str) and isinstance(runner.fast, dict)
    for verb in _verbs(Runner):
        assert _parameters(getattr(runner, verb)) == _parameters(getattr(Runner, verb)), verb


def test_the_contract_test_sees_a_changed_default():
    def step(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None: ...

    assert _parameters(step) != _parameters(Runner.set_optimizer)


def test_every_backend_declares_itself_without_its_framework():
    for name in REGISTRY:
        info = declaration(name)
        assert isinstance(info, Declaration) and info.title and info.framework and info.extra and info.devices
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.framework = "numpy"
        assert set(info.load_first) <= set(REGISTRY) - {name}
        assert all(suffix.startswith(".") for suffix in info.checkpoint_suffixes)
        if info.launcher:  # it runs {nproc} processes on each node, the node's rank given, node 0 the rendezvous
            placeholders = re.findall(r"\{(\w+)\}", " ".join(info.launcher.command))
            assert {"python", "nproc", "node_rank", "host", "port"} <= set(placeholders)
        assert all(isinstance(option, Option) and option.flag.startswith("--") for option in info.options)
        assert all(option.check(option.default, name) == option.default for option in info.options)
        assert set(info.textbook) <= {field.name for field in dataclasses.fields(preset("d2l_vgg11"))}
    assert set(available()) <= set(REGISTRY)


def test_each_backend_sets_its_own_environment_and_keeps_the_users(monkeypatch):
    from d2lvgg import backends

    monkeypatch.delenv(backends.ENVIRONMENT_SET, raising=False)
    monkeypatch.delenv("D2LVGG_TEST_LOG", raising=False)
    monkeypatch.setenv("D2LVGG_TEST_USER", "mine")
    backends._set_environment({"D2LVGG_TEST_LOG": "3", "D2LVGG_TEST_USER": "3"})
    assert os.environ["D2LVGG_TEST_LOG"] == "3" and os.environ["D2LVGG_TEST_USER"] == "mine"
    backends._set_environment({"D2LVGG_TEST_LOG": "0", "D2LVGG_TEST_USER": "0"})  # a second framework's GLOG_v
    assert os.environ["D2LVGG_TEST_LOG"] == "0" and os.environ["D2LVGG_TEST_USER"] == "mine"
    child = subprocess.run(  # a child process inherits which values are d2lvgg's
        [
            sys.executable,
            "-c",
            "from d2lvgg import backends; backends._set_environment({'D2LVGG_TEST_LOG': '3'});"
            "import os; print(os.environ['D2LVGG_TEST_LOG'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "3"
    monkeypatch.setenv("D2LVGG_TEST_LOG", "2")  # the user's value, set after ours
    backends._set_environment({"D2LVGG_TEST_LOG": "3"})
    assert os.environ["D2LVGG_TEST_LOG"] == "2"


def test_options_are_owned_by_their_backends_and_checked_there():
    owners = {name: backend for name, (backend, _) in all_options().items()}
    assert owners == {
        "device_data": "every backend",
        "channels_last": "torch",
        "amp": "torch",
        "compile": "torch",
        "ms_mode": "mindspore",
        "to_static": "paddle",
        "xla": "tensorflow",
    }
    assert resolve_options("mindspore", {}) == {"device_data": True, "ms_mode": "graph"}
    assert resolve_options("torch", {"amp": "on"})["amp"] == "on"
    with pytest.raises(ConfigError, match="ms_mode is not an option of the torch backend .it belongs to the mindspore"):
        resolve_options("torch", {"ms_mode": "graph"})
    with pytest.raises(ConfigError, match="amp of the torch backend must be one of auto, on, off, got 'fast'"):
        resolve_options("torch", {"amp": "fast"})
    with pytest.raises(ConfigError, match="device_data of the torch backend must be one of True, False, got 1"):
        resolve_options("torch", {"device_data": 1})
    with pytest.raises(BackendError, match="unknown backend .mxnet."):
        options("mxnet")


def test_a_config_carries_its_backends_options_and_reads_old_flat_records():
    config = TrainConfig(backend="mindspore", options={"ms_mode": "pynative"})
    assert config.options == {"device_data": True, "ms_mode": "pynative"}
    assert config.record()["ms_mode"] == "pynative" and "options" not in config.record()
    assert TrainConfig.from_record(config.record()) == config
    # d2lvgg 0.1.0 stored every backend's switches flat, for any backend: each keeps its own
    old = {"backend": "torch", "epochs": 2, "ms_mode": "graph", "device_data": False, "amp": "auto"}
    assert TrainConfig.from_record(old).options == {**resolve_options("torch", {}), "device_data": False}
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        TrainConfig.from_record({"colour": "blue"})


@pytest.mark.parametrize("command", ["train", "bench"])
def test_the_cli_learns_every_option_from_its_backend(command):
    parser = build_parser()
    untouched = parser.parse_args([command])
    for _, option in all_options().values():
        assert getattr(untouched, option.name) is None  # not given: the backend's default applies
        if option.choices == (True, False):
            args = parser.parse_args([command, option.flag])
            assert getattr(args, option.name) is (not option.default)
        else:
            args = parser.parse_args([command, option.flag, option.choices[-1]])
            assert getattr(args, option.name) == option.choices[-1]
