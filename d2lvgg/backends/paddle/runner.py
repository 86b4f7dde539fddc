"""The PaddlePaddle runner: a compiled network on a device, trained with SGD and cross-entropy.

PaddlePaddle stores a ``Linear`` weight as (in, out), the transpose of the neutral (PyTorch)
layout, and names batch norm's statistics ``_mean`` and ``_variance``; the state functions here
translate both ways.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import paddle
from paddle import nn

from ...model import ir
from ..base import RunnerBase, StateMapping
from ..feed import DeviceFeed
from .device import resolve_device
from .distributed import join_world, share_dropout, sum_gradients, sum_over_world
from .network import compile_network
from .optimizer_buffers import load_buffers, save_buffers

# Neutral (PyTorch) tensor names -> PaddlePaddle's, for batch norm's statistics; all others are the same.
BN_NAMES = {"running_mean": "_mean", "running_var": "_variance"}


def _linear_weights(model: nn.Layer) -> set[str]:
    return {f"{name}.weight" for name, layer in model.named_sublayers() if isinstance(layer, nn.Linear)}


def state_to_numpy(model: nn.Layer) -> dict[str, np.ndarray]:
    """The network's tensors under the neutral names, dense weights as (out, in)."""
    neutral = {v: k for k, v in BN_NAMES.items()}
    linear = _linear_weights(model)
    arrays = {}
    for name, tensor in model.state_dict().items():
        layer, kind = name.rsplit(".", 1)
        value = tensor.numpy().copy()
        arrays[f"{layer}.{neutral.get(kind, kind)}"] = value.T.copy() if name in linear else value
    return arrays


def load_numpy_state(model: nn.Layer, arrays: dict[str, np.ndarray]) -> nn.Layer:
    """Copy neutral-named arrays into the network, in place; the network."""
    state = model.state_dict()
    linear = _linear_weights(model)
    for name, value in arrays.items():
        layer, kind = name.rsplit(".", 1)
        own = f"{layer}.{BN_NAMES.get(kind, kind)}"
        value = np.ascontiguousarray(value.T if own in linear else value, dtype=np.float32)
        state[own].set_value(value)
    return model


def _gather(images, labels, indices, rows, cols) -> tuple[paddle.Tensor, paddle.Tensor]:
    """A batch of the device's dataset, resized with the pipeline's matrices (``DeviceFeed``)."""
    x = paddle.gather(images, indices).astype("float32")
    x = paddle.clip(paddle.matmul(rows, paddle.matmul(x, cols)), 0.0, 1.0) if rows is not None else x / 255.0
    return x.unsqueeze(1), paddle.gather(labels, indices)


