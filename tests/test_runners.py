"""Every backend's runner: weights in and out, a fit, optimizer state, devices; then what one framework alone has.

One suite, run once per backend and per runner variant (``frameworks.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from frameworks import BACKENDS, EXPECT, network_module
from natives import NATIVE

from d2lvgg import DeviceError, preset
from d2lvgg.backends import get_backend, plain_options, resolve_options
from d2lvgg.data.pipeline import batches
from d2lvgg.model.initializers import initial_weights
from d2lvgg.model.ir import lower

TINY = preset("d2l_vgg11").scaled(16).with_options(head=(32,), input_size=32, dropout=0.0)


@pytest.fixture(params=BACKENDS)
def name(request) -> str:
    return request.param


def _variants(name: str) -> list[dict]:
    return [resolve_options(name, variant) for variant in EXPECT[name].variants]


def _runner(name: str, spec=TINY, options: dict | None = None):
    options = resolve_options(name, {}) if options is None else options
    return get_backend(name).make_runner(lower(spec), device="cpu", seed=0, options=options)


def _batch(n: int = 8, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 1, size, size), dtype=np.float32), rng.integers(0, 10, n)


def test_training_steps_fit_a_fixed_batch_in_every_variant(name, fixed_batch):
    spec, fit_fixed_batch = fixed_batch
    for options in _variants(name):
        first, last, correct = fit_fixed_batch(_runner(name, spec, options))
        assert last < 0.05 * first, options
        assert correct == 32, options


def test_every_variant_takes_the_same_steps(name):
    x, y = _batch()
    weights = initial_weights(lower(TINY), "xavier", 0)
    results = []
    for options in _variants(name):
        runner = _runner(name, options=options)
        runner.load_state(weights)
        runner.set_optimizer(0.05)
        losses = [runner.fetch(list(runner.train_step(x, y)))[0] for _ in range(3)]
        results.append((losses, runner.state(), runner.predict(x)))
    (losses, state, logits), *others = results
    assert losses[-1] < losses[0]
    for other_losses, other_state, other_logits in others:
        np.testing.assert_allclose(other_losses, losses, rtol=1e-5)
        assert all(np.allclose(other_state[k], state[k], atol=1e-6) for k in state)
        np.testing.assert_allclose(other_logits, logits, rtol=1e-5, atol=1e-6)


def test_weights_load_exactly_under_neutral_and_own_names(name):
    backend = get_backend(name)
    spec = TINY.with_options(batch_norm=True)
    weights = initial_weights(lower(spec), "xavier", seed=1)
    weights["0.1.running_mean"] = np.arange(4, dtype=np.float32)
    net = backend.load_numpy_state(backend.compile_network(lower(spec)), weights)
    own = NATIVE[name].own_state(net)
    np.testing.assert_array_equal(own[f"0.1.{EXPECT[name].running_mean}"], weights["0.1.running_mean"])
    dense = own[EXPECT[name].first_dense]
    assert dense.shape in (weights["6.weight"].shape, weights["6.weight"].T.shape)  # PaddlePaddle's, Keras's: (in, out)
    state = backend.state_to_numpy(net)
    assert state.keys() == weights.keys()
    assert all(np.array_equal(state[k], weights[k]) for k in weights)
    runner = _runner(name, spec)
    runner.load_state(weights)
    assert all(np.array_equal(runner.state()[k], weights[k]) for k in weights)


def test_momentum_buffers_survive_a_checkpoint(name):
    x, y = _batch()
    runners = [_runner(name) for _ in range(2)]
    for runner in runners:
        runner.load_state(initial_weights(lower(TINY), "xavier", 0))
        runner.set_optimizer(0.05, momentum=0.9)
    runners[0].train_step(x, y)
    runners[1].load_state(runners[0].state())
    runners[1].load_optimizer_state(runners[0].optimizer_state())
    for runner in runners:
        runner.train_step(x, y)
    first, second = (runner.state() for runner in runners)
    assert all(np.allclose(first[k], second[k], atol=1e-6) for k in first)


def test_devices_resolve_or_fail_clearly(name):
    backend, e = get_backend(name), EXPECT[name]
    backend.resolve_device("cpu")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        backend.resolve_device("tpu")
    if not backend.has_accelerator("auto"):
        with pytest.raises(DeviceError, match=e.no_accelerator):
            backend.resolve_device(e.accelerator)


def _uint8_images(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Random 28x28 uint8 images over the whole range, with labels: what the resize must carry exactly."""
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


