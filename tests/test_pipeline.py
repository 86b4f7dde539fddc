"""Resizing (checked against Pillow on real images) and seeded batching."""

from __future__ import annotations

import numpy as np
import pytest

from d2lvgg.data import pipeline
from d2lvgg.data.fashion_mnist import SYSTEM_DIR, FashionMNIST, load_fashion_mnist
from d2lvgg.errors import DataError

EPS = 1e-6


@pytest.fixture(scope="module")
def real() -> FashionMNIST:
    if not SYSTEM_DIR.is_dir():
        pytest.skip(f"real Fashion-MNIST not installed at {SYSTEM_DIR} (Debian package dataset-fashion-mnist)")
    return load_fashion_mnist(SYSTEM_DIR, download=False)


@pytest.mark.parametrize("size", [224, 96, 32, 16, 7, 28])
def test_resize_matches_pillow(real, size):
    image_mod = pytest.importorskip("PIL.Image")
    images = real.test_images[::50]  # 200 real images, all classes
    ours = pipeline.resize_bilinear(images, size)
    assert ours.dtype == np.float32 and ours.shape == (len(images), size, size)
    pil = np.stack([np.asarray(image_mod.fromarray(im).resize((size, size), image_mod.BILINEAR)) for im in images])
    # Pillow rounds to uint8 after each pass, so it may be off by up to 1/255 from the exact value.
    assert np.abs(ours - pil / 255.0).max() <= 1 / 255 + EPS


# ------------------------------------------------------------------ resize


def test_resize_weights():
    for in_size, out_size in [(28, 224), (28, 7), (28, 16), (5, 3)]:
        w = pipeline.resize_weights(in_size, out_size)
        assert w.shape == (out_size, in_size) and w.dtype == np.float32
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
        assert (w >= 0).all() and not w.flags.writeable
    assert pipeline.resize_weights(28, 224) is pipeline.resize_weights(28, 224)
    # Shrinking widens the filter: 28 -> 7 averages over more than two input pixels.
    assert ((pipeline.resize_weights(28, 7) > 0).sum(axis=1) > 2).all()


@pytest.mark.parametrize("size", [1, 3, 7, 16, 28, 29, 64, 224])
@pytest.mark.parametrize("value", [0, 1, 77, 254, 255])
def test_resize_keeps_constant_images(size, value):
    images = np.full((2, 28, 28), value, dtype=np.uint8)
    out = pipeline.resize_bilinear(images, size)
    np.testing.assert_allclose(out, value / 255.0, atol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("size", [1, 5, 13, 28, 50, 224])
def test_resize_stays_in_input_range(size):
    rng = np.random.default_rng(size)
    images = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    images[1] = rng.choice([0, 255], (28, 28))  # hard edges
    out = pipeline.resize_bilinear(images, size)
    assert out.min() >= 0.0 and out.max() <= 1.0
    lo = images.min(axis=(1, 2)) / 255.0
    hi = images.max(axis=(1, 2)) / 255.0
    assert (out.min(axis=(1, 2)) >= lo - EPS).all() and (out.max(axis=(1, 2)) <= hi + EPS).all()


def test_resize_rejects_bad_input():
    with pytest.raises(DataError, match="resize"):
        pipeline.resize_bilinear(np.zeros((1, 28, 28), np.uint8), 0)
    with pytest.raises(DataError, match="shape"):
        pipeline.resize_bilinear(np.zeros((28, 28), np.uint8), 32)


# ------------------------------------------------------------------ batches


def tagged(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first pixel encodes their index; labels are the index itself."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) % 256
    return images, np.arange(n, dtype=np.int64)


def collect(images, labels, **kw):
    kw = {"batch_size": 16, "resize": 28, "shuffle": True, "seed": 3, "epoch": 0} | kw
    return list(pipeline.batches(images, labels, **kw))


def test_batches_shapes_and_partial_last_batch():
    images, labels = tagged(10_000)
    assert pipeline.num_batches(10_000, 128) == 79 and pipeline.num_batches(10_000, 100) == 100
    out = collect(images, labels, batch_size=128)
    assert len(out) == 79 and len(out[-1][1]) == 16
    x, y = out[0]
    assert x.shape == (128, 1, 28, 28) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (128,) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0, 0, 0], (y % 256).astype(np.float32) / np.float32(255))  # images follow labels


def test_batches_reproducible_and_epoch_dependent():
    images, labels = tagged(300)
    a = collect(images, labels, resize=32)
    b = collect(images, labels, resize=32)
    assert [x.tobytes() + y.tobytes() for x, y in a] == [x.tobytes() + y.tobytes() for x, y in b]
    order = np.concatenate([y for _, y in a])
    np.testing.assert_array_equal(order, np.random.default_rng([3, 0]).permutation(300))
    other = np.concatenate([y for _, y in collect(images, labels, epoch=1)])
    assert not np.array_equal(order, other)
    seed = np.concatenate([y for _, y in collect(images, labels, seed=4)])
    assert not np.array_equal(order, seed)
    for epoch in range(3):  # every index exactly once per epoch
        seen = np.concatenate([y for _, y in collect(images, labels, epoch=epoch, batch_size=7)])
        np.testing.assert_array_equal(np.sort(seen), np.arange(300))


def test_batches_natural_order_and_resize():
    images, labels = tagged(50)
    out = collect(images, labels, shuffle=False, resize=40, batch_size=20)
    np.testing.assert_array_equal(np.concatenate([y for _, y in out]), np.arange(50))
    np.testing.assert_array_equal(out[1][0][:, 0], pipeline.resize_bilinear(images[20:40], 40))


def test_batches_start_skips_exactly():
    images, labels = tagged(100)
    full = collect(images, labels, batch_size=8, epoch=5)
    for start in (0, 1, 7, 12, 13, 20):
        part = collect(images, labels, batch_size=8, epoch=5, start=start)
        assert len(part) == len(full[start:])
        for (x1, y1), (x2, y2) in zip(part, full[start:], strict=True):
            np.testing.assert_array_equal(y1, y2)
            np.testing.assert_array_equal(x1, x2)


@pytest.mark.parametrize(
    ("kw", "word"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -4}, "batch_size"),
        ({"resize": 0}, "resize"),
        ({"start": -1}, "start"),
    ],
)
def test_batches_validation(kw, word):
    images, labels = tagged(10)
    with pytest.raises(DataError, match=word):
        collect(images, labels, **kw)
    with pytest.raises(DataError, match="labels"):
        collect(images, labels[:5])
    with pytest.raises(DataError, match="batch_size"):
        pipeline.num_batches(10, 0)
