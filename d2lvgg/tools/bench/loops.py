"""The loops the benchmark times: d2lvgg's and the textbook's on the backend's runner, and the framework's own.

d2lvgg's is the trainer's: ``training.loop.fit``'s step loop with the backend's options (the fast
path), its thread count chosen as ``d2lvgg train`` chooses it, and metrics read every few steps.
The textbook's is the edition's ``train_ch6`` (the backend's ``textbook_loop``) over its
Fashion-MNIST loader: worker processes resize every image with Pillow and make it a float array
one sample at a time, the network runs the plain path (float32, plain SGD, data fed from the
host) on the framework's own threads, and the metrics are read after every step, as the book's
``float()`` does. The framework's own (``bench --frameworks``) is a minimal step written in that
framework alone, on one batch already in its tensors: the best the framework does by itself.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import Any, NamedTuple

import numpy as np

from ...backends import get_backend, options, resolve_options
from ...backends.base import Runner
from ...data.fashion_mnist import load_fashion_mnist
from ...data.pipeline import epoch_batches, num_batches
from ...model import ir
from ...model.initializers import initial_weights
from ...model.spec import VGGSpec
from ...training.metrics import EpochMetrics
from ...training.threads import ThreadChoice, ThreadWatch, choose_threads

Batches = Callable[[int], Iterator[tuple[Any, Any]]]  # epoch -> that epoch's batches
Steps = Callable[[Iterator[tuple[Any, Any]]], float]  # trains on batches, returns seconds inside steps
BOOK = ThreadChoice(None, "the framework's own, as the book leaves it")


class Loop(NamedTuple):
    """What the benchmark times: an epoch's batches, the steps over them, what ran them, and on how many threads."""

    batches: Batches
    steps: Steps
    runner: Runner | Yardstick
    threads: Callable[[], ThreadChoice] = lambda: BOOK  # the count it computes on now, and why


def _runner(spec: VGGSpec, backend: str, device: str, chosen: dict[str, Any]) -> Runner:
    """A runner with the book's initialisation (Xavier) and optimizer (SGD, lr 0.05)."""
    network = ir.lower(spec)
    runner = get_backend(backend).make_runner(network, device=device, seed=0, options=chosen)
    runner.load_state(initial_weights(network, "xavier", 0))
    runner.set_optimizer(0.05)
    return runner


def d2lvgg_loop(spec: VGGSpec, config: Any) -> Loop:
    """The trainer's step loop on the configured options (the fast path by default), its threads probed and
    followed as ``d2lvgg train`` does."""
    runner = _runner(spec, config.backend, config.device, resolve_options(config.backend, config.fast))
    data = load_fashion_mnist(config.data_dir)
    train = data.train_images, data.train_labels
    feed = runner.data(*train, spec.input_size)
    per_epoch = num_batches(len(train[1]), config.batch_size)

    def batches(epoch: int) -> Iterator[tuple[Any, Any]]:
        runner.start_epoch(epoch)
        return epoch_batches(
            *train, batch_size=config.batch_size, size=spec.input_size, shuffle=True, epoch=epoch, feed=feed
        )

    watch = ThreadWatch(choose_threads(runner, None, next(batches(0))), runner.set_threads)

    def steps(chosen: Iterator[tuple[Any, Any]]) -> float:
        metrics = EpochMetrics(0, per_epoch)
        for x, y in chosen:  # loop.fit's step loop, less the display
            tic = time.perf_counter()
            metrics.add(*runner.train_step(x, y), len(y), time.perf_counter() - tic)
            if metrics.due():
                metrics.read(runner.fetch)
                watch.after_steps(*metrics.last_stretch)
        metrics.read(runner.fetch)
        return metrics.seconds

    return Loop(batches, steps, runner, lambda: watch.choice)


@dataclass(frozen=True)
class Yardstick:
    """What the benchmark reads of a loop without a runner: where it ran and that nothing of d2lvgg's was on."""

    device_label: str
    fast: dict[str, bool] = field(default_factory=dict)


