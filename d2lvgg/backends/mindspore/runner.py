"""The MindSpore runner: a compiled network on a device, trained with SGD and cross-entropy."""

from __future__ import annotations

import functools
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from ...data.pipeline import resize_bilinear
from ...model import ir
from ..base import RunnerBase, StateMapping
from ..cores import pinned_threads
from ..feed import DeviceFeed
from .device import configure, sigterm_as_interrupt
from .distributed import gradient_reducer, join_world, sum_over_world
from .dropout import DropoutMasks
from .network import compile_network

# Neutral (PyTorch) tensor names -> MindSpore's, for batch norm; all others are the same.
BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _ms_name(name: str, bn_layers: set[str]) -> str:
    layer, kind = name.rsplit(".", 1)
    return f"{layer}.{BN_NAMES[kind]}" if layer in bn_layers else name


def _batch_norm_layers(model: nn.Cell) -> set[str]:
    return {name for name, cell in model.cells_and_names() if isinstance(cell, nn.BatchNorm2d)}


def state_to_numpy(model: nn.Cell) -> dict[str, np.ndarray]:
    """The network's tensors under the neutral (PyTorch) names."""
    bn_layers = _batch_norm_layers(model)
    neutral_kind = {v: k for k, v in BN_NAMES.items()}
    arrays = {}
    for name, param in model.parameters_and_names():
        layer, kind = name.rsplit(".", 1)
        if kind == "mask":  # a dropout cell's per-step buffer, not part of the network's state
            continue
        neutral = f"{layer}.{neutral_kind[kind]}" if layer in bn_layers else name
        arrays[neutral] = param.asnumpy().copy()
    return arrays


def load_numpy_state(model: nn.Cell, arrays: dict[str, np.ndarray]) -> nn.Cell:
    """Copy neutral-named arrays into the network's parameters; the network."""
    params = dict(model.parameters_and_names())
    bn_layers = _batch_norm_layers(model)
    for name, value in arrays.items():
        params[_ms_name(name, bn_layers)].set_data(ms.Tensor(np.ascontiguousarray(value, np.float32)))
    return model


class _TrainStep(nn.Cell):
    """Forward, backward and update as one cell: compiled whole in graph mode, eager in PyNative.

    ``weight`` scales the loss before the gradients (1 in one process; see ``distributed.py``),
    whose average over a data-parallel world ``reducer`` takes.
    """

    def __init__(self, model: nn.Cell, loss: nn.Cell, optimizer: nn.Optimizer, reducer: nn.Cell | None) -> None:
        super().__init__()
        self.model, self.loss, self.optimizer, self.reducer = model, loss, optimizer, reducer
        self.grad_fn = ms.value_and_grad(self.forward, None, optimizer.parameters, has_aux=True)

    def forward(self, x, y, weight):
        logits = self.model(x)
        loss = self.loss(logits, y)
        return loss * weight, (loss, logits)

    def construct(self, x, y, weight):
        (_, (loss, logits)), grads = self.grad_fn(x, y, weight)
        if self.reducer is not None:
            grads = self.reducer(grads)
        self.optimizer(grads)
        return _metrics(loss, logits, y)


def _metrics(loss: ms.Tensor, logits: ms.Tensor, y: ms.Tensor) -> tuple[ms.Tensor, ms.Tensor]:
    """The batch's summed loss (from its mean) and its number of correct predictions, both float32."""
    return loss * y.shape[0], (logits.argmax(axis=1) == y).astype(ms.float32).sum()


class _Gather(nn.Cell):
    """A batch of the device's dataset, resized with the pipeline's matrices (``DeviceFeed``): one graph."""

    def __init__(self, resize: bool) -> None:
        super().__init__()
        self.resize = resize

    def construct(self, images, labels, indices, rows, cols):
        x = ops.gather(images, indices, 0).astype(ms.float32)
        x = ops.clamp(ops.matmul(rows, ops.matmul(x, cols)), 0.0, 1.0) if self.resize else x / 255.0
        return x.expand_dims(1), ops.gather(labels, indices, 0).astype(ms.int32)


def _host_batch(size, images, labels, indices, rows, cols):
    """A batch gathered and resized by the numpy pipeline, as MindSpore tensors: on a CPU the host is its device.

    ``rows`` and ``cols``, the feed's matrices, go unused: ``resize_bilinear`` is the pipeline's own resize."""
    x = resize_bilinear(images[indices], size)
    return ms.Tensor(x[:, None]), ms.Tensor(labels[indices].astype(np.int32))


