"""The JAX runner: a Flax module with its variables as values, SGD from optax, and one jitted step.

The state functions walk the variables tree in layer order and translate it to the neutral
(PyTorch) names and layouts and back (``channels_last``); they read the tree, not the spec, so the
book's ``VGG`` and a compiled network map alike.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from ...model import ir
from ..base import RunnerBase, World
from ..channels_last import from_neutral, to_neutral
from ..feed import DeviceFeed
from .device import jax_device, resolve_device
from .network import Network, initial_variables

# neutral name -> (collection, Flax's name) for batch norm; a kernel and a bias are "params" for the rest
BN_NAMES = {
    "weight": ("params", "scale"),
    "bias": ("params", "bias"),
    "running_mean": ("batch_stats", "mean"),
    "running_var": ("batch_stats", "var"),
}


def _places(variables: dict) -> list[tuple[str, str, tuple[str, ...], str]]:
    """Every tensor as (neutral name, collection, keys under the collection, layout kind), in layer order."""
    found: list[tuple[str, str, tuple[str, ...], str]] = []
    channels, flattened = 0, True

    def walk(tree: dict, keys: tuple[str, ...], prefix: str) -> None:
        nonlocal channels, flattened
        for key in sorted(tree, key=lambda k: int(k.removeprefix("layers_"))):
            path, leaf, here = f"{prefix}{key.removeprefix('layers_')}", tree[key], (*keys, key)
            if "scale" in leaf:
                channels = leaf["scale"].shape[0]
                found.extend((f"{path}.{n}", c, (*here, own), "") for n, (c, own) in BN_NAMES.items())
            elif "kernel" in leaf:
                if leaf["kernel"].ndim == 4:
                    channels, flattened, kind = leaf["kernel"].shape[-1], False, "conv"
                else:
                    kind, flattened = ("dense" if flattened else f"flat:{channels}"), True
                found.append((f"{path}.weight", "params", (*here, "kernel"), kind))
                found.extend([(f"{path}.bias", "params", (*here, "bias"), "")] if "bias" in leaf else [])
            else:
                walk(leaf, here, f"{path}.")

    walk(variables["params"]["net"], ("net",), "")
    return found


def _get(tree: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        tree = tree[key]
    return tree


def variables_to_numpy(variables: dict) -> dict[str, np.ndarray]:
    """The variables under the neutral names and layouts."""
    return {
        name: to_neutral(np.asarray(_get(variables[collection], keys)), kind)
        for name, collection, keys, kind in _places(variables)
    }


def numpy_to_variables(variables: dict, arrays: dict[str, np.ndarray]) -> dict:
    """A copy of ``variables`` holding the neutral-named ``arrays`` (names not given keep their values)."""
    copied = jax.tree_util.tree_map(lambda value: value, variables)
    for name, collection, keys, kind in _places(variables):
        if name in arrays:
            parent = _get(copied[collection], keys[:-1])
            parent[keys[-1]] = jnp.asarray(from_neutral(np.asarray(arrays[name], dtype=np.float32), kind))
    return copied


def state_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """A bound module's weights and batch-norm statistics under the neutral names and layouts."""
    return variables_to_numpy(model.variables)


def load_numpy_state(model: nn.Module, arrays: dict[str, np.ndarray]) -> nn.Module:
    """The module bound to its variables with neutral-named ``arrays`` in them (a bound module cannot change)."""
    module, variables = model.unbind()
    return module.bind(numpy_to_variables(variables, arrays))


