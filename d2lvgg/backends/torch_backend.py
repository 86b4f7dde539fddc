"""PyTorch backend: the layer IR as ``nn.Sequential``, and the verbs the trainer needs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import ir
from ..errors import DeviceError

NAME = "torch"
DEVICES = "auto, cpu, cuda, cuda:N or mps"


def version() -> str:
    return f"torch {torch.__version__}"


def _conv(op: ir.Conv2d) -> nn.Module:
    return nn.Conv2d(
        op.in_channels, op.out_channels, op.kernel_size, stride=op.stride, padding=op.padding, bias=op.bias
    )


LAYERS = {
    ir.Conv2d: _conv,
    ir.ReLU: lambda op: nn.ReLU(),
    ir.MaxPool2d: lambda op: nn.MaxPool2d(op.kernel_size, stride=op.stride),
    ir.Flatten: lambda op: nn.Flatten(),
    ir.Linear: lambda op: nn.Linear(op.in_features, op.out_features, bias=op.bias),
    ir.Dropout: lambda op: nn.Dropout(p=op.p),
    ir.BatchNorm2d: lambda op: nn.BatchNorm2d(op.num_features, eps=op.eps, momentum=op.momentum),
    ir.LocalResponseNorm: lambda op: nn.LocalResponseNorm(op.size, alpha=op.alpha, beta=op.beta, k=op.k),
}


def compile_network(node: ir.Node) -> nn.Module:
    """One ``nn.Sequential`` per IR container, one framework layer per IR op."""
    if isinstance(node, ir.Sequential):
        return nn.Sequential(*(compile_network(child) for child in node.children))
    return LAYERS[type(node)](node)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r} for the torch backend: use {DEVICES}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but this PyTorch sees no CUDA GPU: use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' asked for, but Apple's MPS is not available here: use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r} for the torch backend: use {DEVICES}")
    return device


def device_label(device: torch.device) -> str:
    """The textbook's spelling: ``cuda:0``, ``cpu``."""
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return str(device)


def state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's tensors under the neutral names (batch norm's step counter left out)."""
    return {
        name: tensor.detach().cpu().numpy().copy()
        for name, tensor in model.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }


def load_numpy_state(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Copy neutral-named arrays into the model, in place, on whatever device it lives."""
    state = model.state_dict()
    with torch.no_grad():
        for name, value in arrays.items():
            state[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))


def output_shapes(model: nn.Module, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every layer's and block's output for a zero batch of ``shape``, keyed by index path."""
    shapes: dict[str, tuple[int, ...]] = {}

    def walk(container: nn.Sequential, x: torch.Tensor, prefix: str) -> torch.Tensor:
        for i, child in enumerate(container):
            name = f"{prefix}{i}"
            x = walk(child, x, f"{name}.") if isinstance(child, nn.Sequential) else child(x)
            shapes[name] = tuple(x.shape)
        return x

    model.eval()
    with torch.no_grad():
        walk(model, torch.zeros(shape), "")
    return shapes


def disable_reduced_precision() -> None:
    """Full float32 everywhere (no TF32 matmuls or convolutions), for parity checks."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Runner:
    """A compiled network on a device with plain SGD and cross-entropy: the textbook's recipe."""

    def __init__(self, network: ir.Sequential, *, device: str = "auto", seed: int = 0) -> None:
        torch.manual_seed(seed)  # framework-default init and dropout masks
        self.device = resolve_device(device)
        self.device_label = device_label(self.device)
        self.model = compile_network(network).to(self.device)
        self.loss = nn.CrossEntropyLoss()
        self.optimizer: torch.optim.Optimizer | None = None
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        load_numpy_state(self.model, arrays)

    def state(self) -> dict[str, np.ndarray]:
        return state_to_numpy(self.model)

    def set_optimizer(self, lr: float) -> None:
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.0, weight_decay=0.0)

    def start_epoch(self, seed: int) -> None:
        """Reseed dropout, so an epoch's masks depend on the epoch alone (exact resume)."""
        torch.manual_seed(seed)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's tensors (plain SGD keeps none; momentum buffers if there were)."""
        state = {"lr": np.array(self.optimizer.param_groups[0]["lr"], dtype=np.float64)}
        for i, param in enumerate(self.model.parameters()):
            buffer = self.optimizer.state.get(param, {}).get("momentum_buffer")
            if buffer is not None:
                state[f"momentum_buffer.{i}"] = buffer.detach().cpu().numpy().copy()
        return state

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        params = list(self.model.parameters())
        for name, value in arrays.items():
            if name.startswith("momentum_buffer."):
                buffer = torch.from_numpy(np.ascontiguousarray(value)).to(self.device)
                self.optimizer.state[params[int(name.split(".")[1])]]["momentum_buffer"] = buffer

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """One SGD step; returns the batch's summed loss and its number of correct predictions."""
        assert self.optimizer is not None, "call set_optimizer first"
        self.model.train()
        xs, ys = self._tensors(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(xs)
        loss = self.loss(logits, ys)
        loss.backward()
        self.optimizer.step()
        correct = (logits.argmax(dim=1) == ys).sum()
        return float(loss.detach()) * len(y), int(correct)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits in evaluation mode."""
        self.model.eval()
        with torch.no_grad():
            return self.model(torch.from_numpy(x).to(self.device)).cpu().numpy()

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """Summed loss and correct predictions of one batch in evaluation mode."""
        self.model.eval()
        xs, ys = self._tensors(x, y)
        with torch.no_grad():
            logits = self.model(xs)
            loss = self.loss(logits, ys)
        return float(loss) * len(y), int((logits.argmax(dim=1) == ys).sum())
