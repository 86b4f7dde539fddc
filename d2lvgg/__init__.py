"""d2lvgg: the VGG chapter of Dive into Deep Learning, one spec compiled for PyTorch and MindSpore.

Importing the package loads no deep-learning framework; backends are imported on demand.
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
    "RunError",
    "RunInterrupted",
    "SpecError",
    "Summary",
    "VGGSpec",
    "build",
    "dumps_spec",
    "load_spec",
    "preset",
    "preset_names",
    "resolve_spec",
    "save_spec",
    "summarize",
]
