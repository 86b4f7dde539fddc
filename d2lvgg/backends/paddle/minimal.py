"""PaddlePaddle's own minimal training step, for the benchmark's yardstick: what d2lvgg's step is compared with.

Only PaddlePaddle here (the network's layers, ``paddle.optimizer.SGD``, ``nn.CrossEntropyLoss``,
its dynamic graph), on one batch already in its tensors.
"""

from __future__ import annotations

import numpy as np
import paddle
from paddle import nn

from ...model import ir
from ..base import OwnStep
from .device import resolve_device
from .network import compile_network


def minimal_step(network: ir.Sequential, x: np.ndarray, y: np.ndarray, device: str) -> OwnStep:
    """``step()`` trains once on the batch and returns its loss; ``read(loss)`` waits for it."""
    label = resolve_device(device)
    paddle.set_device(label)
    net = compile_network(network)
    net.train()
    optimizer = paddle.optimizer.SGD(learning_rate=0.05, parameters=net.parameters())
    loss_fn = nn.CrossEntropyLoss()
    images, labels = paddle.to_tensor(x), paddle.to_tensor(y.astype(np.int64))

    def step() -> paddle.Tensor:
        loss = loss_fn(net(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        return loss

    return OwnStep(step, lambda loss: float(loss), label)
