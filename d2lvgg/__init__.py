"""d2lvgg: the VGG chapter of Dive into Deep Learning, one spec compiled for each framework's backend.

Importing the package loads no deep-learning framework; backends are imported on demand.
The layers, each importing only those before it: ``model`` (spec, presets, layer IR, analysis),
``data`` (Fashion-MNIST), ``backends`` (one sub-package per framework behind one contract),
``training`` (config, loop, run folder), ``interop`` (other libraries' weights, ONNX) and ``tools``
(CLI, parity, sweeps, bench, drawings).
"""

from .backends import build
from .errors import (
    BackendError,
    ConfigError,
    D2LVGGError,
    DataError,
    DeviceError,
    PresetError,
    RunError,
    RunInterrupted,
    SpecError,
)
from .model.analysis import LayerInfo, Summary, summarize
from .model.presets import preset, preset_names
from .model.spec import Block, Conv, VGGSpec
from .model.specfile import dumps_spec, load_spec, resolve_spec, save_spec
from .training.config import RECIPES, TrainConfig
from .training.loop import evaluate_run, resume, train

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "ConfigError",
    "Block",
    "Conv",
    "D2LVGGError",
    "DataError",
    "DeviceError",
    "LayerInfo",
    "PresetError",
    "RECIPES",
    "RunError",
    "RunInterrupted",
    "SpecError",
    "Summary",
    "TrainConfig",
    "VGGSpec",
    "build",
    "dumps_spec",
    "evaluate_run",
    "load_spec",
    "preset",
    "preset_names",
    "resolve_spec",
    "resume",
    "save_spec",
    "summarize",
    "train",
]