def test_the_devices_batches_are_the_numpy_pipelines_at_every_size(name):
    images, labels = _uint8_images()
    runner = _runner(name)
    assert runner.fast["device_data"]
    for size in (28, 32, 96):  # as stored, the reduced network's, the small VGG-11's
        ours = runner.data(images, labels, size).batches(batch_size=128, shuffle=True, seed=3, epoch=2)
        reference = batches(images, labels, batch_size=128, resize=size, shuffle=True, seed=3, epoch=2)
        for (x, y), (ref_x, ref_y) in zip(ours, reference, strict=True):
            x = np.asarray(x)
            assert x.shape == ref_x.shape and x.dtype == np.float32, size
            assert np.array_equal(np.asarray(y), ref_y), size
            assert np.abs(x - ref_x).max() <= 2e-7, size  # float32 rounding of the same matrix products


@pytest.mark.mindspore
def test_mindspores_gather_graph_for_an_accelerator_gives_the_numpy_pipelines_batches_too():
    """On a CPU MindSpore's feed gathers in numpy (the host is its device); on Ascend or a GPU a graph does."""
    import mindspore as ms

    from d2lvgg.backends.feed import DeviceFeed
    from d2lvgg.backends.mindspore.runner import _Gather

    assert _runner("mindspore").on_host  # this machine's: so the graph is checked here directly
    images, labels = _uint8_images()
    for size in (28, 32):
        feed = DeviceFeed(images, labels, size, put=ms.Tensor, gather=_Gather(resize=size != 28))
        ours = feed.batches(batch_size=128, shuffle=True, seed=3, epoch=2)
        reference = batches(images, labels, batch_size=128, resize=size, shuffle=True, seed=3, epoch=2)
        for (x, y), (ref_x, ref_y) in zip(ours, reference, strict=True):
            assert np.array_equal(y.asnumpy(), ref_y) and np.abs(x.asnumpy() - ref_x).max() <= 2e-7, size


def test_a_step_on_the_devices_batch_is_a_step_on_the_numpy_batch_and_plain_feeds_numpy(name):
    images, labels = _uint8_images(64)
    fast, plain = _runner(name), _runner(name, options=plain_options(name))
    assert plain.data(images, labels, 32) is None
    assert not plain.fast["device_data"] and not plain.fast.get("lazy_metrics", False)
    results = []
    for runner, (x, y) in [
        (fast, next(fast.data(images, labels, 32).batches(batch_size=64, shuffle=False, seed=0, epoch=0))),
        (plain, next(batches(images, labels, batch_size=64, resize=32, shuffle=False, seed=0, epoch=0))),
    ]:
        runner.load_state(initial_weights(lower(TINY), "xavier", 0))
        runner.set_optimizer(0.05)
        results.append((runner.fetch(list(runner.train_step(x, y))), runner.state()))
    (metrics, state), (plain_metrics, plain_state) = results
    np.testing.assert_allclose(metrics, plain_metrics, rtol=1e-5)
    assert all(np.allclose(state[k], plain_state[k], atol=1e-6) for k in state)


def test_the_frameworks_own_minimal_step_trains_its_batch(name):
    x, y = _batch(32)
    step, read, _ = get_backend(name).minimal_step(lower(TINY), x, y, "cpu")
    first = read(step())
    for _ in range(30):
        last = step()
    assert read(last) < first - 0.01  # the benchmark's yardstick is a real SGD step on its one batch


# What one framework alone has.


@pytest.mark.mindspore
def test_the_mindspore_runner_seeds_dropout_without_changing_the_printout():
    backend = get_backend("mindspore")
    spec = preset("d2l_vgg11_small").with_options(input_size=32, head=(64, 64))
    runner = _runner("mindspore", spec)
    dropouts = [line.strip() for line in repr(runner.model).splitlines() if "Dropout" in line]
    assert dropouts == ["(8): Dropout(p=0.5)", "(11): Dropout(p=0.5)"]
    assert {n for n, _ in runner.model.parameters_and_names()} >= {"8.mask", "11.mask"}
    assert "8.mask" not in runner.state() and "8.mask" not in backend.state_to_numpy(runner.model)
    net = network_module("mindspore").vgg([(1, 16)])
    assert type(NATIVE["mindspore"].children(net)[4]).__module__.startswith("mindspore")  # the framework's own


