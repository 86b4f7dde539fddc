"""The contract between d2lvgg and a framework: every verb the rest of the package may call.

A backend is a sub-package ``d2lvgg/backends/<name>/`` whose ``__init__`` declares what it is
(one :class:`Declaration`) without importing its framework, and whose ``backend`` module
implements :class:`Backend`. Training, evaluation, parity and the
benchmark call these verbs and nothing else; ``tests/test_contract.py`` checks every installed
backend against them.

The network a backend builds may hold its parameters (PyTorch, MindSpore) or be a pure function
beside them (JAX): the verbs that take a ``model`` take whatever ``compile_network`` returned (in
JAX, the module bound to its variables), ``load_numpy_state`` returns the network that holds the
new weights rather than promising to change ``model`` in place, and the runner owns the
parameters it trains either way (docs/architecture.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError
from ..model import ir
from .cores import can_confine, confine, pinned_threads

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Option:
    """A setting only one backend has, declared by it: the CLI and sweep grids learn it from here.

    ``flag`` is the command-line switch; a boolean whose default is ``True`` is switched off by it.
    ``plain`` is its value under ``--plain`` (the textbook's way); ``None`` leaves it alone.
    """

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] = (True, False)
    flag: str = ""
    plain: Any = None

    def check(self, value: Any, backend: str) -> Any:
        """``value`` if it is one of the choices, else a one-line error naming them."""
        if value not in self.choices or type(value) is not type(self.default):
            allowed = ", ".join(map(str, self.choices))
            raise ConfigError(f"{self.name} of the {backend} backend must be one of {allowed}, got {value!r}")
        return value


@dataclass(frozen=True)
class Launcher:
    """A framework's data-parallel launcher, as ``d2lvgg train --nproc`` starts it on each node (machine).

    ``command`` may name {python}, {main} (d2lvgg's ``__main__.py``), {nproc} (processes on this node),
    {nodes}, {world} (processes on all of them), {node_rank}, {host} and {port} (node 0's rendezvous)
    and {logs} (where this node's logs go). Where every node is this machine (a loopback master),
    ``loopback_arguments`` follow the launcher's module and ``loopback_environment`` is added.
    """

    command: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)  # what it needs, unless the user set it
    loopback_arguments: tuple[str, ...] = ()
    loopback_environment: Mapping[str, str] = field(default_factory=dict)
    programs: Mapping[str, str] = field(default_factory=dict)  # programs it runs -> how to install them
    chatter: str = ""  # a regular expression of its stderr lines kept in the launch log only (empty: none)


@dataclass(frozen=True)
class Declaration:
    """What a backend is, known without importing its framework: the CLI, the docs and the tests read it."""

    title: str  # the name people know the framework by
    framework: str  # the module its framework imports as
    extra: str  # the pip extra that installs it: d2lvgg[<extra>]
    devices: str  # the device names --device takes, for help and errors
    device_pattern: str  # a regular expression those names match: checked before the framework loads
    options: tuple[Option, ...] = ()  # settings only this backend has
    environment: Mapping[str, str] = field(default_factory=dict)  # set before the framework loads, unless set
    textbook: Mapping[str, Any] = field(default_factory=dict)  # spec options of this edition's network
    launcher: Launcher | None = None  # how it trains data-parallel; or it does not
    textbook_loop: str = ""  # the edition's training loop the benchmark re-creates (empty: none)
    load_first: tuple[str, ...] = ()  # backends whose frameworks must be in the process before this one's
    checkpoint_suffixes: tuple[str, ...] = ()  # the framework's own weight files, for `weights import`
    refused_files: Mapping[str, str] = field(default_factory=dict)  # suffix -> why d2lvgg never opens such files
    device_names: Mapping[str, str] = field(default_factory=dict)  # common device names in this spelling
    requires: Mapping[str, str] = field(default_factory=dict)  # pip requirement -> why: checked before loading
    quiet: tuple[str, ...] = ()  # how warnings its framework gives on every load, of no use to a student, begin
    onnx_needs: tuple[str, ...] = ()  # modules its ONNX exporter needs beside the framework (pip names them alike)
    no_onnx: str = ""  # why its networks cannot be written as ONNX (empty: they can)


# Set by ``d2lvgg train --nodes N --node-rank R`` for the processes it launches: which node they run on.
NODE_RANK = "D2LVGG_NODE_RANK"


def node_rank() -> int:
    """The node this process was launched on (0 where no multi-node launch started it): only node 0's leader
    writes the run folder, so the processes of other nodes never look at it before training."""
    return int(os.environ.get(NODE_RANK, "0"))


@dataclass(frozen=True)
class World:
    """The processes that train one run together (data-parallel): this one's rank, how many, and how.

    A runner started by its framework's launcher (``torchrun``, ``msrun``) joins the launched world;
    otherwise it is the world of one. Each process computes its share of every global batch and the
    runner's ``fetch`` sums the metrics over all of them; only the leader writes the run folder.
    """

    rank: int = 0
    size: int = 1
    engine: str = "one process"

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> slice:
        """The rows of an ``n``-row global batch this process computes: contiguous, sizes within one."""
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)


class Feed(Protocol):
    """A dataset a runner keeps on its device, yielding batches in the seeded order of ``data.pipeline``."""

    def __len__(self) -> int: ...

    def batches(self, *, batch_size: int, shuffle: bool, seed: int, epoch: int) -> Iterator[tuple[Any, Any]]:
        """One epoch's ``(images, labels)`` batches, already on the device."""
        ...


@runtime_checkable
class Runner(Protocol):
    """A compiled network on a device with SGD and cross-entropy: what the training loop drives.

    ``device_label`` names the device as the book prints it; ``fast`` records which speed-ups are on;
    ``world`` says which share of each batch this process computes (``train_step`` and
    ``evaluate`` take the whole global batch).
    """

    device_label: str
    fast: dict[str, bool]
    world: World

    def load_state(self, arrays: Arrays) -> None:
        """Copy weights under the neutral names (``model.ir.tensor_shapes``) into the network."""
        ...

    def state(self) -> Arrays:
        """The network's weights and buffers as numpy arrays under the neutral names."""
        ...

    def set_optimizer(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """SGD over every parameter: plain by default, as the book trains."""
        ...

    def set_lr(self, lr: float) -> None:
        """The learning rate of the steps that follow (a schedule sets it each epoch)."""
        ...

    def start_epoch(self, seed: int) -> None:
        """Reseed the epoch's randomness (dropout), so an epoch depends on its seed alone."""
        ...

    def optimizer_state(self) -> Arrays:
        """The optimizer's own arrays (learning rate, momentum buffers), for a checkpoint."""
        ...

    def load_optimizer_state(self, arrays: Arrays) -> None:
        """Restore what ``optimizer_state`` returned."""
        ...

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> Feed | None:
        """The dataset held on the device, or ``None`` to be fed numpy batches."""
        ...

    def train_step(self, x: Any, y: Any) -> tuple[Any, Any]:
        """One SGD step: the batch's summed loss and correct predictions (read later by ``fetch``)."""
        ...

    def evaluate(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Summed loss and correct predictions of one batch in evaluation mode."""
        ...

    def fetch(self, values: list[Any]) -> list[float]:
        """Metrics returned by the steps, as Python numbers (one host sync for the lot), summed over the world."""
        ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float32 logits of a numpy batch, in evaluation mode."""
        ...

    def set_threads(self, count: int) -> bool:
        """Compute on ``count`` CPU threads from now on; False where the framework fixed them when it started."""
        ...


@dataclass(frozen=True)
class StateMapping:
    """A backend's two functions between its network and neutral-named numpy arrays."""

    to_numpy: Callable[[Any], Arrays]
    from_numpy: Callable[[Any, Arrays], Any]


class RunnerBase:
    """What every backend's runner shares: its weights in and out through its backend's ``weights``
    mapping, and no device-resident dataset unless the backend overrides ``data``."""

    model: Any
    world: World
    weights: ClassVar[StateMapping]

    def state(self) -> Arrays:
        """The network's weights and buffers as numpy arrays under the neutral names."""
        return self.weights.to_numpy(self.model)

    def load_state(self, arrays: Arrays) -> None:
        """Copy weights under the neutral names into the network."""
        self.model = self.weights.from_numpy(self.model, arrays)

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> Feed | None:
        """No device-resident dataset: the trainer's numpy batches are copied in once per step."""
        return None

    def set_threads(self, count: int) -> bool:
        """The framework sized its thread pools when it started; alone, a process computes on ``count`` of its
        cores from now on (its threads' affinity, ``backends/cores.py``), which changes no number it computes."""
        if pinned_threads() is not None or self.world.size > 1 or not can_confine():
            return False  # a pin is the framework's to apply when it starts
        confine(count)
        return True


class OwnStep(NamedTuple):
    """A training step written in one framework alone (``Backend.minimal_step``), on one batch in its tensors."""

    step: Callable[[], Any]  # trains once; returns the loss, maybe still on the device
    read: Callable[[Any], float]  # waits for a loss and reads it
    device_label: str  # where it runs, named as the framework's runner names it


@runtime_checkable
class Backend(Protocol):
    """One framework's implementation (each ``backends/<name>/backend.py`` module is one)."""

    def version(self) -> str:
        """The framework and its version, as run folders record it."""
        ...

    def has_accelerator(self, name: str = "auto") -> bool:
        """Whether device ``name`` resolves to a GPU or NPU here rather than the CPU."""
        ...

    def vgg(self, conv_arch: Sequence[tuple[int, int]]) -> Any:
        """The book's ``vgg(conv_arch)`` in this framework: the chapter's network for 1x224x224 images."""
        ...

    def compile_network(self, node: ir.Node) -> Any:
        """The framework network for a lowered spec, one framework layer per IR op: the one builder."""
        ...

    def output_shapes(self, model: Any, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Every layer's and block's output shape for a zero batch, keyed by index path."""
        ...

    def param_count(self, model: Any) -> int:
        """Trainable parameters of a compiled network."""
        ...

    def state_to_numpy(self, model: Any) -> Arrays:
        """A compiled network's tensors under the neutral names."""
        ...

    def load_numpy_state(self, model: Any, arrays: Arrays) -> Any:
        """The network holding neutral-named arrays: ``model`` itself, filled in place, where its layers hold
        their parameters; a new network where they are values beside it (JAX's Flax modules)."""
        ...

    def read_checkpoint(self, path: Path) -> Arrays:
        """A file in this framework's own format (``Declaration.checkpoint_suffixes``), read without running code."""
        ...

    def export_onnx(self, model: Any, path: Path, input_shape: tuple[int, ...]) -> bool:
        """Write a compiled network as ONNX; True when its batch dimension is left free."""
        ...

    def disable_reduced_precision(self) -> None:
        """Full float32 everywhere (no TF32 and the like), for parity checks."""
        ...

    def peak_memory_mb(self, device_label: str) -> float | None:
        """Peak accelerator memory this process used on ``device_label``; ``None`` on a CPU."""
        ...

    def make_runner(self, network: ir.Sequential, *, device: str, seed: int, options: dict[str, Any]) -> Runner:
        """A :class:`Runner` for ``network`` with this backend's ``options`` (already checked)."""
        ...

    def minimal_step(self, network: ir.Sequential, x: np.ndarray, y: np.ndarray, device: str) -> OwnStep:
        """The framework's own minimal SGD step on a batch already in its tensors: the benchmark's yardstick."""
        ...
