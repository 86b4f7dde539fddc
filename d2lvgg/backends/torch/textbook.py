"""The textbook's PyTorch training loop, rebuilt faithfully for ``d2lvgg bench`` to measure against.

d2l's ``train_ch6`` over its Fashion-MNIST loader: ``DataLoader`` worker processes resize every
image with Pillow and make it a float tensor one sample at a time; eager float32; plain SGD;
and the metrics are summed on the host after every step (a device sync per step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data.fashion_mnist import load_fashion_mnist
from ...model import ir
from ...model.spec import VGGSpec
from .device import device_label, resolve_device
from .network import compile_network


class PillowFashionMNIST(torch.utils.data.Dataset):
    """One image at a time, as torchvision's ``Resize`` then ``ToTensor`` prepare it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int) -> None:
        self.images, self.labels, self.size = images, labels, size

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        image = Image.fromarray(self.images[i])
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        return torch.from_numpy(pixels)[None], int(self.labels[i])


def textbook_loop(
    spec: VGGSpec, device: str, batch_size: int, workers: int, data_dir: str | None
) -> tuple[Any, Callable[[Any, Any], None], str]:
    """The loader, one training step as the book writes it, and the device's label."""
    data = load_fashion_mnist(data_dir)
    dataset = PillowFashionMNIST(data.train_images, data.train_labels, spec.input_size)
    # As d2l's load_data_fashion_mnist: the workers start anew with every pass over the data.
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    where = resolve_device(device)
    net = compile_network(ir.lower(spec)).to(where)
    for module in net.modules():  # the book's init_weights
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    metric = np.zeros(3)  # the book's Accumulator: summed loss, correct predictions, examples

    def step(X: torch.Tensor, y: torch.Tensor) -> None:
        net.train()
        optimizer.zero_grad()
        X, y = X.to(where), y.to(where)
        y_hat = net(X)
        loss = loss_fn(y_hat, y)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # float(): a host sync after every step
            metric[:] += (float(loss * X.shape[0]), float((y_hat.argmax(axis=1) == y).sum()), X.shape[0])

    return loader, step, device_label(where)
