"""PyTorch's own minimal training step, for the benchmark's yardstick: what d2lvgg's step is compared with.

Only PyTorch here (its layers, ``torch.optim.SGD``, ``nn.CrossEntropyLoss``, eager), on one batch
already in its tensors: no data pipeline, no metrics, nothing of d2lvgg's but the network's layers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...model import ir
from ..base import OwnStep
from .device import device_label, resolve_device
from .network import compile_network


def minimal_step(network: ir.Sequential, x: np.ndarray, y: np.ndarray, device: str) -> OwnStep:
    """``step()`` trains once on the batch and returns its loss; ``read(loss)`` waits for it."""
    target = torch.device(resolve_device(device))
    net = compile_network(network).to(target)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    images, labels = torch.from_numpy(x).to(target), torch.from_numpy(y).to(target)

    def step() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(net(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    return OwnStep(step, lambda loss: float(loss.detach()), device_label(target))
