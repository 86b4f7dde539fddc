"""Before the first step: the checks, the runner, and the config a run folder records."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import get_backend
from ..backends.base import Runner, World
from ..data.fashion_mnist import CHANNELS, CLASS_NAMES, load_fashion_mnist
from ..errors import ConfigError, SpecError
from ..model import ir
from ..model.spec import VGGSpec
from .config import TrainConfig
from .rundir import CONFIG, RunDir


def check_fits_fashion_mnist(spec: VGGSpec) -> None:
    """Refuse, before any work, a network that cannot take Fashion-MNIST's images or labels."""
    if spec.in_channels != CHANNELS:
        raise SpecError(
            f"{spec.name} takes {spec.in_channels}-channel images, but Fashion-MNIST's are greyscale "
            f"({CHANNELS} channel): pass --in-channels {CHANNELS} (in a spec file: in_channels = {CHANNELS})"
        )
    if spec.num_classes < len(CLASS_NAMES):
        raise SpecError(
            f"{spec.name} has {spec.num_classes} outputs, but Fashion-MNIST has {len(CLASS_NAMES)} classes: "
            f"pass --classes {len(CLASS_NAMES)} (in a spec file: num_classes = {len(CLASS_NAMES)})"
        )


def check_shares(world: World, config: TrainConfig) -> None:
    """Refuse, before the first step, a batch that some process of a data-parallel world gets no rows of."""
    if world.size == 1:
        return
    data = load_fashion_mnist(config.data_dir)
    for what, labels, limit in (
        ("training", data.train_labels, config.train_limit),
        ("test", data.test_labels, config.test_limit),
    ):
        n = len(labels[:limit])
        smallest = min(config.batch_size, n % config.batch_size or config.batch_size)
        if smallest < world.size:
            raise ConfigError(
                f"{world.size} processes need batches of at least {world.size} examples, but the {what} set's "
                f"{n} examples in batches of {config.batch_size} leave one of {smallest}: change --batch-size "
                f"or the --train-limit/--test-limit"
            )


def make_runner(network: ir.Sequential, config: TrainConfig) -> Runner:
    """The configured backend's runner for ``network``, with that backend's options."""
    backend = get_backend(config.backend)
    return backend.make_runner(network, device=config.device, seed=config.seed, options=config.options)


def default_run_dir(spec: VGGSpec, backend: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{spec.name}-{backend}-{stamp}"


def config_record(spec: VGGSpec, config: TrainConfig, runner: Runner) -> dict[str, Any]:
    """What ``config.json`` holds: the spec, the settings, the device and the versions."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    return {
        "spec": spec.to_dict(),
        "train": config.record(),
        "device": runner.device_label,
        "fast": runner.fast,
        "world": {"size": runner.world.size, "engine": runner.world.engine},
        "versions": versions | {"backend": get_backend(config.backend).version()},
        "host": platform.node(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def load_config(run: RunDir) -> tuple[VGGSpec, TrainConfig]:
    """The spec and training config a run folder was written with."""
    record = run.read_json(CONFIG)
    return VGGSpec.from_dict(record["spec"]), TrainConfig.from_record(record["train"])
