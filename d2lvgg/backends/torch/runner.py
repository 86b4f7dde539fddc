"""The PyTorch runner: a compiled network on a device, trained with SGD and cross-entropy."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ...model import ir
from ..base import RunnerBase, StateMapping
from ..feed import DeviceFeed
from .device import device_label, resolve_device
from .distributed import join_world, local_device, share_dropout, sum_over_world
from .network import compile_network


def state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's tensors under the neutral names (batch norm's step counter left out)."""
    return {
        name: tensor.detach().cpu().numpy().copy()
        for name, tensor in model.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }


def load_numpy_state(model: nn.Module, arrays: dict[str, np.ndarray]) -> nn.Module:
    """Copy neutral-named arrays into the model, in place, on whatever device it lives; the model."""
    state = model.state_dict()
    with torch.no_grad():
        for name, value in arrays.items():
            state[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return model


class Runner(RunnerBase):
    """A compiled network on a device with plain SGD and cross-entropy: the textbook's recipe.

    The fast path (each part can be switched off): the dataset held on the device, channels-last
    memory, metrics kept on the device between reads, and on a GPU bfloat16 autocast and
    ``torch.compile``. ``fast`` records what is on. Started by ``torchrun``, it trains its share of
    each batch inside ``DistributedDataParallel`` (``distributed.py``).
    """

    weights = StateMapping(state_to_numpy, load_numpy_state)

    def __init__(
        self,
        network: ir.Sequential,
        *,
        device: str = "auto",
        seed: int = 0,
        device_data: bool = False,
        channels_last: bool = False,
        amp: str = "off",
        compile: str = "off",
    ) -> None:
        torch.manual_seed(seed)  # framework-default init and dropout masks
        self.device = local_device(resolve_device(device))
        self.device_label = device_label(self.device)
        self.world = join_world(self.device)
        self.model = compile_network(network).to(self.device)
        on_gpu = self.device.type == "cuda"
        self.fast = {
            "device_data": device_data,
            "channels_last": channels_last,
            "amp": _on(amp, auto=on_gpu and torch.cuda.is_bf16_supported()),
            "compile": _on(compile, auto=on_gpu),
            "lazy_metrics": device_data,
        }
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward, self.dropouts = self.model, []
        if self.world.size > 1:
            self.dropouts = share_dropout(self.model, self.world)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.forward = torch.compile(self.forward) if self.fast["compile"] else self.forward
        self.loss = nn.CrossEntropyLoss()
        self.optimizer: torch.optim.Optimizer | None = None
        if on_gpu:
            torch.backends.cudnn.benchmark = True

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.fast["channels_last"] else x

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> DeviceFeed | None:
        """The dataset on the device, or ``None`` when the fast path's device data is off."""
        if not self.fast["device_data"]:
            return None
        return DeviceFeed(images, labels, size, put=lambda a: torch.from_numpy(a).to(self.device), gather=self._gather)

    def _gather(self, images, labels, indices, rows, cols) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of the device's dataset, resized with the pipeline's matrices (``DeviceFeed``)."""
        x = images[indices].float()
        x = torch.matmul(rows, torch.matmul(x, cols)).clamp_(0.0, 1.0) if rows is not None else x / 255.0
        return self.layout(x.unsqueeze(1)), labels[indices]

    def set_optimizer(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """SGD: plain by default (the book's), with momentum and weight decay for the lab recipe."""
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=True
        )

    def _sgd(self) -> torch.optim.Optimizer:
        if self.optimizer is None:
            raise RuntimeError("call set_optimizer before training")
        return self.optimizer

    def set_lr(self, lr: float) -> None:
        for group in self._sgd().param_groups:
            group["lr"] = lr

    def start_epoch(self, seed: int) -> None:
        """Reseed dropout, so an epoch's masks depend on the epoch alone (exact resume)."""
        torch.manual_seed(seed)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's tensors (plain SGD keeps none; momentum buffers if there were)."""
        state = {"lr": np.array(self._sgd().param_groups[0]["lr"], dtype=np.float64)}
        for i, param in enumerate(self.model.parameters()):
            buffer = self._sgd().state.get(param, {}).get("momentum_buffer")
            if buffer is not None:
                state[f"momentum_buffer.{i}"] = buffer.detach().cpu().numpy().copy()
        return state

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        params = list(self.model.parameters())
        for name, value in arrays.items():
            if name.startswith("momentum_buffer."):
                buffer = torch.from_numpy(np.ascontiguousarray(value)).to(self.device)
                self._sgd().state[params[int(name.split(".")[1])]]["momentum_buffer"] = buffer

    def _tensors(self, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch on the device; in a world of several, this process's share of it."""
        if self.world.size > 1:
            share = self.world.share(len(y))
            x, y = x[share], y[share]
        if isinstance(x, np.ndarray):
            x, y = self.layout(torch.from_numpy(x).to(self.device)), torch.from_numpy(y).to(self.device)
        return x, y

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.fast["amp"])

    def train_step(self, x: Any, y: Any) -> tuple[Any, Any]:
        """One SGD step; the batch's summed loss and correct predictions (device tensors when lazy)."""
        optimizer = self._sgd()
        self.model.train()
        xs, ys = self._tensors(x, y)
        optimizer.zero_grad(set_to_none=True)
        for layer in self.dropouts:
            layer.batch = len(y)
        with self._autocast():
            logits = self.forward(xs)
            loss = self.loss(logits.float(), ys)
        # DDP averages the processes' gradients; weighing each share's mean by its size makes that
        # the global batch's mean gradient (in one process the weight is exactly 1).
        (loss * (len(ys) * self.world.size / len(y))).backward()
        optimizer.step()
        loss_sum, correct = loss.detach() * len(ys), (logits.argmax(dim=1) == ys).sum()
        return (loss_sum, correct) if self.fast["lazy_metrics"] else (float(loss_sum), int(correct))

    def fetch(self, values: list[Any]) -> list[float]:
        """Metrics as Python numbers, with one host sync for the lot, summed over the world."""
        if self.world.size > 1:
            totals = torch.stack([torch.as_tensor(v, device=self.device).double() for v in values])
            return sum_over_world(totals).cpu().tolist()
        if values and isinstance(values[0], torch.Tensor):
            return torch.stack(values).float().cpu().tolist()
        return [float(v) for v in values]

    def set_threads(self, count: int) -> bool:
        """PyTorch's intra-op pool takes a new size between steps."""
        torch.set_num_threads(count)
        return True

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits in evaluation mode (float32, whatever the training precision)."""
        self.model.eval()
        with torch.no_grad(), self._autocast():
            return self.model(self.layout(torch.from_numpy(x).to(self.device))).float().cpu().numpy()

    def evaluate(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Summed loss and correct predictions of one batch in evaluation mode."""
        self.model.eval()
        xs, ys = self._tensors(x, y)
        with torch.no_grad(), self._autocast():
            logits = self.model(xs).float()
            loss = self.loss(logits, ys)
        loss_sum, correct = loss * len(ys), (logits.argmax(dim=1) == ys).sum()
        return (loss_sum, correct) if self.fast["lazy_metrics"] else (float(loss_sum), int(correct))


def _on(value: str, *, auto: bool) -> bool:
    """An ``auto``/``on``/``off`` option (checked by its declaration) as a yes or no."""
    return auto if value == "auto" else value == "on"
