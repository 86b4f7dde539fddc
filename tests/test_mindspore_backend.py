"""The MindSpore adapter: the textbook's structure, the static shapes and counts, modes, devices."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from d2lvgg import DeviceError, build, preset
from d2lvgg.model.initializers import initial_weights
from d2lvgg.model.ir import lower

pytestmark = pytest.mark.mindspore
ms = pytest.importorskip("mindspore")
from mindspore import nn  # noqa: E402

from d2lvgg.backends import get_backend  # noqa: E402

mindspore_backend = get_backend("mindspore")  # sets MindSpore's environment first
from d2lvgg.backends.mindspore.device import _available  # noqa: E402

TEXTBOOK_CHILDREN = [nn.SequentialCell] * 5 + [nn.Flatten, nn.Dense, nn.ReLU, nn.Dropout] + [nn.Dense, nn.ReLU]
TEXTBOOK_CHILDREN += [nn.Dropout, nn.Dense]


def test_build_gives_the_textbooks_top_level_children_with_explicit_arguments():
    net = build("d2l_vgg11", backend="mindspore")
    assert isinstance(net, nn.SequentialCell)
    assert len(net) == len(TEXTBOOK_CHILDREN)
    assert all(isinstance(net[i], kind) for i, kind in enumerate(TEXTBOOK_CHILDREN))  # dropout: a subclass
    block = net[2]
    assert [type(block[i]) for i in range(len(block))] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    conv = block[0]
    assert conv.pad_mode == "pad" and conv.padding == 1 and conv.has_bias
    assert net[8].p == 0.5


def test_the_mindspore_editions_network_has_no_conv_bias_and_fewer_parameters():
    ours, edition = build("d2l_vgg11", backend="mindspore"), build("d2l_vgg11_ms", backend="mindspore")
    assert mindspore_backend.param_count(ours) == 128_806_154
    assert mindspore_backend.param_count(edition) == 128_806_154 - (64 + 128 + 2 * 256 + 4 * 512)
    assert not edition[0][0].has_bias


def test_batch_norm_uses_pytorch_momentum_and_neutral_names():
    spec = preset("d2l_vgg11_small").with_options(batch_norm=True, input_size=32)
    net = mindspore_backend.compile_network(lower(spec))
    bn = net[0][1]
    assert isinstance(bn, nn.BatchNorm2d) and "momentum=0.9" in repr(bn)  # MindSpore's 0.9 = PyTorch's 0.1
    weights = initial_weights(lower(spec), "xavier", seed=1)
    weights["0.1.running_mean"] = np.arange(16, dtype=np.float32)
    mindspore_backend.load_numpy_state(net, weights)
    state = mindspore_backend.state_to_numpy(net)
    assert state.keys() == weights.keys()
    assert all(np.array_equal(state[k], weights[k]) for k in weights)


@pytest.mark.parametrize("mode", ["graph", "pynative"])
def test_training_steps_fit_a_fixed_batch_in_both_modes(mode, fixed_batch):
    spec, fit_fixed_batch = fixed_batch
    runner = mindspore_backend.Runner(lower(spec), device="cpu", seed=0, mode=mode)
    assert runner.device_label == f"cpu ({mode} mode)"
    assert ms.get_context("mode") == mindspore_backend.MODES[mode]
    first, last, correct = fit_fixed_batch(runner)
    assert last < 0.05 * first
    assert correct == 32


def test_graph_and_pynative_take_the_same_step():
    network = lower(preset("d2l_vgg11").scaled(16).with_options(head=(64,), input_size=32, dropout=0.0))
    weights = initial_weights(network, "xavier", 0)
    rng = np.random.default_rng(1)
    x, y = rng.random((16, 1, 32, 32), dtype=np.float32), rng.integers(0, 10, 16)
    after = []
    for mode in ("graph", "pynative"):
        runner = mindspore_backend.Runner(network, device="cpu", mode=mode)
        runner.load_state(weights)
        runner.set_optimizer(0.05)
        runner.train_step(x, y)
        after.append(runner.state())
    assert all(np.allclose(after[0][k], after[1][k], atol=1e-6) for k in weights)
    assert not np.allclose(after[0]["0.0.weight"], weights["0.0.weight"])


def test_devices_resolve_or_fail_clearly():
    assert mindspore_backend.resolve_device("cpu") == "CPU"
    assert mindspore_backend.resolve_device("auto") in ("Ascend", "GPU", "CPU")
    with pytest.raises(DeviceError, match="unknown device 'cuda' for the mindspore backend"):
        mindspore_backend.resolve_device("cuda")
    for name, target in (("gpu", "GPU"), ("ascend", "Ascend")):
        if not _available(target):
            with pytest.raises(DeviceError, match=f"device '{name}' asked for, but this MindSpore build cannot"):
                mindspore_backend.resolve_device(name)


@pytest.mark.ascend
def test_ascend_runs_a_training_step():
    network = lower(preset("d2l_vgg11").scaled(16).with_options(head=(64,), input_size=32))
    runner = mindspore_backend.Runner(network, device="ascend")
    runner.set_optimizer(0.05)
    loss, _ = runner.train_step(np.zeros((8, 1, 32, 32), np.float32), np.zeros(8, np.int64))
    assert np.isfinite(loss) and runner.device_label.startswith("ascend")


def test_a_failed_graph_compile_dumps_into_the_temp_folder_not_the_working_one(tmp_path):
    script = """
import numpy as np
from d2lvgg.backends import get_backend
get_backend("mindspore")
import mindspore as ms
ms.set_context(mode=ms.GRAPH_MODE)
class Broken(ms.nn.Cell):
    def construct(self, x):
        return x + no_such_name
try:
    Broken()(ms.Tensor(np.ones(3, np.float32)))
except NameError:
    print("compile failed")
"""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MS_OM_PATH"} | {"TMPDIR": str(temp)}
    (tmp_path / "broken.py").write_text(script)  # graph mode parses the cell's source: it needs a file
    done = subprocess.run([sys.executable, "broken.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "compile failed" in done.stdout, done.stderr[-2000:]
    assert not (tmp_path / "rank_0").exists()
    assert (temp / "d2lvgg-mindspore" / "rank_0" / "om" / "analyze_fail.ir").is_file()
