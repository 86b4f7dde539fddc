"""JAX's own minimal training step, for the benchmark's yardstick: what d2lvgg's step is compared with.

Only JAX, Flax and optax here (the network's modules, ``optax.sgd``, one ``jax.jit`` step that
returns the new parameters), on one channels-last batch already on the device.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ...model import ir
from ..base import OwnStep
from .device import jax_device, resolve_device
from .network import Network, initial_variables


def minimal_step(network: ir.Sequential, x: np.ndarray, y: np.ndarray, device: str) -> OwnStep:
    """``step()`` trains once on the batch and returns its loss; ``read(loss)`` waits for it."""
    label = resolve_device(device)
    target = jax_device(label)
    module = Network(network)
    params = jax.device_put(initial_variables(module, network, 0)["params"], target)
    optimizer = optax.sgd(0.05)
    images = jax.device_put(np.transpose(x, (0, 2, 3, 1)), target)
    labels = jax.device_put(y.astype(np.int32), target)

    @jax.jit
    def train(params, opt_state, key):
        def loss_fn(p):
            logits = module.apply({"params": p}, images, rngs={"dropout": key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    state = {"params": params, "opt": jax.device_put(optimizer.init(params), target), "key": jax.random.key(0)}

    def step() -> jax.Array:
        state["key"], key = jax.random.split(state["key"])
        state["params"], state["opt"], loss = train(state["params"], state["opt"], key)
        return loss

    return OwnStep(step, lambda loss: float(jnp.asarray(loss)), label)