def own_loop(spec: VGGSpec, config: Any) -> Loop:
    """The framework's own minimal step (``backends/<name>/minimal.py``) on the first real batch, again and again.

    No pipeline and no metrics: the yardstick d2lvgg's step is held to. An epoch is as many steps
    as d2lvgg's loop takes, each counted as a full batch.
    """
    data = load_fashion_mnist(config.data_dir)
    train = data.train_images, data.train_labels
    x, y = next(epoch_batches(*train, batch_size=config.batch_size, size=spec.input_size))
    own = get_backend(config.backend).minimal_step(ir.lower(spec), x, y, config.device)
    per_epoch = num_batches(len(train[1]), config.batch_size)

    def batches(epoch: int) -> Iterator[tuple[Any, Any]]:
        return repeat((x, y), per_epoch)  # only their count is used: the step holds its batch

    def steps(chosen: Iterator[tuple[Any, Any]]) -> float:
        tic, loss = time.perf_counter(), None
        for _ in chosen:
            loss = own.step()
        if loss is not None:
            own.read(loss)  # the steps queued on the device are done
        return time.perf_counter() - tic

    return Loop(batches, steps, Yardstick(own.device_label))


def textbook_loop(spec: VGGSpec, config: Any) -> Loop:
    """The book's loop: Pillow in worker processes, the plain path, a host sync after every step."""
    plain = {o.name: o.plain for o in options(config.backend) if o.plain is not None}
    runner = _runner(spec, config.backend, config.device, resolve_options(config.backend, plain))
    data = load_fashion_mnist(config.data_dir)
    metric = np.zeros(3)  # the book's Accumulator: summed loss, correct predictions, examples

    def batches(epoch: int) -> Iterator[tuple[Any, Any]]:
        loader = PillowLoader(data.train_images, data.train_labels, spec.input_size, config.workers)
        return loader.batches(config.batch_size, seed=epoch)

    def steps(chosen: Iterator[tuple[Any, Any]]) -> float:
        seconds = 0.0
        for x, y in chosen:
            tic = time.perf_counter()
            loss, correct = runner.fetch(list(runner.train_step(x, y)))  # float(): a host sync every step
            seconds += time.perf_counter() - tic
            metric[:] += (loss, correct, len(y))
        return seconds

    return Loop(batches, steps, runner)


class PillowLoader:
    """d2l's ``load_data_fashion_mnist`` loader: ``Resize`` then ``ToTensor``, one image at a time.

    Like a ``DataLoader`` with ``num_workers`` workers, the workers start with every pass over
    the data, each makes whole batches, and at most two batches per worker are in flight.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int, workers: int) -> None:
        self.images, self.labels, self.size, self.workers = images, labels, size, workers

    def batches(self, batch_size: int, *, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = np.random.default_rng(seed).permutation(len(self.labels))
        chunks = (order[i : i + batch_size] for i in range(0, len(order), batch_size))
        if self.workers == 0:
            for chunk in chunks:
                yield _pillow_batch(self.images, self.labels, self.size, chunk)
            return
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        shared = (self.images, self.labels, self.size)
        with context.Pool(self.workers, initializer=_keep, initargs=shared) as pool:
            queued = deque(pool.apply_async(_worker_batch, (chunk,)) for chunk in islice(chunks, 2 * self.workers))
            while queued:
                batch = queued.popleft().get()
                queued.extend(pool.apply_async(_worker_batch, (chunk,)) for chunk in islice(chunks, 1))
                yield batch


def _pillow_batch(
    images: np.ndarray, labels: np.ndarray, size: int, chunk: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    pixels = []
    for i in chunk:
        image = Image.fromarray(images[i])
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        pixels.append(np.asarray(image, dtype=np.float32)[None] / 255.0)
    return np.stack(pixels), labels[chunk].astype(np.int64)


_WORKER: tuple[np.ndarray, np.ndarray, int] | None = None


def _keep(images: np.ndarray, labels: np.ndarray, size: int) -> None:
    """A worker's data; SIGTERM (how the pool ends its workers) ends it silently, whatever the runner set."""
    global _WORKER
    _WORKER = (images, labels, size)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_batch(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert _WORKER is not None
    return _pillow_batch(*_WORKER, chunk)
