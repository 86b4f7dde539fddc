"""MindSpore backend: the layer IR as ``nn.SequentialCell``, and the verbs the trainer needs.

Every argument whose default differs from PyTorch's is passed explicitly: padding mode, conv
bias, dropout ``p``, batch-norm momentum (MindSpore weighs the *old* statistics, so PyTorch's
0.1 is MindSpore's 0.9) and the pooling pad mode.
"""

from __future__ import annotations

import os
import signal
import threading

import numpy as np

from ...errors import ConfigError, DeviceError
from ...model import ir

os.environ.setdefault("GLOG_v", "3")  # MindSpore's C++ side logs every WARNING unless told not to
# MindSpore 2.10's oneDNN picks a reference convolution on AVX-512 CPUs for its NCHW float32
# layout: 25 ms for a convolution that takes 0.4 ms with the AVX2 kernels (docs/speed.md). Set
# the variable yourself to choose another instruction set; it is read once, at the first convolution.
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
import mindspore as ms  # noqa: E402
from mindspore import nn  # noqa: E402

NAME = "mindspore"
TARGETS = {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}
MODES = {"graph": ms.GRAPH_MODE, "pynative": ms.PYNATIVE_MODE}
# Neutral (PyTorch) tensor names -> MindSpore's, for batch norm; all others are the same.
BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def version() -> str:
    return f"mindspore {ms.__version__}"


def _conv(op: ir.Conv2d) -> nn.Cell:
    return nn.Conv2d(
        op.in_channels,
        op.out_channels,
        op.kernel_size,
        stride=op.stride,
        pad_mode="pad",
        padding=op.padding,
        has_bias=op.bias,
    )


class LocalResponseNorm(nn.Cell):
    """PyTorch's ``LocalResponseNorm`` from primitive ops: x / (k + alpha/n * window sum of x^2)^beta.

    MindSpore 2.10's own ``nn.LRN`` fails on the CPU for more than 8 channels, and its alpha is
    not divided by the window size; this cell runs everywhere and matches PyTorch's formula.
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def construct(self, x):
        channels = x.shape[1]
        squares = ms.ops.pad(x * x, (0, 0, 0, 0, self.size // 2, (self.size - 1) // 2))
        window = squares[:, 0:channels]
        for offset in range(1, self.size):
            window = window + squares[:, offset : offset + channels]
        return x / ms.ops.pow(self.k + self.alpha / self.size * window, self.beta)


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` whose masks are drawn by numpy from the run's seed, one set per step.

    MindSpore 2.10's CPU dropout is not reproducible across processes even after
    ``set_seed`` (two fresh runs differ in the first epoch), which rules out an exact resume.
    Here the runner writes each step's keep-mask (already scaled by 1/(1-p)) into a buffer
    before the step; evaluation mode passes activations through unchanged.
    """

    def __init__(self, p: float) -> None:
        super().__init__(p=p)
        self.mask = ms.Parameter(ms.Tensor(np.ones((1, 1), np.float32)), name="mask", requires_grad=False)

    def construct(self, x):
        if not self.training or self.p == 0:
            return x
        return x * self.mask[: x.shape[0]]


LAYERS = {
    ir.Conv2d: _conv,
    ir.ReLU: lambda op: nn.ReLU(),
    ir.MaxPool2d: lambda op: nn.MaxPool2d(kernel_size=op.kernel_size, stride=op.stride, pad_mode="valid"),
    ir.Flatten: lambda op: nn.Flatten(),
    ir.Linear: lambda op: nn.Dense(op.in_features, op.out_features, has_bias=op.bias),
    ir.Dropout: lambda op: SeededDropout(op.p),
    ir.BatchNorm2d: lambda op: nn.BatchNorm2d(op.num_features, eps=op.eps, momentum=1.0 - op.momentum),
    ir.LocalResponseNorm: lambda op: LocalResponseNorm(op.size, op.alpha, op.beta, op.k),
}


def compile_network(node: ir.Node) -> nn.Cell:
    """One ``nn.SequentialCell`` per IR container, one framework layer per IR op."""
    if isinstance(node, ir.Sequential):
        return nn.SequentialCell([compile_network(child) for child in node.children])
    return LAYERS[type(node)](node)


def _available(target: str) -> bool:
    try:
        return bool(ms.hal.is_available(target))
    except (AttributeError, RuntimeError, ValueError):
        return target == "CPU"


