"""Each framework's own API in a few lines, for the parametrised backend suite (``frameworks.py``).

A ``Native`` class uses only its framework (its layers, optimizer and loss), never d2lvgg's runner,
loop or helpers: what a student's own notebook would do with a network copied from
``backends/<name>/network.py``.
"""

from __future__ import annotations

import re

import numpy as np


def layer_name(layer) -> str:
    """What a printout calls a layer: its class, or its name where the book puts a function itself (JAX)."""
    return getattr(layer, "__name__", type(layer).__name__)


class _Eager:
    """A framework whose network exists, weights and all, once it is built: ``built`` is the network itself."""

    @staticmethod
    def built(net, x: np.ndarray):
        return net


class NativeTorch(_Eager):
    @staticmethod
    def children(net) -> list:
        return list(net)

    @staticmethod
    def images(x: np.ndarray) -> np.ndarray:
        """A batch in the framework's layout (NCHW here)."""
        return x

    @staticmethod
    def printed(net) -> str:
        """What ``print(net)`` shows, without object addresses (MindSpore prints its initializers')."""
        return re.sub(r" at 0x[0-9a-f]+", "", repr(net))

    @staticmethod
    def forward(net, x: np.ndarray, *, train: bool) -> np.ndarray:
        import torch

        net.train(train)
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()

    @staticmethod
    def seed(seed: int) -> None:
        import torch

        torch.manual_seed(seed)

    @staticmethod
    def fit(net, x: np.ndarray, y: np.ndarray, steps: int) -> tuple[float, float]:
        """Evaluation-mode loss before and after ``steps`` Adam steps on one batch."""
        import torch
        from torch import nn

        loss_fn, x, y = nn.CrossEntropyLoss(), torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

        def eval_loss() -> float:
            net.eval()
            with torch.no_grad():
                return float(loss_fn(net(x), y))

        before = eval_loss()
        net.train()
        for _ in range(steps):
            optimizer.zero_grad()
            loss_fn(net(x), y).backward()
            optimizer.step()
        return before, eval_loss()

    @staticmethod
    def own_state(net) -> dict[str, np.ndarray]:
        return {name: value.numpy() for name, value in net.state_dict().items()}


class NativeMindSpore(_Eager):
    images, printed = NativeTorch.images, NativeTorch.printed

    @staticmethod
    def children(net) -> list:
        return [net[i] for i in range(len(net))]

    @staticmethod
    def forward(net, x: np.ndarray, *, train: bool) -> np.ndarray:
        import mindspore as ms

        net.set_train(train)
        return net(ms.Tensor(x)).asnumpy()

    @staticmethod
    def seed(seed: int) -> None:
        import mindspore as ms

        ms.set_seed(seed)

    @staticmethod
    def fit(net, x: np.ndarray, y: np.ndarray, steps: int) -> tuple[float, float]:
        """Evaluation-mode loss before and after ``steps`` Adam steps on one batch (PyNative)."""
        import mindspore as ms
        from mindspore import nn

        ms.set_context(mode=ms.PYNATIVE_MODE)
        loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        x, y = ms.Tensor(x), ms.Tensor(y.astype(np.int32))
        optimizer = nn.Adam(net.trainable_params(), learning_rate=1e-3)
        grad_fn = ms.value_and_grad(lambda x, y: loss_fn(net(x), y), None, optimizer.parameters)

        def eval_loss() -> float:
            net.set_train(False)
            return float(loss_fn(net(x), y).asnumpy())

        before = eval_loss()
        net.set_train(True)
        for _ in range(steps):
            _, grads = grad_fn(x, y)
            optimizer(grads)
        return before, eval_loss()

    @staticmethod
    def own_state(net) -> dict[str, np.ndarray]:
        return {name: value.asnumpy() for name, value in net.parameters_and_names()}


class NativePaddle(_Eager):
    images, printed = NativeTorch.images, NativeTorch.printed

    @staticmethod
    def children(net) -> list:
        return list(net.children())

    @staticmethod
    def forward(net, x: np.ndarray, *, train: bool) -> np.ndarray:
        import paddle

        net.train() if train else net.eval()
        with paddle.no_grad():
            return net(paddle.to_tensor(x)).numpy()

    @staticmethod
    def seed(seed: int) -> None:
        import paddle

        paddle.seed(seed)

    @staticmethod
    def fit(net, x: np.ndarray, y: np.ndarray, steps: int) -> tuple[float, float]:
        """Evaluation-mode loss before and after ``steps`` Adam steps on one batch."""
        import paddle
        from paddle import nn

        loss_fn, x, y = nn.CrossEntropyLoss(), paddle.to_tensor(x), paddle.to_tensor(y.astype(np.int64))
        optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=net.parameters())

        def eval_loss() -> float:
            net.eval()
            with paddle.no_grad():
                return float(loss_fn(net(x), y))

        before = eval_loss()
        net.train()
        for _ in range(steps):
            loss_fn(net(x), y).backward()
            optimizer.step()
            optimizer.clear_grad()
        return before, eval_loss()

    @staticmethod
    def own_state(net) -> dict[str, np.ndarray]:
        return {name: value.numpy() for name, value in net.state_dict().items()}


