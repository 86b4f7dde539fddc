"""MindSpore's own minimal training step, for the benchmark's yardstick: what d2lvgg's step is compared with.

Only MindSpore here, as its tutorials write a step (``nn.WithLossCell`` in ``nn.TrainOneStepCell``
with ``nn.SGD``, graph mode), on one batch already in its tensors. The environment d2lvgg sets
before MindSpore loads (its CPU ISA cap) applies, since the benchmark loads it through d2lvgg.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn

from ...model import ir
from ..base import OwnStep
from .device import resolve_device
from .network import compile_network


def minimal_step(network: ir.Sequential, x: np.ndarray, y: np.ndarray, device: str) -> OwnStep:
    """``step()`` trains once on the batch and returns its loss; ``read(loss)`` waits for it."""
    target = resolve_device(device)
    ms.set_context(mode=ms.GRAPH_MODE)
    if ms.get_context("device_target") != target:  # a process's device is fixed once MindSpore's runtime has started
        ms.set_device(target)
    net = compile_network(network)
    loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    train = nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), nn.SGD(net.trainable_params(), learning_rate=0.05))
    train.set_train()
    images, labels = ms.Tensor(x), ms.Tensor(y.astype(np.int32))
    return OwnStep(lambda: train(images, labels), lambda loss: float(loss.asnumpy()), f"{target.lower()} (graph mode)")