def resolve_device(name: str = "auto") -> str:
    """``auto`` picks Ascend, then GPU, then the CPU, as this MindSpore build supports them."""
    if name == "auto":
        return next(t for t in ("Ascend", "GPU", "CPU") if _available(t))
    target = TARGETS.get(name.lower())
    if target is None:
        raise DeviceError(f"unknown device {name!r} for the mindspore backend: use auto, cpu, gpu or ascend")
    if not _available(target):
        raise DeviceError(f"device {name!r} asked for, but this MindSpore build cannot use it here: use --device cpu")
    return target


def has_accelerator(name: str = "auto") -> bool:
    """Whether ``name`` resolves to a GPU or an Ascend card rather than the CPU."""
    return resolve_device(name) != "CPU"


def configure(device: str = "auto", mode: str = "graph") -> str:
    """Select the device target and execution mode (both global in MindSpore); returns the target."""
    if mode not in MODES:
        raise ConfigError(f"unknown MindSpore mode {mode!r}: use graph or pynative")
    target = resolve_device(device)
    ms.set_context(mode=MODES[mode])
    if target == "CPU":
        _size_thread_pools()
    try:
        if hasattr(ms, "set_device"):
            ms.set_device(target)
        else:  # MindSpore < 2.5
            ms.set_context(device_target=target)
    except RuntimeError:  # the runtime has started: its device is fixed for this process
        current = ms.get_context("device_target")
        if current != target:
            raise DeviceError(
                f"MindSpore already runs on {current} in this process and cannot switch to {target}; "
                "start a new Python process to use another device"
            ) from None
    return target


def _size_thread_pools() -> None:
    """One kernel thread per core this process may use, and one dispatch thread.

    MindSpore's defaults (25 kernel threads, 5 dispatchers) are sized for a server; on a small
    machine its spin-waiting threads outnumber the cores (docs/speed.md). Each setting can be made
    once per process: one made before (by the user) is kept.
    """
    from mindspore._c_expression import RuntimeConf

    conf = RuntimeConf.get_instance()
    if not conf.is_op_threads_num_configured():
        ms.device_context.cpu.op_tuning.threads_num(_cores())
    if not conf.is_dispatch_threads_num_configured():
        ms.runtime.dispatch_threads_num(1)