@pytest.mark.mindspore
def test_a_failed_mindspore_graph_compile_dumps_into_the_temp_folder_not_the_working_one(tmp_path):
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


@pytest.mark.paddle
def test_paddle_batch_norm_keeps_pytorchs_unbiased_running_variance():
    import paddle

    layer = get_backend("paddle").compile_network(lower(preset("vgg11_bn").scaled(16).with_options(input_size=32)))[0][
        1
    ]
    x = paddle.to_tensor(np.random.default_rng(0).random((4, 4, 8, 8), dtype=np.float32))
    layer.train()
    layer(x)
    values = x.numpy().transpose(1, 0, 2, 3).reshape(4, -1)
    own = NATIVE["paddle"].own_state(layer)
    np.testing.assert_allclose(own["_variance"], 0.9 + 0.1 * values.var(axis=1, ddof=1), rtol=1e-5)  # PyTorch's
    np.testing.assert_allclose(own["_mean"], 0.1 * values.mean(axis=1), rtol=1e-5)


@pytest.mark.mindspore
def test_mindspore_thread_pools_keep_a_setting_made_before():
    import mindspore as ms

    from d2lvgg.backends.mindspore import device

    device._set_once(ms.runtime.dispatch_threads_num, 1)  # made once already in this process, or now
    device._size_thread_pools()  # the public setters refuse a second call; that refusal is what is caught
    with pytest.raises(RuntimeError, match="can not be set repeatedly"):
        ms.runtime.dispatch_threads_num(2)
    with pytest.raises(ValueError, match="other"):
        device._set_once(lambda value: (_ for _ in ()).throw(ValueError("other")), 1)


@pytest.mark.paddle
def test_paddle_optimizer_buffers_sit_where_d2lvgg_reads_them(monkeypatch):
    import paddle

    from d2lvgg.backends.paddle import optimizer_buffers
    from d2lvgg.errors import BackendError

    runner = _runner("paddle")
    runner.set_optimizer(0.05, momentum=0.9)
    runner.train_step(*_batch())
    table = optimizer_buffers.require_internals(runner.optimizer)
    params = runner.model.parameters()
    assert set(table) == {"velocity"} and set(table["velocity"]) == {p.name for p in params}
    saved = optimizer_buffers.save_buffers(runner.optimizer, params)
    assert sorted(saved) == sorted(f"velocity.{i}" for i in range(len(params)))
    monkeypatch.delattr(paddle.optimizer.Optimizer, "_add_accumulator")
    with pytest.raises(BackendError, match="keeps its optimizer buffers differently"):
        optimizer_buffers.require_internals(runner.optimizer)


@pytest.mark.torch
def test_torch_framework_default_init_is_pytorchs_own():
    default = _runner("torch", preset("d2l_vgg11_small"), resolve_options("torch", {})).state()["0.0.weight"]
    assert np.abs(default).max() <= 1 / np.sqrt(9)  # kaiming_uniform(a=sqrt(5)) over 1 x 3 x 3 inputs


@pytest.mark.torch
@pytest.mark.gpu
def test_cuda_step_agrees_with_cpu():
    import torch

    network = lower(preset("d2l_vgg11").scaled(16).with_options(head=(64,), input_size=32))
    weights = initial_weights(network, "xavier", 0)
    x, y = _batch(16)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    losses = []
    for device in ("cpu", "cuda"):
        runner = get_backend("torch").make_runner(network, device=device, seed=0, options=resolve_options("torch", {}))
        runner.load_state(weights)
        losses.append(runner.evaluate(x, y)[0])
    assert runner.device_label == "cuda:0"
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)


@pytest.mark.mindspore
@pytest.mark.ascend
def test_ascend_runs_a_training_step():
    options = resolve_options("mindspore", {"ms_mode": "graph"})
    runner = get_backend("mindspore").make_runner(lower(TINY), device="ascend", seed=0, options=options)
    runner.set_optimizer(0.05)
    loss, _ = runner.train_step(np.zeros((8, 1, 32, 32), np.float32), np.zeros(8, np.int64))
    assert np.isfinite(loss) and runner.device_label.startswith("ascend")


@pytest.mark.paddle
def test_loading_paddle_shows_no_ccache_warning():
    script = "import warnings\nwarnings.simplefilter('default')\nfrom d2lvgg.backends import get_backend\n"
    script += "get_backend('paddle')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ccache" not in done.stderr