class Runner(RunnerBase):
    """A compiled network with plain SGD and cross-entropy, in PaddlePaddle's dynamic graph.

    ``to_static`` turns the network's forward pass into a static graph (``paddle.jit.to_static``);
    the loss, backward pass and update stay eager. Started by ``paddle.distributed.launch``, it trains
    its share of each batch and sums the gradients over the world (``distributed.py``).
    """

    weights = StateMapping(state_to_numpy, load_numpy_state)

    def __init__(
        self,
        network: ir.Sequential,
        *,
        device: str = "auto",
        seed: int = 0,
        device_data: bool = False,
        to_static: bool = False,
    ) -> None:
        self.device_label = resolve_device(device)
        paddle.set_device(self.device_label)
        self.fast = {"device_data": device_data, "to_static": to_static, "lazy_metrics": device_data}
        self.world = join_world()
        paddle.seed(seed)  # framework-default init and dropout masks
        self.model = compile_network(network)
        self.dropouts = share_dropout(self.model, self.world) if self.world.size > 1 else []
        if to_static:
            self.model = paddle.jit.to_static(self.model, full_graph=True)
        self.loss = nn.CrossEntropyLoss()
        self.optimizer: paddle.optimizer.Optimizer | None = None

    def set_optimizer(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """SGD: plain by default (the book's), with momentum and weight decay for the lab recipe."""
        decay = paddle.regularizer.L2Decay(weight_decay) if weight_decay else None
        params = self.model.parameters()
        if momentum:
            self.optimizer = paddle.optimizer.Momentum(lr, momentum, parameters=params, weight_decay=decay)
        else:
            self.optimizer = paddle.optimizer.SGD(lr, parameters=params, weight_decay=decay)

    def _sgd(self) -> paddle.optimizer.Optimizer:
        if self.optimizer is None:
            raise RuntimeError("call set_optimizer before training")
        return self.optimizer

    def set_lr(self, lr: float) -> None:
        self._sgd().set_lr(lr)

    def start_epoch(self, seed: int) -> None:
        """Reseed dropout, so an epoch's masks depend on the epoch alone (exact resume)."""
        paddle.seed(seed)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The learning rate and the momentum buffers, if any."""
        state = {"lr": np.array(self._sgd().get_lr(), dtype=np.float64)}
        return state | save_buffers(self._sgd(), self.model.parameters())

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        buffers = {k: v for k, v in arrays.items() if k != "lr"}
        load_buffers(self._sgd(), self.model.parameters(), buffers)

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> DeviceFeed | None:
        """The dataset in PaddlePaddle's tensors, or ``None`` when the fast path's device data is off."""
        return (
            DeviceFeed(images, labels, size, put=paddle.to_tensor, gather=_gather) if self.fast["device_data"] else None
        )

    def _tensors(self, x: Any, y: Any) -> tuple[paddle.Tensor, paddle.Tensor]:
        """A batch as tensors; in a world of several, this process's share of it."""
        if self.world.size > 1:  # slicing a tensor is an operation: none in one process
            share = self.world.share(len(y))
            x, y = x[share], y[share]
        if isinstance(x, paddle.Tensor):
            return x, y
        return paddle.to_tensor(x), paddle.to_tensor(np.asarray(y, dtype=np.int64))

    def _metrics(self, loss: paddle.Tensor, logits: paddle.Tensor, y: paddle.Tensor) -> tuple[Any, Any]:
        """The summed loss and correct predictions: float32 tensors on the fast path, read at once on the plain one."""
        loss_sum, correct = loss.detach() * len(y), (logits.argmax(axis=1) == y).astype("float32").sum()
        return (loss_sum, correct) if self.fast["lazy_metrics"] else (float(loss_sum), int(correct))

    def train_step(self, x: Any, y: Any) -> tuple[Any, Any]:
        """One SGD step; the share's summed loss and its number of correct predictions."""
        optimizer = self._sgd()
        self.model.train()
        xs, ys = self._tensors(x, y)
        for layer in self.dropouts:
            layer.batch = len(y)
        logits = self.model(xs)
        loss = self.loss(logits, ys)
        # Each share's mean weighted by its part of the batch: summed over the world, the global mean.
        (loss * (len(ys) / len(y))).backward()
        if self.world.size > 1:
            sum_gradients(self.model.parameters())
        optimizer.step()
        optimizer.clear_grad()
        return self._metrics(loss, logits, ys)

    def fetch(self, values: list[Any]) -> list[float]:
        """The metrics as Python numbers (one read for the lot, where they are tensors), summed over the world."""
        if values and isinstance(values[0], paddle.Tensor):
            values = paddle.stack(values).numpy().tolist()
        values = [float(v) for v in values]
        return sum_over_world(values) if self.world.size > 1 and values else values

    def set_threads(self, count: int) -> bool:
        """PaddlePaddle's CPU kernels take a new thread count between steps (its own OMP_NUM_THREADS=1 aside)."""
        paddle.base.core.set_num_threads(count)
        return True

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits in evaluation mode."""
        self.model.eval()
        with paddle.no_grad():
            return self.model(paddle.to_tensor(x)).numpy()

    def evaluate(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Summed loss and correct predictions of one batch (this process's share) in evaluation mode."""
        self.model.eval()
        xs, ys = self._tensors(x, y)
        with paddle.no_grad():
            logits = self.model(xs)
            return self._metrics(self.loss(logits, ys), logits, ys)
