"""The book's ``vgg_block``/``vgg`` in every backend: the chapter's network, the compiled spec's twin, and
correct in the framework's own loop. One suite, run once per backend (``frameworks.py``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from frameworks import BACKENDS, EXPECT, network_module
from natives import NATIVE, layer_name

from d2lvgg import preset, summarize
from d2lvgg.backends import declaration, get_backend
from d2lvgg.data.fashion_mnist import load_fashion_mnist
from d2lvgg.data.pipeline import resize_bilinear
from d2lvgg.model.initializers import initial_weights
from d2lvgg.model.ir import lower

CONV_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
RATIO = 4
SMALL_CONV_ARCH = [(pair[0], pair[1] // RATIO) for pair in CONV_ARCH]
# The book's printout for one 1x1x224x224 image: each top-level child's output shape.
BOOK_ROWS = [(1, 64, 112, 112), (1, 128, 56, 56), (1, 256, 28, 28), (1, 512, 14, 14), (1, 512, 7, 7), (1, 25088)]
BOOK_ROWS += [(1, 4096)] * 6 + [(1, 10)]


@pytest.fixture(params=BACKENDS)
def name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def fashion_batch() -> tuple[np.ndarray, np.ndarray]:
    """Sixteen real Fashion-MNIST training images at the book's 224 px, with their labels."""
    data = load_fashion_mnist()
    return resize_bilinear(data.train_images[:16], 224)[:, None], data.train_labels[:16].astype(np.int64)


def _book_children(name: str) -> list[str]:
    """The types of the book's top-level children: five blocks, then the dense part (or one model holding it)."""
    e = EXPECT[name]
    return [e.container] * (6 if e.nested_head else 5) + ([] if e.nested_head else _head(name))


def _head(name: str) -> list[str]:
    """The dense part's layers in the framework's printout."""
    e = EXPECT[name]
    relu = [e.relu] if e.relu_layers else []
    return [e.flatten] + [e.dense, *relu, "Dropout"] * 2 + [e.dense]


def _book_rows(name: str) -> list[tuple[int, ...]]:
    """The book's printout for one image: each top-level child's output, in the framework's layout."""
    e = EXPECT[name]
    rows = [(n, h, w, c) for n, c, h, w in BOOK_ROWS[:5]] + BOOK_ROWS[5:] if e.channels_last else BOOK_ROWS
    return rows[:5] + rows[-1:] if e.nested_head else rows


def _printed_children(name: str, net) -> list[str]:
    """The type names the framework's printout shows for the top-level children."""
    if EXPECT[name].nested_head:  # Keras prints a model's name only: its layers are the printout
        return [layer_name(child) for child in NATIVE[name].children(net)]
    return re.findall(r"^  \(\d+\): ([\w<>]+)", NATIVE[name].printed(net), flags=re.MULTILINE)


def _books_spec(name: str, small: bool):
    """The spec whose lowering is the edition's ``vgg(conv_arch)`` (MindSpore's: no conv bias)."""
    return preset("d2l_vgg11_small" if small else "d2l_vgg11").with_options(**declaration(name).textbook)


def test_the_books_vgg_prints_the_chapters_rows_and_parameters(name):
    native, e = NATIVE[name], EXPECT[name]
    x, rows = native.images(np.zeros((1, 1, 224, 224), np.float32)), []
    net = native.built(network_module(name).vgg(CONV_ARCH), x)
    children = native.children(net)
    assert [layer_name(child) for child in children] == _book_children(name) == _printed_children(name, net)
    conv = [e.conv, e.relu] if e.relu_layers else [e.conv]
    assert [layer_name(layer) for layer in native.children(children[2])] == [*conv, *conv, e.pool]
    for child in children:
        x = native.forward(child, x, train=False)
        rows.append(x.shape)
    assert rows == _book_rows(name)
    assert get_backend(name).param_count(net) == summarize(_books_spec(name, small=False)).total_params


@pytest.mark.parametrize("small", [False, True], ids=["conv_arch", "small_conv_arch"])
def test_the_books_vgg_is_the_network_compiled_from_its_spec(name, small):
    backend, native = get_backend(name), NATIVE[name]
    spec = _books_spec(name, small)
    x = native.images(np.random.default_rng(0).random((2, 1, 224, 224), dtype=np.float32))
    book = native.built(network_module(name).vgg(SMALL_CONV_ARCH if small else CONV_ARCH), x)
    compiled = backend.compile_network(lower(spec))
    assert native.printed(book) == native.printed(compiled)  # nesting, types, every argument
    book_state, compiled_state = backend.state_to_numpy(book), backend.state_to_numpy(compiled)
    assert [(k, v.shape) for k, v in book_state.items()] == [(k, v.shape) for k, v in compiled_state.items()]
    weights = initial_weights(lower(spec), "xavier", seed=0)
    book, compiled = (backend.load_numpy_state(net, weights) for net in (book, compiled))
    np.testing.assert_array_equal(native.forward(book, x, train=False), native.forward(compiled, x, train=False))


def test_a_network_from_vgg_trains_in_the_frameworks_own_loop(name, fashion_batch):
    """Dropout drops in training mode and not in evaluation mode, and the framework's own optimizer fits a batch."""
    native = NATIVE[name]
    native.seed(0)
    x, y = native.images(fashion_batch[0]), fashion_batch[1]
    net = native.built(network_module(name).vgg(SMALL_CONV_ARCH), x)
    train = [native.forward(net, x, train=True) for _ in range(2)]
    evaluation = [native.forward(net, x, train=False) for _ in range(2)]
    assert not np.array_equal(*train)
    np.testing.assert_array_equal(*evaluation)
    before, after = native.fit(net, x, y, steps=10)
    assert after < 0.9 * before


def test_compiled_options_print_under_the_frameworks_names(name):
    e, native = EXPECT[name], NATIVE[name]
    spec = preset("vgg11_lrn_bn").scaled(16, head=True).with_options(input_size=32)
    net = get_backend(name).compile_network(lower(spec))
    first_block = [layer_name(layer) for layer in native.children(native.children(net)[0])]
    assert first_block == [e.conv, e.batch_norm, e.relu, "LocalResponseNorm", e.pool]
    head = native.children(native.children(net)[-1]) if e.nested_head else native.children(net)
    assert [layer_name(layer) for layer in head][-3:] == _head(name)[-3:]
