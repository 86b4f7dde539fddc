"""The PaddlePaddle adapter: the book's network and printout, counts, the weight layout, devices, a fit."""

from __future__ import annotations

import numpy as np
import pytest

from d2lvgg import DeviceError, build, preset
from d2lvgg.backends import get_backend
from d2lvgg.model.initializers import initial_weights
from d2lvgg.model.ir import lower

pytestmark = pytest.mark.paddle
paddle = pytest.importorskip("paddle")
from paddle import nn  # noqa: E402

paddle_backend = get_backend("paddle")

TEXTBOOK_CHILDREN = [nn.Sequential] * 5 + [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout] + [nn.Linear, nn.ReLU]
TEXTBOOK_CHILDREN += [nn.Dropout, nn.Linear]
# The book's printout for one 1x1x224x224 image: each top-level child's output shape.
TEXTBOOK_ROWS = [
    ("Sequential", [1, 64, 112, 112]),
    ("Sequential", [1, 128, 56, 56]),
    ("Sequential", [1, 256, 28, 28]),
    ("Sequential", [1, 512, 14, 14]),
    ("Sequential", [1, 512, 7, 7]),
    ("Flatten", [1, 25088]),
    ("Linear", [1, 4096]),
    ("ReLU", [1, 4096]),
    ("Dropout", [1, 4096]),
    ("Linear", [1, 4096]),
    ("ReLU", [1, 4096]),
    ("Dropout", [1, 4096]),
    ("Linear", [1, 10]),
]


def test_build_gives_the_books_network_its_printout_and_its_parameter_count():
    net = build("d2l_vgg11", backend="paddle")
    assert [type(child) for child in net.children()] == TEXTBOOK_CHILDREN
    x, rows = paddle.rand([1, 1, 224, 224]), []
    net.eval()
    for child in net.children():
        x = child(x)
        rows.append((type(child).__name__, list(x.shape)))
    assert rows == TEXTBOOK_ROWS
    assert paddle_backend.param_count(net) == 128_806_154
    block = list(net.children())[2]
    assert [type(layer) for layer in block.children()] == [nn.Conv2D, nn.ReLU, nn.Conv2D, nn.ReLU, nn.MaxPool2D]


def test_dense_weights_are_transposed_and_batch_norm_renamed_both_ways():
    network = lower(preset("d2l_vgg11").scaled(16).with_options(head=(32,), input_size=32, batch_norm=True))
    weights = initial_weights(network, "kaiming", seed=1)
    weights["0.1.running_mean"] = np.arange(4, dtype=np.float32)
    net = paddle_backend.compile_network(network)
    paddle_backend.load_numpy_state(net, weights)
    own = net.state_dict()
    np.testing.assert_array_equal(own["0.1._mean"].numpy(), np.arange(4, dtype=np.float32))
    dense = next(name for name in weights if name.endswith(".weight") and weights[name].ndim == 2)
    np.testing.assert_array_equal(own[dense].numpy(), weights[dense].T)  # PaddlePaddle's Linear: (in, out)
    state = paddle_backend.state_to_numpy(net)
    assert state.keys() == weights.keys()
    assert all(np.array_equal(state[k], weights[k]) for k in weights)


def test_training_steps_fit_a_fixed_batch(fixed_batch):
    spec, fit_fixed_batch = fixed_batch
    first, last, correct = fit_fixed_batch(paddle_backend.Runner(lower(spec), device="cpu", seed=0))
    assert last < 0.05 * first
    assert correct == 32


def test_momentum_buffers_survive_a_checkpoint():
    network = lower(preset("d2l_vgg11").scaled(16).with_options(head=(32,), input_size=32, dropout=0.0))
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 1, 32, 32), dtype=np.float32), rng.integers(0, 10, 8)
    runners = [paddle_backend.Runner(network, device="cpu") for _ in range(2)]
    for runner in runners:
        runner.load_state(initial_weights(network, "xavier", 0))
        runner.set_optimizer(0.05, momentum=0.9)
    runners[0].train_step(x, y)
    runners[1].load_state(runners[0].state())
    runners[1].load_optimizer_state(runners[0].optimizer_state())
    for runner in runners:
        runner.train_step(x, y)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(*(r.state().values() for r in runners), strict=True))


def test_to_static_computes_what_the_dynamic_graph_computes():
    network = lower(preset("d2l_vgg11").scaled(16).with_options(head=(32,), input_size=32, dropout=0.0))
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 1, 32, 32), dtype=np.float32), rng.integers(0, 10, 8)
    results = []
    for to_static in (False, True):
        runner = paddle_backend.make_runner(network, device="cpu", seed=0, options={"to_static": to_static})
        assert runner.fast == {"to_static": to_static}
        runner.load_state(initial_weights(network, "xavier", 0))
        runner.set_optimizer(0.05)
        losses = [runner.train_step(x, y)[0] for _ in range(3)]
        results.append((losses, runner.state(), runner.predict(x)))
    (losses, state, logits), (static_losses, static_state, static_logits) = results
    assert losses[-1] < losses[0] and np.allclose(losses, static_losses, rtol=1e-5)
    assert all(np.allclose(state[k], static_state[k], atol=1e-6) for k in state)
    np.testing.assert_allclose(logits, static_logits, rtol=1e-5, atol=1e-6)


def test_batch_norm_keeps_pytorchs_unbiased_running_variance():
    layer = paddle_backend.compile_network(lower(preset("vgg11_bn").scaled(16).with_options(input_size=32)))[0][1]
    x = paddle.to_tensor(np.random.default_rng(0).random((4, 4, 8, 8), dtype=np.float32))
    layer.train()
    layer(x)
    values = x.numpy().transpose(1, 0, 2, 3).reshape(4, -1)
    expected = 0.9 * 1.0 + 0.1 * values.var(axis=1, ddof=1)  # PyTorch: momentum 0.1 on the unbiased variance
    np.testing.assert_allclose(layer._variance.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(layer._mean.numpy(), 0.1 * values.mean(axis=1), rtol=1e-5)


def test_devices_resolve_or_fail_clearly():
    assert paddle_backend.resolve_device("cpu") == "cpu"
    assert paddle_backend.resolve_device("auto") in ("cpu", "gpu:0")
    with pytest.raises(DeviceError, match="unknown device 'tpu' for the paddle backend"):
        paddle_backend.resolve_device("tpu")
    if not paddle.device.is_compiled_with_cuda():
        with pytest.raises(DeviceError, match="sees no GPU: use --device cpu"):
            paddle_backend.resolve_device("gpu")