def _interrupt(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # once only: a second SIGTERM ends the process as usual
    raise KeyboardInterrupt


def _sigterm_as_interrupt() -> None:
    """Make the SIGTERM that MindSpore's runtime sends on Ctrl-C an ordinary KeyboardInterrupt.

    MindSpore answers SIGINT by sending its own process SIGTERM, which would end it at once (exit
    143, no "Resume with" line). The first SIGTERM after a runner is made raises KeyboardInterrupt
    instead, so Ctrl-C stops a MindSpore run as it stops a PyTorch one; a second one terminates.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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


def load_numpy_state(model: nn.Cell, arrays: dict[str, np.ndarray]) -> None:
    """Copy neutral-named arrays into the network's parameters."""
    params = dict(model.parameters_and_names())
    bn_layers = _batch_norm_layers(model)
    for name, value in arrays.items():
        params[_ms_name(name, bn_layers)].set_data(ms.Tensor(np.ascontiguousarray(value, np.float32)))


def output_shapes(model: nn.Cell, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every layer's and block's output for a zero batch of ``shape``, keyed by index path."""
    shapes: dict[str, tuple[int, ...]] = {}

    def walk(container: nn.SequentialCell, x: ms.Tensor, prefix: str) -> ms.Tensor:
        for i in range(len(container)):
            child, name = container[i], f"{prefix}{i}"
            x = walk(child, x, f"{name}.") if isinstance(child, nn.SequentialCell) else child(x)
            shapes[name] = tuple(x.shape)
        return x

    model.set_train(False)
    walk(model, ms.Tensor(np.zeros(shape, np.float32)), "")
    return shapes


def param_count(model: nn.Cell) -> int:
    return sum(int(np.prod(p.shape)) for p in model.trainable_params())


def _dropout_widths(model: nn.SequentialCell) -> list[tuple[SeededDropout, int]]:
    """Each dropout cell of the head with the width of the dense layer before it."""
    found, width = [], 0
    for i in range(len(model)):
        cell = model[i]
        if isinstance(cell, nn.Dense):
            width = cell.out_channels
        elif isinstance(cell, SeededDropout):
            found.append((cell, width))
    return found


class _TrainStep(nn.Cell):
    """Forward, backward and update as one cell: compiled whole in graph mode, eager in PyNative."""

    def __init__(self, model: nn.Cell, loss: nn.Cell, optimizer: nn.Optimizer) -> None:
        super().__init__()
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.grad_fn = ms.value_and_grad(self.forward, None, optimizer.parameters, has_aux=True)

    def forward(self, x, y):
        logits = self.model(x)
        return self.loss(logits, y), logits

    def construct(self, x, y):
        (loss, logits), grads = self.grad_fn(x, y)
        self.optimizer(grads)
        return loss, logits


class Runner:
    """A compiled network with plain SGD and softmax cross-entropy: the textbook's recipe.

    In graph mode the whole training step (forward, backward, update) is one compiled graph.
    """

    def __init__(self, network: ir.Sequential, *, device: str = "auto", seed: int = 0, mode: str = "graph") -> None:
        target = configure(device, mode)
        _sigterm_as_interrupt()
        self.device_label = f"{target.lower()} ({mode} mode)"
        self.mode = mode
        self.fast = {"graph_mode": mode == "graph"}  # the whole step as one compiled graph
        ms.set_seed(seed)
        self.model = compile_network(network)
        self.loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        self._step = None
        self._dropouts = _dropout_widths(self.model)
        self._masks = np.random.default_rng(seed)

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        load_numpy_state(self.model, arrays)

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> None:
        """No device-resident dataset: the trainer's numpy batches are copied in once per step."""
        return None

    def fetch(self, values: list[float]) -> list[float]:
        """Metrics are already Python numbers (each step reads its loss back)."""
        return [float(v) for v in values]

    def state(self) -> dict[str, np.ndarray]:
        return state_to_numpy(self.model)

    def set_optimizer(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """SGD: plain by default (the book's), with momentum and weight decay for the lab recipe."""
        # One parameter group, so weight decay reaches every tensor as in PyTorch (MindSpore's default
        # filter would exempt batch norm's gamma and beta).
        group = [{"params": self.model.trainable_params(), "weight_decay": weight_decay}]
        self.optimizer = nn.SGD(group, learning_rate=lr, momentum=momentum)
        self._build_step()

    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate.set_data(ms.Tensor(lr, ms.float32))

    def _build_step(self) -> None:
        self._step = _TrainStep(self.model, self.loss, self.optimizer)

    def start_epoch(self, seed: int) -> None:
        """Restart the dropout masks' stream, so an epoch's masks depend on the epoch alone."""
        self._masks = np.random.default_rng(seed)

    def _draw_masks(self, batch: int) -> None:
        for cell, width in self._dropouts:
            keep = self._masks.random((batch, width)) >= cell.p
            mask = keep.astype(np.float32) / np.float32(1.0 - cell.p)
            if cell.mask.shape[0] < batch or cell.mask.shape[1] != width:
                cell.mask.set_data(ms.Tensor(mask))
            else:
                padded = np.ones(cell.mask.shape, np.float32)
                padded[:batch] = mask
                cell.mask.set_data(ms.Tensor(padded))

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's own tensors (step count, learning rate, accumulators), not the weights."""
        weights = {id(p) for p in self.model.get_parameters()}
        return {n: p.asnumpy().copy() for n, p in self.optimizer.parameters_and_names() if id(p) not in weights}

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        params = dict(self.optimizer.parameters_and_names())
        for name, value in arrays.items():
            params[name].set_data(ms.Tensor(np.ascontiguousarray(value)))

    @staticmethod
    def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[ms.Tensor, ms.Tensor]:
        return ms.Tensor(x), ms.Tensor(y.astype(np.int32))

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """One SGD step; returns the batch's summed loss and its number of correct predictions."""
        assert self._step is not None, "call set_optimizer first"
        self.model.set_train(True)
        self._draw_masks(len(y))
        loss, logits = self._step(*self._tensors(x, y))
        correct = int((logits.asnumpy().argmax(axis=1) == y).sum())
        return float(loss.asnumpy()) * len(y), correct

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits in evaluation mode."""
        self.model.set_train(False)
        return self.model(ms.Tensor(x)).asnumpy()

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """Summed loss and correct predictions of one batch in evaluation mode."""
        self.model.set_train(False)
        xs, ys = self._tensors(x, y)
        logits = self.model(xs)
        loss = self.loss(logits, ys)
        return float(loss.asnumpy()) * len(y), int((logits.asnumpy().argmax(axis=1) == y).sum())
