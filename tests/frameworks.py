"""Per-backend expectations for the parametrised backend suite: what each backend's networks print.

A new backend adds one ``Expect`` row here and one ``Native`` class in ``natives.py``; every test in
``test_networks.py`` and ``test_runners.py`` then runs for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from d2lvgg.backends import REGISTRY, get_backend

BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in REGISTRY]


@dataclass(frozen=True)
class Expect:
    """What one backend's networks print and how its devices are named."""

    container: str  # the type of each block and of the whole network
    conv: str
    pool: str
    dense: str
    batch_norm: str
    accelerator: str  # a device name that needs a GPU
    no_accelerator: str  # the error's words when there is none
    running_mean: str  # batch norm's running mean, in the framework's own naming
    variants: tuple[dict, ...] = ({},)  # runner options every runner test is repeated with
    first_dense: str = "6.weight"  # the first dense layer's weight, in the framework's own naming
    relu_layers: bool = True  # False where the book folds each ReLU into its layer (activation='relu')
    nested_head: bool = False  # True where the book's dense part is one more Sequential
    relu: str = "ReLU"  # a ReLU layer's name (a function's name where the book puts the function itself)
    flatten: str = "Flatten"
    channels_last: bool = False  # True where images are NHWC


EXPECT = {
    "torch": Expect(
        "Sequential",
        "Conv2d",
        "MaxPool2d",
        "Linear",
        "BatchNorm2d",
        "cuda",
        "sees no CUDA GPU: use --device cpu",
        "running_mean",
    ),
    "mindspore": Expect(
        "SequentialCell",
        "Conv2d",
        "MaxPool2d",
        "Dense",
        "BatchNorm2d",
        "gpu",
        "this MindSpore build cannot",
        "moving_mean",
        ({"ms_mode": "graph"}, {"ms_mode": "pynative"}),
    ),
    "paddle": Expect(
        "Sequential",
        "Conv2D",
        "MaxPool2D",
        "Linear",
        "BatchNorm2D",
        "gpu",
        "sees no GPU: use --device cpu",
        "_mean",
        ({"to_static": False}, {"to_static": True}),
    ),
    "tensorflow": Expect(
        "Sequential",
        "Conv2D",
        "MaxPooling2D",
        "Dense",
        "BatchNormalization",
        "gpu",
        "sees no GPU: use --device cpu",
        "moving_mean",
        ({"xla": False}, {"xla": True}),
        first_dense="5.1.kernel",
        relu_layers=False,
        nested_head=True,
        channels_last=True,
    ),
    "jax": Expect(
        "Sequential",
        "Conv",
        "<lambda>",
        "Dense",
        "BatchNorm",
        "gpu",
        "sees no GPU: use --device cpu",
        "mean",
        first_dense="6.kernel",
        relu="relu",
        flatten="<lambda>",
        channels_last=True,
    ),
}


def network_module(name: str):
    """``d2lvgg.backends.<name>.network``, loaded after the backend has set its framework's environment."""
    import importlib

    get_backend(name)
    return importlib.import_module(f"d2lvgg.backends.{name}.network")
