"""The PyTorch adapter: the textbook's structure, the static shapes and counts, init, devices."""

from __future__ import annotations

import numpy as np
import pytest

from d2lvgg import DeviceError, build, preset
from d2lvgg.model.initializers import initial_weights
from d2lvgg.model.ir import lower

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from d2lvgg.backends.torch import backend as torch_backend  # noqa: E402

TEXTBOOK_CHILDREN = [nn.Sequential] * 5 + [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout] + [nn.Linear, nn.ReLU]
TEXTBOOK_CHILDREN += [nn.Dropout, nn.Linear]


def test_build_gives_the_textbooks_top_level_children():
    net = build("d2l_vgg11", backend="torch")
    assert isinstance(net, nn.Sequential)
    assert [type(child) for child in net] == TEXTBOOK_CHILDREN
    assert [type(layer) for layer in net[2]] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    conv = net[0][0]
    assert (conv.kernel_size, conv.padding, conv.stride, conv.bias is not None) == ((3, 3), (1, 1), (1, 1), True)
    assert net[8].p == 0.5


def test_xavier_init_is_seeded_bounded_and_loads_exactly():
    network = lower(preset("d2l_vgg11_small"))
    weights = initial_weights(network, "xavier", seed=3)
    again = initial_weights(network, "xavier", seed=3)
    assert all(np.array_equal(weights[name], again[name]) for name in weights)
    assert not np.array_equal(weights["0.0.weight"], initial_weights(network, "xavier", 4)["0.0.weight"])
    w = weights["6.weight"]
    bound = np.sqrt(6 / (w.shape[0] + w.shape[1]))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound

    runner = torch_backend.Runner(network, device="cpu")
    runner.load_state(weights)
    state = runner.state()
    assert state.keys() == weights.keys()
    assert all(np.array_equal(state[k], weights[k]) for k in weights)


def test_framework_default_and_kaiming_are_available_and_differ():
    network = lower(preset("d2l_vgg11_small"))
    default = torch_backend.Runner(network, device="cpu", seed=0).state()["0.0.weight"]
    kaiming = initial_weights(network, "kaiming", 0)["0.0.weight"]
    xavier = initial_weights(network, "xavier", 0)["0.0.weight"]
    fan_in = 9  # 1 channel x 3 x 3
    assert np.abs(default).max() <= 1 / np.sqrt(fan_in)  # PyTorch's own kaiming_uniform(a=sqrt(5))
    assert np.abs(kaiming).max() > np.abs(xavier).max()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_training_steps_fit_a_fixed_batch_with_any_thread_count(threads, fixed_batch):
    spec, fit_fixed_batch = fixed_batch
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runner = torch_backend.Runner(lower(spec), device="cpu", seed=0)
        first, last, correct = fit_fixed_batch(runner)
    finally:
        torch.set_num_threads(before)
    assert last < 0.05 * first
    assert correct == 32


def test_devices_resolve_or_fail_clearly():
    assert torch_backend.resolve_device("cpu").type == "cpu"
    assert torch_backend.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        torch_backend.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="sees no CUDA GPU: use --device cpu"):
            torch_backend.resolve_device("cuda")
    with pytest.raises(DeviceError, match="does not exist|sees no CUDA GPU"):
        torch_backend.resolve_device(f"cuda:{max(torch.cuda.device_count(), 1) + 7}")


@pytest.mark.gpu
def test_cuda_step_agrees_with_cpu():
    network = lower(preset("d2l_vgg11").scaled(16).with_options(head=(64,), input_size=32))
    weights = initial_weights(network, "xavier", 0)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 1, 32, 32), dtype=np.float32), rng.integers(0, 10, 16)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    losses = []
    for device in ("cpu", "cuda"):
        runner = torch_backend.Runner(network, device=device)
        runner.load_state(weights)
        runner.set_optimizer(0.05)
        runner.model.eval()
        losses.append(runner.evaluate(x, y)[0])
    assert runner.device_label == "cuda:0"
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
