"""The book's ``vgg_block``/``vgg`` in every backend: the chapter's network, the compiled spec's twin, and
correct in the framework's own loop. One suite, run once per backend (``frameworks.py``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from frameworks import BACKENDS, EXPECT, NATIVE, network_module

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
    e = EXPECT[name]
    return [e.container] * 5 + ["Flatten"] + [e.dense, "ReLU", "Dropout"] * 2 + [e.dense]


def _printed_children(net) -> list[str]:
    """The type names ``print(net)`` shows for the top-level children."""
    return re.findall(r"^  \(\d+\): (\w+)", repr(net), flags=re.MULTILINE)


def _printed(net) -> str:
    """``repr(net)`` without object addresses (MindSpore prints its initializer objects)."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(net))


def _books_spec(name: str, small: bool):
    """The spec whose lowering is the edition's ``vgg(conv_arch)`` (MindSpore's: no conv bias)."""
    return preset("d2l_vgg11_small" if small else "d2l_vgg11").with_options(**declaration(name).textbook)


def test_the_books_vgg_prints_the_chapters_rows_and_parameters(name):
    native, e = NATIVE[name], EXPECT[name]
    net = network_module(name).vgg(CONV_ARCH)
    children = native.children(net)
    assert [type(child).__name__ for child in children] == _book_children(name) == _printed_children(net)
    assert [type(layer).__name__ for layer in native.children(children[2])] == [e.conv, "ReLU", e.conv, "ReLU", e.pool]
    assert get_backend(name).param_count(net) == summarize(_books_spec(name, small=False)).total_params
    x, rows = np.zeros((1, 1, 224, 224), np.float32), []
    for child in children:
        x = native.forward(child, x, train=False)
        rows.append(x.shape)
    assert rows == BOOK_ROWS


@pytest.mark.parametrize("small", [False, True], ids=["conv_arch", "small_conv_arch"])
def test_the_books_vgg_is_the_network_compiled_from_its_spec(name, small):
    backend, native = get_backend(name), NATIVE[name]
    spec = _books_spec(name, small)
    book = network_module(name).vgg(SMALL_CONV_ARCH if small else CONV_ARCH)
    compiled = backend.compile_network(lower(spec))
    assert _printed(book) == _printed(compiled)  # nesting, types, every argument
    book_state, compiled_state = backend.state_to_numpy(book), backend.state_to_numpy(compiled)
    assert [(k, v.shape) for k, v in book_state.items()] == [(k, v.shape) for k, v in compiled_state.items()]
    weights = initial_weights(lower(spec), "xavier", seed=0)
    for net in (book, compiled):
        backend.load_numpy_state(net, weights)
    x = np.random.default_rng(0).random((2, 1, 224, 224), dtype=np.float32)
    np.testing.assert_array_equal(native.forward(book, x, train=False), native.forward(compiled, x, train=False))


def test_a_network_from_vgg_trains_in_the_frameworks_own_loop(name, fashion_batch):
    """Dropout drops in training mode and not in evaluation mode, and the framework's own optimizer fits a batch."""
    native = NATIVE[name]
    native.seed(0)
    net = network_module(name).vgg(SMALL_CONV_ARCH)
    x, y = fashion_batch
    train = [native.forward(net, x, train=True) for _ in range(2)]
    evaluation = [native.forward(net, x, train=False) for _ in range(2)]
    assert not np.array_equal(*train)
    np.testing.assert_array_equal(*evaluation)
    before, after = native.fit(net, x, y, steps=5)
    assert after < 0.9 * before


def test_compiled_options_print_under_the_frameworks_names(name):
    e, native = EXPECT[name], NATIVE[name]
    spec = preset("vgg11_lrn_bn").scaled(16, head=True).with_options(input_size=32)
    net = get_backend(name).compile_network(lower(spec))
    first_block = [type(layer).__name__ for layer in native.children(native.children(net)[0])]
    assert first_block == [e.conv, e.batch_norm, "ReLU", "LocalResponseNorm", e.pool]
    assert _printed_children(net)[-3:] == ["ReLU", "Dropout", e.dense]
