"""A training run's settings: the textbook's recipes, d2lvgg's CPU lab recipe, and their checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..model.initializers import SCHEMES

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


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a run except the architecture; defaults are the d2l-zh recipe."""

    backend: str = "torch"
    epochs: int = 10
    lr: float = 0.05
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"
    init: str = "xavier"
    recipe: str = "d2l-zh"
    data_dir: str | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    ms_mode: str = "graph"
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "constant"  # or "cosine": lr * (1 + cos(pi * epoch / epochs)) / 2, set each epoch
    # The fast path (PyTorch): the dataset on the device, channels-last memory, and on a GPU
    # bfloat16 autocast and torch.compile ("auto": on where they pay). Off = the plain path.
    device_data: bool = True
    channels_last: bool = True
    amp: str = "auto"
    compile: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not isinstance(self.lr, (int, float)) or not np.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if self.init not in SCHEMES:
            raise ConfigError(f"unknown init {self.init!r}: choose one of {', '.join(SCHEMES)}")
        if self.recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {self.recipe!r}: choose one of {', '.join(RECIPES)}")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < (1 if name == "momentum" else 0.1):
                raise ConfigError(f"{name} must be a number in [0, {1 if name == 'momentum' else 0.1}), got {value!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        for name in ("amp", "compile"):
            if getattr(self, name) not in ("auto", "on", "off"):
                raise ConfigError(f"{name} must be auto, on or off, got {getattr(self, name)!r}")
        if self.ms_mode not in ("graph", "pynative"):
            raise ConfigError(f"unknown MindSpore mode {self.ms_mode!r}: use graph or pynative")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")

    @classmethod
    def from_recipe(cls, recipe: str = "d2l-zh", **overrides: Any) -> TrainConfig:
        """The named recipe's hyperparameters, with ``overrides`` (``None`` = keep) on top."""
        if recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
        chosen = {k: v for k, v in RECIPES[recipe].items() if k not in ("resize", "arch")}
        chosen.update({k: v for k, v in overrides.items() if v is not None})
        return cls(recipe=recipe, **chosen)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based): constant, or cosine-annealed from ``lr`` towards 0."""
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
    return config.lr
