"""A training run's settings: the textbook's recipes, d2lvgg's CPU lab recipe, and their checks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..backends import DEFAULT as DEFAULT_BACKEND
from ..backends import all_options, declaration, resolve_options
from ..backends import options as backend_options
from ..data.release import TRAIN_EXAMPLES
from ..errors import ConfigError
from ..model.initializers import SCHEMES
from ..model.spec import VGGSpec
from ..model.specfile import resolve_spec

# The two editions' hyperparameters for this chapter; d2l-cpu, the same recipe on a network and
# input small enough for a CPU; and d2lvgg's CPU lab recipe: a deviation from the book (batch norm,
# momentum, weight decay, a cosine schedule, 32 px) that reaches 0.92 on a 2-core CPU within a
# lab period (docs/results.md).
RECIPES: dict[str, dict[str, Any]] = {
    "d2l-zh": {"lr": 0.05, "epochs": 10, "batch_size": 128, "resize": 224},
    "d2l-en": {"lr": 0.01, "epochs": 10, "batch_size": 128, "resize": 224},
    "d2l-cpu": {"arch": "d2l_vgg11_cpu", "lr": 0.05, "epochs": 10, "batch_size": 128, "resize": 32},
    "cpu-lab": {
        "arch": "d2l_vgg11_lab",
        "lr": 0.05,
        "epochs": 12,
        "batch_size": 128,
        "resize": 32,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
    },
}
SCHEDULES = ("constant", "cosine")
AUTO_RECIPE = "auto"  # d2l-zh where the backend finds a GPU or Ascend card, d2l-cpu on a CPU


def auto_recipe(on_accelerator: bool) -> str:
    """What ``--recipe auto`` means: the book's run on an accelerator, the CPU-sized one on a CPU."""
    return "d2l-zh" if on_accelerator else "d2l-cpu"


BOOK = RECIPES["d2l-zh"]  # TrainConfig's defaults
DEFAULT_ARCH = "d2l_vgg11_small"  # a recipe's network when it names none and no --arch is given


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a run except the architecture; defaults are the d2l-zh recipe.

    ``options`` holds the settings only the chosen backend has (PyTorch's fast path, MindSpore's
    execution mode), declared and checked by that backend; left out, they take its defaults.
    """

    backend: str = DEFAULT_BACKEND
    epochs: int = BOOK["epochs"]
    lr: float = BOOK["lr"]
    batch_size: int = BOOK["batch_size"]
    seed: int = 0
    device: str = "auto"
    init: str = "xavier"
    recipe: str = "d2l-zh"
    data_dir: str | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "constant"  # or "cosine": lr * (1 + cos(pi * epoch / epochs)) / 2, set each epoch
    weights: str | None = None  # start from these weights (fine-tuning) instead of a fresh draw
    threads: int | None = None  # CPU threads; None: measured before the first epoch (training/threads.py)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not isinstance(self.lr, (int, float)) or not np.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        _one_of("init", self.init, SCHEMES)
        _one_of("recipe", self.recipe, RECIPES)
        _one_of("schedule", self.schedule, SCHEDULES)
        known = declaration(self.backend)  # an unknown backend is named here, before its devices
        if not isinstance(self.device, str) or not re.fullmatch(known.device_pattern, self.device):
            raise ConfigError(f"unknown device {self.device!r} for the {self.backend} backend: use {known.devices}")
        for name, limit in (("momentum", 1), ("weight_decay", 0.1)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < limit:
                raise ConfigError(f"{name} must be a number in [0, {limit}), got {value!r}")
        for name in ("train_limit", "test_limit", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        examples = min(self.train_limit or TRAIN_EXAMPLES, TRAIN_EXAMPLES)
        if self.batch_size > examples:
            raise ConfigError(
                f"batch_size {self.batch_size} is larger than the {examples:,} training examples, so every epoch "
                f"would be one smaller batch: choose --batch-size {examples} or less"
            )
        object.__setattr__(self, "options", resolve_options(self.backend, self.options))

    @classmethod
    def from_recipe(cls, recipe: str = "d2l-zh", **overrides: Any) -> TrainConfig:
        """The named recipe's hyperparameters, with ``overrides`` (``None`` = keep) on top.

        A backend's options may be given by name among the overrides (``ms_mode="pynative"``).
        """
        _one_of("recipe", recipe, RECIPES)
        chosen = {k: v for k, v in RECIPES[recipe].items() if k not in ("resize", "arch")}
        chosen.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_record({"recipe": recipe, **chosen})

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrainConfig:
        """A config from flat settings, as ``config.json`` stores them (``record()``'s inverse).

        Keys that are not fields are backend options; those another backend owns are dropped,
        so a run folder written before options moved into the backends still loads.
        """
        fields_ = {f.name for f in fields(cls)}
        settings = {k: v for k, v in record.items() if k in fields_}
        backend = settings.get("backend", DEFAULT_BACKEND)
        owned = {option.name for option in backend_options(backend)}
        others = set(all_options())
        unknown = sorted(k for k in record if k not in fields_ and k not in others)
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}: settings are {', '.join(sorted(fields_ | others))}")
        given = {k: v for k, v in record.items() if k in owned}
        settings["options"] = {**given, **settings.get("options", {})}
        return cls(**settings)

    def for_backend(self, backend: str) -> TrainConfig:
        """The same run on another backend: its options at their defaults, the device in its spelling (or auto)."""
        if backend == self.backend:
            return self
        known = declaration(backend)
        device = known.device_names.get(self.device, self.device)
        device = device if re.fullmatch(known.device_pattern, device) else "auto"
        return TrainConfig.from_record(self.record() | {"backend": backend, "device": device})

    def record(self) -> dict[str, Any]:
        """Flat settings, the backend's options beside the rest, as ``config.json`` stores them."""
        flat = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "options"}
        return flat | self.options


def _one_of(name: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}: choose one of {', '.join(allowed)}")


def recipe_spec(recipe: str, arch: str | None = None, resize: int | None = None, **reshape: Any) -> VGGSpec:
    """The network a recipe trains: ``arch`` or the recipe's own, at ``resize`` or the recipe's size."""
    _one_of("recipe", recipe, RECIPES)
    chosen = RECIPES[recipe]
    size = chosen["resize"] if resize is None else resize
    return resolve_spec(arch or chosen.get("arch", DEFAULT_ARCH), **reshape, input_size=size)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based): constant, or cosine-annealed from ``lr`` towards 0."""
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
    return config.lr
