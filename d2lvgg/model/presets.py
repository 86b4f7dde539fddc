"""Named architectures, as data: the VGG paper's Table 1, the textbook's networks, AlexNet."""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import PresetError
from .spec import VGGSpec

# The paper's configurations (Simonyan & Zisserman, Table 1) as (num_convs, channels) blocks.
_CHANNELS = (64, 128, 256, 512, 512)
_PAPER: dict[str, tuple[str, tuple[int, ...], dict[str, Any]]] = {
    "vgg11": ("A", (1, 1, 2, 2, 2), {}),
    "vgg11_lrn": ("A-LRN", (1, 1, 2, 2, 2), {"lrn": True}),
    "vgg13": ("B", (2, 2, 2, 2, 2), {}),
    "vgg16_1x1": ("C", (2, 2, 3, 3, 3), {"kernel_sizes": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1))}),
    "vgg16": ("D", (2, 2, 3, 3, 3), {}),
    "vgg19": ("E", (2, 2, 4, 4, 4), {}),
}
_IMAGENET = {"in_channels": 3, "num_classes": 1000, "input_size": 224}

_D2L_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))

# The companion chapter's AlexNet, adapted to one-channel 224x224 Fashion-MNIST.
_ALEXNET_ARCH = (
    {"convs": [{"out_channels": 96, "kernel_size": 11, "stride": 4, "padding": 1}], "pool_size": 3, "pool_stride": 2},
    {"convs": [{"out_channels": 256, "kernel_size": 5, "padding": 2}], "pool_size": 3, "pool_stride": 2},
    {
        "convs": [{"out_channels": 384}, {"out_channels": 384}, {"out_channels": 256}],
        "pool_size": 3,
        "pool_stride": 2,
    },
)


def _table() -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (description, spec fields)."""
    table: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, (config, convs, extra) in _PAPER.items():
        arch = tuple(zip(convs, _CHANNELS, strict=True))
        depth = sum(convs) + 3
        fields = {"conv_arch": arch, **_IMAGENET, **extra}
        table[name] = (f"VGG paper configuration {config} (VGG-{depth}), ImageNet 3x224x224, 1000 classes", fields)
        table[f"{name}_bn"] = (
            f"configuration {config} with batch norm after every convolution",
            {**fields, "batch_norm": True},
        )
    table["d2l_vgg11"] = ("the textbook's VGG-11 for Fashion-MNIST (1x224x224, 10 classes)", {"conv_arch": _D2L_ARCH})
    table["d2l_vgg11_small"] = (
        "the textbook's trained network: d2l_vgg11 with channels divided by 4",
        {"conv_arch": tuple((n, c // 4) for n, c in _D2L_ARCH)},
    )
    table["d2l_vgg11_ms"] = (
        "the MindSpore edition's VGG-11: as d2l_vgg11 but convolutions without bias",
        {"conv_arch": _D2L_ARCH, "conv_bias": False},
    )
    table["d2l_vgg11_small_ms"] = (
        "the MindSpore edition's trained network: d2l_vgg11_small without conv bias",
        {"conv_arch": tuple((n, c // 4) for n, c in _D2L_ARCH), "conv_bias": False},
    )
    table["d2l_vgg11_lab"] = (
        "the CPU lab recipe's network: d2l_vgg11 with channels / 8, batch norm, a 256-wide head, 32 px",
        {
            "conv_arch": tuple((n, c // 8) for n, c in _D2L_ARCH),
            "batch_norm": True,
            "head": (256, 256),
            "input_size": 32,
        },
    )
    table["d2l_vgg11_cpu"] = (
        "the CPU-sized network: d2l_vgg11 with channels / 8, a 256-wide head, 32 px (minutes on 2 cores)",
        {"conv_arch": tuple((n, c // 8) for n, c in _D2L_ARCH), "head": (256, 256), "input_size": 32},
    )
    table["alexnet"] = ("the companion chapter's AlexNet for Fashion-MNIST (exercise 2)", {"conv_arch": _ALEXNET_ARCH})
    return table


PRESETS = _table()


def preset_names() -> list[str]:
    return list(PRESETS)


def describe(name: str) -> str:
    return _lookup(name)[0]


def preset(name: str) -> VGGSpec:
    """The spec stored under ``name``; unknown names get the closest matches suggested."""
    return VGGSpec(name=name, **_lookup(name)[1])


def _lookup(name: str) -> tuple[str, dict[str, Any]]:
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "run `d2lvgg presets` to list them"
        raise PresetError(f"unknown architecture {name!r}: {hint}") from None