def _metrics(losses: jax.Array, logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The batch's summed loss and its number of correct predictions."""
    return losses.sum(), (logits.argmax(axis=1) == y).sum()


@jax.jit
def _gather(images: jax.Array, labels: jax.Array, indices: jax.Array, rows: jax.Array | None, cols: jax.Array | None):
    """A batch of the device's dataset, resized with the pipeline's matrices (``DeviceFeed``)."""
    x = images[indices].astype(jnp.float32)
    x = jnp.clip(rows @ (x @ cols), 0.0, 1.0) if rows is not None else x / 255.0
    return x[:, None], labels[indices]


class Runner(RunnerBase):
    """A compiled network's variables and optax's SGD state as values; the step is one ``jax.jit``.

    The step is a pure function of (variables, optimizer state, batch, dropout key) returning the new
    ones, compiled once per batch shape (an epoch's smaller last batch is a second shape). The
    learning rate lives in the optimizer state (``optax.inject_hyperparams``), so a schedule changes
    it without compiling again. optax's SGD keeps PyTorch's momentum (buffer = m * buffer + grad)
    and weight decay is added to the gradient first, as PyTorch does.
    """

    def __init__(
        self, network: ir.Sequential, *, device: str = "auto", seed: int = 0, device_data: bool = False
    ) -> None:
        self.device_label = resolve_device(device)
        self.device = jax_device(self.device_label)
        self.fast = {"device_data": device_data, "jit": True}
        self.world = World()
        self.module = Network(network)
        self.evaluation = self.module.clone(training=False)
        with jax.default_device(self.device):
            # committed to the device, as every step's outputs are: else the first step is compiled twice
            self.variables = jax.device_put(initial_variables(self.module, network, seed), self.device)
        self.key, self.steps = jax.random.key(seed), 0
        self._evaluate = jax.jit(self._evaluate_batch)
        self._logits = jax.jit(lambda variables, x: self.evaluation.apply(variables, jnp.transpose(x, (0, 2, 3, 1))))
        self.set_optimizer(0.0)

    def data(self, images: np.ndarray, labels: np.ndarray, size: int) -> DeviceFeed | None:
        """The dataset in JAX arrays on the device, or ``None`` when the fast path's device data is off."""
        if not self.fast["device_data"]:
            return None
        return DeviceFeed(images, labels, size, put=lambda a: jax.device_put(a, self.device), gather=_gather)

    @property
    def model(self) -> nn.Module:
        """The network in evaluation mode, bound to the variables trained so far."""
        return self.evaluation.bind(self.variables)

    def state(self) -> dict[str, np.ndarray]:
        return variables_to_numpy(self.variables)

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.variables = jax.device_put(numpy_to_variables(self.variables, arrays), self.device)

    def set_optimizer(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """SGD: plain by default (the book's), with momentum and weight decay for the lab recipe."""
        sgd = optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=momentum or None)
        self.optimizer = optax.chain(optax.add_decayed_weights(weight_decay), sgd) if weight_decay else sgd
        self.opt_state = jax.device_put(self.optimizer.init(self.variables["params"]), self.device)
        self._train = jax.jit(self._train_step, donate_argnums=(0, 1))

    def set_lr(self, lr: float) -> None:
        self._hyperparams()["learning_rate"] = jax.device_put(jnp.float32(lr), self.device)

    def _hyperparams(self) -> dict:
        return optax.tree_utils.tree_get(self.opt_state, "hyperparams")

    def start_epoch(self, seed: int) -> None:
        """Dropout's key for the epoch: step ``i`` folds ``i`` into it, so an epoch depends on its seed alone."""
        self.key, self.steps = jax.random.key(seed), 0

    def _buffers(self) -> list[jax.Array]:
        trace = optax.tree_utils.tree_get(self.opt_state, "trace")
        return [] if trace is None else jax.tree_util.tree_leaves(trace)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The learning rate and the momentum buffers, if any."""
        state = {"lr": np.array(self._hyperparams()["learning_rate"], dtype=np.float64)}
        return state | {f"momentum_buffer.{i}": np.asarray(b).copy() for i, b in enumerate(self._buffers())}

    def load_optimizer_state(self, arrays: dict[str, np.ndarray]) -> None:
        trace = optax.tree_utils.tree_get(self.opt_state, "trace")
        if trace is None:
            return
        leaves = [jnp.asarray(arrays[f"momentum_buffer.{i}"]) for i in range(len(self._buffers()))]
        trace = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(trace), leaves)
        self.opt_state = jax.device_put(optax.tree_utils.tree_set(self.opt_state, trace=trace), self.device)

    def _train_step(self, variables, opt_state, x, y, key, step):
        def loss(params):
            logits, updated = self.module.apply(
                {**variables, "params": params},
                jnp.transpose(x, (0, 2, 3, 1)),
                rngs={"dropout": jax.random.fold_in(key, step)},
                mutable=["batch_stats"],
            )
            losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            return losses.mean(), (losses, logits, updated)

        grads, (losses, logits, updated) = jax.grad(loss, has_aux=True)(variables["params"])
        updates, opt_state = self.optimizer.update(grads, opt_state, variables["params"])
        params = optax.apply_updates(variables["params"], updates)
        return {**variables, **updated, "params": params}, opt_state, _metrics(losses, logits, y)

    def _evaluate_batch(self, variables, x, y):
        logits = self.evaluation.apply(variables, jnp.transpose(x, (0, 2, 3, 1)))
        return _metrics(optax.softmax_cross_entropy_with_integer_labels(logits, y), logits, y)

    def _batch(self, x: Any, y: Any) -> tuple[jax.Array, jax.Array]:
        """A numpy batch on the device (the feed's batches are there already)."""
        if isinstance(x, jax.Array):
            return x, y
        return jax.device_put(x, self.device), jax.device_put(np.asarray(y, dtype=np.int32), self.device)

    def train_step(self, x: Any, y: Any) -> tuple[jax.Array, jax.Array]:
        """One SGD step; the batch's summed loss and correct predictions, left on the device."""
        self.variables, self.opt_state, metrics = self._train(
            self.variables, self.opt_state, *self._batch(x, y), self.key, self.steps
        )
        self.steps += 1
        return metrics

    def evaluate(self, x: Any, y: Any) -> tuple[jax.Array, jax.Array]:
        return self._evaluate(self.variables, *self._batch(x, y))

    def fetch(self, values: list[jax.Array]) -> list[float]:
        """The metrics as Python numbers, with one transfer for the lot."""
        return [float(v) for v in jax.device_get(values)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float32 logits in evaluation mode."""
        return np.asarray(self._logits(self.variables, jax.device_put(x, self.device)))
