"""The book's ``vgg_block`` and ``vgg`` in each backend: built for every book-shaped network, as the IR would be."""

from __future__ import annotations

import re

import pytest

from d2lvgg import Block, Conv, VGGSpec, preset, preset_names
from d2lvgg.backends import get_backend
from d2lvgg.model import ir
from d2lvgg.model.ir import lower
from d2lvgg.model.textbook import vgg_arguments, vgg_spec

BOOK = preset("d2l_vgg11")
CONV_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
BOOK_PARAMS = 128_806_154
CONV_BIASES = 64 + 128 + 2 * 256 + 4 * 512
NOT_VGG = ["alexnet"]
VGG_PRESETS = [name for name in preset_names() if name not in NOT_VGG]


def _small(name: str) -> VGGSpec:
    """The preset at 32 px with channels (and head) cut to a few, so that each backend builds it fast."""
    spec = preset(name)
    return spec.scaled(min(channels for _, channels in spec.conv_arch) // 4, head=True).with_options(input_size=32)


RESHAPED = VGGSpec(((2, 8), (3, 16)), kernel_sizes=((3, 1), (5, 3, 1)), head=(12,), in_channels=3, input_size=20)
# Every preset the recogniser accepts, small, and a spec with every option away from the book's.
SPECS = [pytest.param(_small(name), id=name) for name in VGG_PRESETS] + [
    pytest.param(
        RESHAPED.with_options(dropout=0.25, batch_norm=True, lrn=True, conv_bias=False, num_classes=7), id="reshaped"
    )
]


def _printed_children(net) -> list[str]:
    """The type names ``print(net)`` shows for the top-level children."""
    return re.findall(r"^  \(\d+\): (\w+)", repr(net), flags=re.MULTILINE)


def _structure(net) -> str:
    """``repr(net)`` without object addresses (MindSpore prints its initializer objects)."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(net))


def _book_children(container: str, dense: str, spec: VGGSpec = BOOK) -> list[str]:
    return [container] * len(spec.conv_arch) + ["Flatten"] + [dense, "ReLU", "Dropout"] * len(spec.head) + [dense]


def _spy_on_vgg(monkeypatch, network) -> list[dict]:
    """Record every call of ``network.vgg`` (``compile_network`` looks it up at each call)."""
    calls, book_vgg = [], network.vgg

    def spy(conv_arch, **options):
        calls.append({"conv_arch": conv_arch, **options})
        return book_vgg(conv_arch, **options)

    monkeypatch.setattr(network, "vgg", spy)
    return calls


# The recogniser, framework-free.


def test_every_preset_but_alexnet_is_the_books_vgg_and_rebuilds_exactly():
    for name in preset_names():
        network = lower(preset(name))
        arguments = vgg_arguments(network)
        assert (arguments is None) == (name in NOT_VGG), name
        if arguments is not None:
            assert lower(vgg_spec(**arguments)) == network


def test_the_books_network_reads_back_as_the_books_arguments():
    assert lower(vgg_spec(CONV_ARCH)) == lower(BOOK)
    assert vgg_arguments(lower(BOOK)) == {
        "conv_arch": CONV_ARCH,
        "kernel_sizes": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
        "batch_norm": False,
        "lrn": False,
        "bias": True,
        "in_channels": 1,
        "flattened": 512 * 7 * 7,
        "head": (4096, 4096),
        "dropout": 0.5,
        "num_classes": 10,
    }


def test_options_read_back_from_a_reshaped_spec():
    arguments = vgg_arguments(
        lower(RESHAPED.with_options(head=(), batch_norm=True, lrn=True, conv_bias=False, num_classes=7))
    )
    assert arguments["conv_arch"] == ((2, 8), (3, 16)) and arguments["kernel_sizes"] == ((3, 1), (5, 3, 1))
    assert arguments["batch_norm"] and arguments["lrn"] and not arguments["bias"]
    assert (arguments["in_channels"], arguments["flattened"], arguments["head"]) == (3, 16 * 5 * 5, ())
    assert arguments["num_classes"] == 7


@pytest.mark.parametrize(
    "block",
    [
        Block((Conv(8),), pool_size=3, pool_stride=2),
        Block((Conv(8),), pool_size=2, pool_stride=1),
        Block((Conv(8, stride=2),)),
        Block((Conv(8, padding=0),)),
        Block((Conv(8), Conv(16))),
    ],
    ids=["3x3-pool", "stride-1-pool", "strided-conv", "unpadded-conv", "two-widths"],
)
def test_other_blocks_are_not_the_books(block):
    assert vgg_arguments(lower(VGGSpec(((1, 4), block), input_size=32))) is None


def test_other_layers_and_leaves_are_not_the_books():
    network = lower(VGGSpec(((1, 4),), head=(8,), input_size=8, batch_norm=True))
    block = network.children[0]
    odd_norm = ir.Sequential((block.children[0], ir.BatchNorm2d(4, eps=1e-3), *block.children[2:]))
    assert vgg_arguments(ir.Sequential((odd_norm, *network.children[1:]))) is None
    assert vgg_arguments(ir.Sequential(network.children[:-1])) is None  # no final Linear after the Dropout
    assert vgg_arguments(ir.Sequential(network.children[1:])) is None  # no block
    assert vgg_arguments(ir.ReLU()) is None


# PyTorch.


@pytest.fixture(scope="module")
def torch_network():
    pytest.importorskip("torch")
    from d2lvgg.backends.torch import network

    return network


@pytest.mark.torch
def test_torch_vgg_with_no_options_is_the_books_network(torch_network):
    net = torch_network.vgg(CONV_ARCH)
    assert [type(child).__name__ for child in net] == _book_children("Sequential", "Linear")
    assert _printed_children(net) == _book_children("Sequential", "Linear")
    assert [type(layer).__name__ for layer in net[2]] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert sum(p.numel() for p in net.parameters()) == BOOK_PARAMS


@pytest.mark.torch
@pytest.mark.parametrize("spec", SPECS)
def test_torch_vgg_builds_the_same_modules_as_the_ir(torch_network, monkeypatch, spec):
    import torch

    network = lower(spec)
    calls = _spy_on_vgg(monkeypatch, torch_network)
    net, layers = torch_network.compile_network(network), torch_network.compile_layers(network)
    assert calls == [vgg_arguments(network)]
    assert _structure(net) == _structure(layers)  # nesting, types and every argument
    assert _printed_children(net) == _book_children("Sequential", "Linear", spec)
    state = layers.state_dict()
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    x = torch.rand(2, spec.in_channels, spec.input_size, spec.input_size)
    assert torch.equal(net.eval()(x), layers.eval()(x))


@pytest.mark.torch
def test_torch_alexnet_is_not_the_books_vgg_but_still_compiles(torch_network, monkeypatch):
    import torch

    network = lower(preset("alexnet").scaled(16))
    calls = _spy_on_vgg(monkeypatch, torch_network)
    net = torch_network.compile_network(network)
    assert calls == []
    assert _structure(net) == _structure(torch_network.compile_layers(network))
    assert net[0][0].stride == (4, 4) and net[0][-1].kernel_size == 3
    assert net.eval()(torch.rand(1, 1, 224, 224)).shape == (1, 10)


# MindSpore: the backend sets its environment variables before MindSpore loads.


@pytest.fixture(scope="module")
def ms_network():
    pytest.importorskip("mindspore")
    get_backend("mindspore")
    import d2lvgg.backends.mindspore.network

    return d2lvgg.backends.mindspore.network


@pytest.mark.mindspore
def test_mindspore_vgg_with_no_options_is_the_editions_network(ms_network):
    net = ms_network.vgg(CONV_ARCH)
    assert [type(net[i]).__name__ for i in range(len(net))] == _book_children("SequentialCell", "Dense")
    assert _printed_children(net) == _book_children("SequentialCell", "Dense")
    assert [type(net[2][i]).__name__ for i in range(len(net[2]))] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert not net[0][0].has_bias and net[0][0].pad_mode == "pad" and net[0][0].padding == 1
    assert get_backend("mindspore").param_count(net) == BOOK_PARAMS - CONV_BIASES


@pytest.mark.mindspore
@pytest.mark.parametrize("spec", SPECS)
def test_mindspore_vgg_builds_the_same_cells_as_the_ir(ms_network, monkeypatch, spec):
    import mindspore as ms

    network = lower(spec)
    calls = _spy_on_vgg(monkeypatch, ms_network)
    net, layers = ms_network.compile_network(network), ms_network.compile_layers(network)
    assert calls == [vgg_arguments(network)]
    assert _structure(net) == _structure(layers)  # nesting, types, every argument and parameter name
    assert _printed_children(net) == _book_children("SequentialCell", "Dense", spec)
    names = [(n, p.shape, p.requires_grad) for n, p in net.parameters_and_names()]
    assert names == [(n, p.shape, p.requires_grad) for n, p in layers.parameters_and_names()]
    assert {n.rsplit(".", 1)[-1] for n, _, _ in names} >= {"weight", "bias", "mask"}
    assert ms.load_param_into_net(net, dict(layers.parameters_and_names()), strict_load=True) == ([], [])


@pytest.mark.mindspore
def test_mindspore_prints_dropout_and_batch_norm_under_the_books_names(ms_network):
    net = ms_network.compile_network(lower(_small("vgg11_lrn_bn")))
    assert "SeededDropout" not in repr(net) and repr(net[-2]) == "Dropout(p=0.5)"
    first_block = [type(net[0][i]).__name__ for i in range(len(net[0]))]
    assert first_block == ["Conv2d", "BatchNorm2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    statistics = {"gamma", "beta", "moving_mean", "moving_variance"}
    assert {n.rsplit(".", 1)[-1] for n, _ in net.parameters_and_names()} >= statistics


@pytest.mark.mindspore
def test_mindspore_alexnet_is_not_the_books_vgg_but_still_compiles(ms_network, monkeypatch):
    network = lower(preset("alexnet").scaled(16))
    calls = _spy_on_vgg(monkeypatch, ms_network)
    net = ms_network.compile_network(network)
    assert calls == []
    assert _structure(net) == _structure(ms_network.compile_layers(network))
    assert net[0][0].stride == (4, 4) and net[0][-1].kernel_size == 3