class NativeTensorFlow:
    @staticmethod
    def built(net, x: np.ndarray):
        """Keras makes a network's weights on its first call."""
        net(x, training=False)
        return net

    @staticmethod
    def children(net) -> list:
        return list(net.layers)

    @staticmethod
    def images(x: np.ndarray) -> np.ndarray:
        """A batch in Keras's layout: NHWC."""
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))

    @staticmethod
    def printed(net) -> str:
        """Each layer's class and configuration, nested as the model is (Keras's repr names the model only)."""

        def describe(layer) -> str:
            if hasattr(layer, "layers"):
                return f"{type(layer).__name__}[{', '.join(describe(child) for child in layer.layers)}]"
            config = {k: v for k, v in layer.get_config().items() if k != "name"}
            return f"{type(layer).__name__}({config})"

        return describe(net)

    @staticmethod
    def forward(net, x: np.ndarray, *, train: bool) -> np.ndarray:
        return np.asarray(net(x, training=train))

    @staticmethod
    def seed(seed: int) -> None:
        import keras

        keras.utils.set_random_seed(seed)

    @staticmethod
    def fit(net, x: np.ndarray, y: np.ndarray, steps: int) -> tuple[float, float]:
        """Evaluation-mode loss before and after ``steps`` Adam steps on one batch, with Keras's own ``fit``."""
        import keras

        net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(True))
        before = float(net.evaluate(x, y, verbose=0))
        net.fit(x, y, batch_size=len(y), epochs=steps, verbose=0, shuffle=False)
        return before, float(net.evaluate(x, y, verbose=0))

    @staticmethod
    def own_state(net) -> dict[str, np.ndarray]:
        """Each weight under its layer's index path in the nested models and Keras's own weight name."""
        state = {}

        def walk(container, prefix: str) -> None:
            for i, layer in enumerate(container.layers):
                if hasattr(layer, "layers"):
                    walk(layer, f"{prefix}{i}.")
                for weight in [] if hasattr(layer, "layers") else layer.weights:
                    state[f"{prefix}{i}.{weight.name}"] = weight.numpy()

        walk(net, "")
        return state


class NativeJax:
    """Flax linen: a module and its variables apart; a network here is a module bound to its variables."""

    key = None

    @classmethod
    def seed(cls, seed: int) -> None:
        import jax

        cls.key = jax.random.key(seed)

    @classmethod
    def _next_key(cls):
        import jax

        cls.key, key = jax.random.split(cls.key if cls.key is not None else jax.random.key(0))
        return key

    @classmethod
    def built(cls, net, x: np.ndarray):
        """The book's way: ``init`` on an example batch, here bound to the module."""
        return net.bind(net.init({"params": cls._next_key(), "dropout": cls._next_key()}, x))

    @staticmethod
    def children(net) -> list:
        return list((net.net if hasattr(net, "net") else net).layers)

    images = NativeTensorFlow.images

    @classmethod
    def printed(cls, net) -> str:
        """The layers nested as ``print(net)`` nests PyTorch's: each module's fields, a function by its name."""
        from dataclasses import fields

        def describe(layer, indent: str) -> str:
            if not hasattr(layer, "parent"):  # a function, as the book puts ReLU, pooling and flattening
                return layer.__name__
            if hasattr(layer, "layers"):
                inner = "".join(f"{indent}  ({i}): {describe(c, indent + '  ')}\n" for i, c in enumerate(layer.layers))
                return f"Sequential(\n{inner}{indent})"
            given = {f.name: getattr(layer, f.name) for f in fields(layer) if f.name not in ("parent", "name")}
            return re.sub(r" at 0x[0-9a-f]+", "", f"{type(layer).__name__}({given})")

        return describe(net.net if hasattr(net, "net") else net, "")

    @classmethod
    def forward(cls, net, x: np.ndarray, *, train: bool) -> np.ndarray:
        if not hasattr(net, "parent"):
            return np.asarray(net(x))
        module, variables = net.unbind()
        if hasattr(module, "training"):
            module = module.clone(training=train)
        out = module.apply(variables, x, rngs={"dropout": cls._next_key()}, mutable=["batch_stats"] if train else False)
        return np.asarray(out[0] if train else out)

    @classmethod
    def fit(cls, net, x: np.ndarray, y: np.ndarray, steps: int) -> tuple[float, float]:
        """Evaluation-mode loss before and after ``steps`` optax Adam steps on one batch, on the book's module."""
        import jax
        import optax

        module, variables = net.unbind()
        evaluation = module.clone(training=False)

        def loss(params, module, key):
            logits = module.apply({**variables, "params": params}, x, rngs={"dropout": key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        gradient = jax.jit(jax.grad(lambda params, key: loss(params, module, key)))
        params, optimizer = variables["params"], optax.adam(1e-3)
        state, before = optimizer.init(params), float(loss(params, evaluation, cls._next_key()))
        for _ in range(steps):
            updates, state = optimizer.update(gradient(params, cls._next_key()), state, params)
            params = optax.apply_updates(params, updates)
        return before, float(loss(params, evaluation, cls._next_key()))

    @staticmethod
    def own_state(net) -> dict[str, np.ndarray]:
        """Each variable under its layers' indices and Flax's own name (``0.1.mean``, ``6.kernel``)."""
        import jax

        flat = jax.tree_util.tree_flatten_with_path(net.variables)[0]
        names = {".".join(k.key.removeprefix("layers_") for k in path[2:]): leaf for path, leaf in flat}
        return {name: np.asarray(leaf) for name, leaf in names.items()}


NATIVE = {
    "torch": NativeTorch,
    "mindspore": NativeMindSpore,
    "paddle": NativePaddle,
    "tensorflow": NativeTensorFlow,
    "jax": NativeJax,
}
