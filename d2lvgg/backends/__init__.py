"""Backends: one sub-package per framework, imported only when asked for.

``REGISTRY`` is the one line a new backend adds here. Its sub-package's ``__init__`` holds its
``DECLARATION`` (what it needs and which options it has, without importing the framework); its
``backend`` module implements the contract in ``base.py``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from packaging.requirements import Requirement

from ..errors import BackendError, ConfigError
from .base import Backend, Declaration, Option

# backend name -> its sub-package
REGISTRY = {
    "torch": "d2lvgg.backends.torch",
    "mindspore": "d2lvgg.backends.mindspore",
    "paddle": "d2lvgg.backends.paddle",
    "tensorflow": "d2lvgg.backends.tensorflow",
    "jax": "d2lvgg.backends.jax",
}
DEFAULT = "torch"

# Names the variables get_backend set, with their values (JSON), for this process and its children:
# another backend may set those again, while a value the user gave is kept.
ENVIRONMENT_SET = "D2LVGG_ENVIRONMENT_SET"
# The environment as the user gave it, before a framework changed it (PaddlePaddle sets OMP_NUM_THREADS=1).
USER_ENVIRONMENT = MappingProxyType(dict(os.environ))


def declaration(name: str) -> Declaration:
    """What backend ``name`` is (framework, pip extra, devices, options), without its framework."""
    if name not in REGISTRY:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(REGISTRY)}")
    return importlib.import_module(REGISTRY[name]).DECLARATION


def available() -> list[str]:
    """Backends whose framework is installed here."""
    return [name for name in REGISTRY if importlib.util.find_spec(declaration(name).framework)]


def get_backend(name: str) -> Backend:
    """The backend ``name`` implementing the contract; a clear error if it is unknown or not installed."""
    info = declaration(name)
    if importlib.util.find_spec(info.framework) is None:
        raise BackendError(
            f"the {name} backend needs {info.framework}, which is not installed: pip install 'd2lvgg[{info.extra}]'"
        )
    check_requirements(name)
    for other in info.load_first:
        if importlib.util.find_spec(declaration(other).framework):
            get_backend(other)
    _set_environment(info.environment)
    for start in info.quiet:
        warnings.filterwarnings("ignore", message=re.escape(start))
    return importlib.import_module(f"{REGISTRY[name]}.backend")


def check_requirements(name: str) -> None:
    """One line naming the fix when an installed package breaks backend ``name`` (an upgrade pip allowed)."""
    for text, why in declaration(name).requires.items():
        requirement = Requirement(text)
        try:
            found = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found is None or found not in requirement.specifier:
            raise BackendError(
                f"the {name} backend needs {text}, found {requirement.name} {found or '(none)'} ({why}): "
                f"pip install '{text}'"
            )


def _set_environment(wanted: Mapping[str, str]) -> None:
    """Set a backend's variables before its framework loads, keeping any the user set.

    A variable another backend set is set again: PaddlePaddle's and MindSpore's ``GLOG_v`` count
    in opposite directions, and each framework reads it once, when it loads.
    """
    ours = json.loads(os.environ.get(ENVIRONMENT_SET, "{}"))
    for variable, value in wanted.items():
        current = os.environ.get(variable)
        if current is None or current == ours.get(variable):
            os.environ[variable] = ours[variable] = value
    os.environ[ENVIRONMENT_SET] = json.dumps(ours)


def options(name: str) -> tuple[Option, ...]:
    """The options backend ``name`` declares."""
    return declaration(name).options


def all_options() -> dict[str, tuple[str, Option]]:
    """Every declared option by name, with the backends that declare it (for the CLI and sweep grids).

    An option every backend declares (the fast path's ``device_data``) is owned by "every backend".
    """
    owners: dict[str, list[str]] = {}
    found: dict[str, Option] = {}
    for name in REGISTRY:
        for option in options(name):
            owners.setdefault(option.name, []).append(name)
            found[option.name] = option
    named = {key: "every backend" if len(names) == len(REGISTRY) else ", ".join(names) for key, names in owners.items()}
    return {key: (named[key], option) for key, option in found.items()}


def resolve_options(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """Backend ``name``'s options: each given one checked, the rest at their defaults."""
    declared = {option.name: option for option in options(name)}
    for key in given:
        if key not in declared:
            owned = all_options().get(key)
            where = f"it belongs to the {owned[0]} backend" if owned else "no backend has it"
            raise ConfigError(
                f"{key} is not an option of the {name} backend ({where}); {name}'s options: "
                f"{', '.join(declared) or 'none'}"
            )
    return {key: option.check(given[key], name) if key in given else option.default for key, option in declared.items()}


def plain_options(name: str) -> dict[str, Any]:
    """Backend ``name``'s options with every speed-up off: the textbook's way, and parity's reference."""
    return resolve_options(name, {o.name: o.plain for o in options(name) if o.plain is not None})


def build(arch, backend: str = DEFAULT, **reshape):
    """The framework network for a spec, preset name or spec file (``reshape`` as in ``resolve_spec``).

    ``build("d2l_vgg11", backend="torch")`` is module for module the book's ``vgg(conv_arch)``: an
    ``nn.Sequential`` of five block sequentials, then ``Flatten``, ``Linear``, ``ReLU``, ``Dropout`` ...
    """
    from ..model.ir import lower
    from ..model.specfile import resolve_spec

    return get_backend(backend).compile_network(lower(resolve_spec(arch, **reshape)))