class Runner(RunnerBase):
    """A compiled network with plain SGD and softmax cross-entropy: the textbook's recipe.

    In graph mode the whole training step (forward, backward, update) is one compiled graph.
    """

    weights = StateMapping(state_to_numpy, load_numpy_state)

    def __init__(
        self,
        network: ir.Sequential,
        *,
        device: str = "auto",
        seed: int = 0,
        device_data: bool = False,
        mode: str = "graph",
    ) -> None:
        target = configure(device, mode)
        sigterm_as_interrupt()
        self.device_label = f"{target.lower()} ({mode} mode)"
        self.on_host = target == "CPU"
        self.mode = mode
        # graph mode: the whole step as one compiled graph; device data: metrics read every few steps too
        self.fast = {"device_data": device_data, "graph_mode": mode == "graph", "lazy_metrics": device_data}
        self.world = join_world()
        ms.set_seed(seed)
        self.model = compile_network(network)
        self.loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        self._step: _TrainStep | None = None
        self.dropout = DropoutMasks(self.model, self.world, seed)  # before any graph is compiled

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> DeviceFeed | None:
        """The dataset in MindSpore's tensors, or ``None`` when the fast path's device data is off."""
        if not self.fast["device_data"]:
            return None
        if self.on_host:  # numpy's gather took 0.7 ms a batch, a graph's 4 ms, and its outputs slowed the step
            return DeviceFeed(images, labels, size, put=np.asarray, gather=functools.partial(_host_batch, size))
        gather = _Gather(resize=images.shape[1:] != (size, size))
        return DeviceFeed(images, labels, size, put=ms.Tensor, gather=gather)

    def fetch(self, values: list[Any]) -> list[float]:
        """The metrics as Python numbers (one read for the lot, where they are tensors), summed over the world."""
        if values and isinstance(values[0], ms.Tensor):
            values = ops.stack(values).asnumpy().tolist()
        values = [float(v) for v in values]
        return sum_over_world(values) if self.world.size > 1 and values else values

    def set_optimizer(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """SGD: plain by default (the book's), with momentum and weight decay for the lab recipe."""
        # One parameter group, so weight decay reaches every tensor as in PyTorch (MindSpore's default
        # filter would exempt batch norm's gamma and beta).
        group = [{"params": self.model.trainable_params(), "weight_decay": weight_decay}]
        self.optimizer = nn.SGD(group, learning_rate=lr, momentum=momentum)
        self._build_step()

    def set_threads(self, count: int) -> bool:
        """MindSpore sizes its kernel pool once, when it starts: to a pinned count, which it then computes on.

        Unpinned, in one process, the pool spans every core and the run computes on ``count`` of them (its
        threads' affinity, ``backends/cores.py``): beside a busy neighbour a step took 32 ms on one core and 94 ms
        on both, 19.5 ms alone (docs/speed.md).
        """
        if pinned_threads() is not None:
            return count == pinned_threads()
        return super().set_threads(count)

    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate.set_data(ms.Tensor(lr, ms.float32))

    def _build_step(self) -> None:
        self._step = _TrainStep(self.model, self.loss, self.optimizer, gradient_reducer(self.optimizer, self.world))

    def start_epoch(self, seed: int) -> None:
        """Restart the dropout masks' stream, so an epoch's masks depend on the epoch alone."""
        self.dropout.reseed(seed)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's own tensors (step count, learning rate, accumulators), not the weights."""
        weights = {id(p) for p in self.model.get_parameters()}
        return {n: p.asnumpy().copy() for n, p in self.optimizer.parameters_and_names() if id(p) not in weights}

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        params = dict(self.optimizer.parameters_and_names())
        for name, value in arrays.items():
            params[name].set_data(ms.Tensor(np.ascontiguousarray(value)))

    def _tensors(self, x: Any, y: Any) -> tuple[ms.Tensor, ms.Tensor]:
        """This process's rows of a global batch (all of them in one process), as tensors."""
        if self.world.size > 1:  # slicing a tensor is an operation: none in one process
            share = self.world.share(len(y))
            x, y = x[share], y[share]
        if isinstance(x, ms.Tensor):
            return x, y
        return ms.Tensor(x), ms.Tensor(y.astype(np.int32))

    def _read(self, metrics: tuple[ms.Tensor, ms.Tensor]) -> tuple[Any, Any]:
        """Metrics left as tensors on the fast path; read at once (the book's ``float()``) on the plain one."""
        return metrics if self.fast["lazy_metrics"] else (float(metrics[0].asnumpy()), int(metrics[1].asnumpy()))

    def train_step(self, x: Any, y: Any) -> tuple[Any, Any]:
        """One SGD step; the share's summed loss and its number of correct predictions."""
        assert self._step is not None, "call set_optimizer first"
        self.model.set_train(True)
        self.dropout.draw(len(y))
        xs, ys = self._tensors(x, y)
        weight = ms.Tensor(len(ys) * self.world.size / len(y), ms.float32)
        return self._read(self._step(xs, ys, weight))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits in evaluation mode."""
        self.model.set_train(False)
        return self.model(ms.Tensor(x)).asnumpy()

    def evaluate(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Summed loss and correct predictions of one batch in evaluation mode."""
        self.model.set_train(False)
        xs, ys = self._tensors(x, y)
        logits = self.model(xs)
        return self._read(_metrics(self.loss(logits, ys), logits, ys))
