"""The textbook's training loop (d2l's ``train_ch6``), once, for every backend.

``train`` builds and initialises the network and makes a run folder; ``resume`` reopens one;
``fit`` is the loop: for each epoch, one ``runner.train_step`` per seeded batch (forward, loss,
backward, optimizer step) with the metrics accumulated, then the test accuracy, the log and a
checkpoint. The machinery (display, files, Ctrl-C) sits in ``session``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import language
from ..backends.base import Runner, node_rank
from ..data.fashion_mnist import load_fashion_mnist
from ..data.pipeline import epoch_batches
from ..errors import ConfigError, RunError
from ..model import ir
from ..model.initializers import initial_weights
from ..model.spec import VGGSpec
from .checkpoint import Checkpoint, epoch_seed, load_checkpoint
from .config import TrainConfig, learning_rate
from .finetune import starting_weights
from .metrics import EpochMetrics
from .report import RunResult
from .rundir import CHECKPOINT, CONFIG, EPOCHS, RESULT, STEPS, WEIGHTS, RunDir
from .session import Progress, Session
from .setup import (
    check_fits_fashion_mnist,
    check_shares,
    config_record,
    default_run_dir,
    load_config,
    make_runner,
)
from .threads import ThreadWatch, choose_threads, resumed_threads
from .weights import check_compatible, load_weights


def train(
    spec: VGGSpec,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    echo: bool = True,
) -> RunResult:
    """Train ``spec`` on Fashion-MNIST with ``config``; writes a run folder and returns the result."""
    config = config or TrainConfig()
    check_fits_fashion_mnist(spec)
    language.current()  # the plot's language and font, checked before the first epoch rather than after the last
    out = Path(out or default_run_dir(spec, config.backend))
    if node_rank() == 0:  # another node's processes never write the run folder: node 0's leader does
        RunDir.check_new(out, overwrite=overwrite)
    data = load_fashion_mnist(config.data_dir)  # fails on missing or damaged data before a run folder is made
    network = ir.lower(spec)
    runner = make_runner(network, config)
    check_shares(runner.world, config)
    if config.init != "framework":
        runner.load_state(initial_weights(network, config.init, config.seed))
    adapted: list[str] = []
    if config.weights:  # fine-tuning: the layers that do not fit keep the draw above
        start, adapted = starting_weights(config.weights, network, runner.state())
        runner.load_state(start)
    runner.set_optimizer(config.lr, config.momentum, config.weight_decay)
    run = RunDir(out)  # in a data-parallel world, only the leader writes the run folder
    if runner.world.leader:
        run = RunDir.create(out, overwrite=overwrite)
    session = Session(spec, config, run, runner, data, Progress())
    threads = choose_threads(runner, config.threads, next(session.train_batches(0)))
    session.threads = ThreadWatch(threads, runner.set_threads)
    if runner.world.leader:
        record = config_record(spec, config, runner) | {"adapted": adapted, "threads": threads.record()}
        run.write_json(CONFIG, record)
    session.show(progress=progress, echo=echo)
    for note in adapted:
        session.say(f"  from {config.weights}: {note}")
    return fit(session)


def resumable(path: str | Path, epochs: int | None = None) -> tuple[RunDir, VGGSpec, TrainConfig, Checkpoint]:
    """A run folder that ``resume`` can continue (to ``epochs``, if given), with its spec, config and checkpoint."""
    run = RunDir.open(path)
    spec, config = load_config(run)
    saved = load_checkpoint(run.path)
    if epochs is not None and epochs != config.epochs:
        config = _with_epochs(run, config, saved.epochs_done, epochs)
    if saved.epochs_done >= config.epochs and run.file(RESULT).exists():
        raise RunError(f"{run.path} already finished all {config.epochs} epochs; nothing to resume")
    return run, spec, config, saved


def _with_epochs(run: RunDir, config: TrainConfig, done: int, epochs: int) -> TrainConfig:
    """``config`` trained to ``epochs`` instead; refused where that would change the epochs already run."""
    if epochs < max(done, 1):
        raise ConfigError(f"{run.path} has already trained {done} epoch(s): --epochs must be at least {max(done, 1)}")
    if config.schedule != "constant":
        raise ConfigError(
            f"{run.path} uses a {config.schedule} schedule, whose learning rates depend on --epochs: "
            "resume it without --epochs, or start a new run"
        )
    return replace(config, epochs=epochs)


def resume(path: str | Path, *, epochs: int | None = None, progress: bool = True, echo: bool = True) -> RunResult:
    """Continue a run from its last finished epoch; the result equals an uninterrupted run's.

    ``epochs`` trains a run with a constant learning rate to another number of epochs. A run stopped
    after its last epoch, while writing its end files, gets them written.
    """
    run, spec, config, saved = resumable(path, epochs)
    network = ir.lower(spec)
    check_compatible(saved.weights, network, str(run.file(CHECKPOINT)))
    runner = make_runner(network, config)
    check_shares(runner.world, config)
    runner.load_state(saved.weights)
    runner.set_optimizer(config.lr, config.momentum, config.weight_decay)
    runner.load_optimizer_state(saved.optimizer)
    done = Progress(**saved.progress)
    if runner.world.leader:
        run.claim()  # no other process resumes or writes this folder meanwhile
        run.rewrite_rows(STEPS, done.steps)  # drop rows of the epoch that was cut short
        run.rewrite_rows(EPOCHS, done.epochs)
        run.write_json(CONFIG, run.read_json(CONFIG) | {"train": config.record()})  # --epochs, if given
    session = Session(spec, config, run, runner, load_fashion_mnist(config.data_dir), done)
    resumed_threads(runner, run.read_json(CONFIG).get("threads"), config.threads)
    session.show(progress=progress, echo=echo)
    return fit(session)


def fit(session: Session) -> RunResult:
    """The epochs still to run, as ``train_ch6`` runs them; a checkpoint after each one."""
    runner, config = session.runner, session.config
    with session.interruptible():
        for epoch in range(session.first_epoch, config.epochs):
            runner.start_epoch(epoch_seed(config.seed, epoch))  # this epoch's dropout masks
            runner.set_lr(learning_rate(config, epoch))
            metrics = EpochMetrics(epoch, session.steps_per_epoch)  # the book's Accumulator(3)
            for x, y in session.train_batches(epoch):
                tic = time.perf_counter()
                loss, correct = runner.train_step(x, y)  # forward, loss, backward, optimizer step
                metrics.add(loss, correct, len(y), time.perf_counter() - tic)
                if metrics.due():  # every few steps, not every step: one host sync for several
                    metrics.read(runner.fetch)
                    session.after_read(metrics)
            metrics.read(runner.fetch)
            test_acc = evaluate(runner, session.test_batches(), len(session.test_data[1]))
            session.end_epoch(metrics, test_acc)  # the CSVs, the plot, the epoch's line, a checkpoint
        return session.finish()


def evaluate(runner: Runner, batches: Iterable[tuple[Any, Any]], examples: int) -> float:
    """Test accuracy in evaluation mode over ``batches`` (one host sync), as the book's ``evaluate_accuracy_gpu``."""
    counts = [runner.evaluate(x, y)[1] for x, y in batches]
    return sum(runner.fetch(counts)) / examples


def evaluate_run(
    path: str | Path,
    *,
    backend: str | None = None,
    device: str | None = None,
    data_dir: str | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Re-score a run's saved weights on the test set, with the backend that trained them or another."""
    run = RunDir.open(path)
    spec, config = load_config(run)
    if backend and backend != config.backend:
        device = device or "auto"  # the training backend's device name may mean nothing to the other one
        config = config.for_backend(backend)
    config = replace(config, device=device or config.device, data_dir=data_dir or config.data_dir)
    check_fits_fashion_mnist(spec)
    network = ir.lower(spec)
    arrays = load_weights(run.file(WEIGHTS))
    check_compatible(arrays, network, str(run.file(WEIGHTS)))
    runner = make_runner(network, config)
    runner.load_state(arrays)
    data = load_fashion_mnist(config.data_dir)
    test = data.test_images[: config.test_limit], data.test_labels[: config.test_limit]
    order = epoch_batches(*test, batch_size=batch_size or config.batch_size, size=spec.input_size)
    acc = evaluate(runner, order, len(test[1]))
    where = {"run": str(run.path), "backend": config.backend, "device": runner.device_label}
    return where | {"test_acc": acc, "examples": len(test[1])}
