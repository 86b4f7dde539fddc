"""The thread policy: the user's pin first, else a timed probe whose choice and reason the run records."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from d2lvgg import ConfigError
from d2lvgg.backends.base import World
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.training.threads import (
    ENVIRONMENT,
    FIXED_AT_START,
    ThreadChoice,
    ThreadWatch,
    choose_threads,
    cores,
    pinned,
    probe,
    resumed_threads,
)
from d2lvgg.training.weights import load_weights

pytestmark = pytest.mark.serial  # the probe times steps: never beside another test


def test_a_pin_wins_in_order_flag_then_d2lvgg_variable_then_the_frameworks_own():
    assert pinned(3, {ENVIRONMENT: "1", "OMP_NUM_THREADS": "4"}) == ThreadChoice(3, "--threads 3")
    assert pinned(None, {ENVIRONMENT: "1", "OMP_NUM_THREADS": "4"}) == ThreadChoice(1, f"{ENVIRONMENT}=1")
    assert pinned(None, {"OMP_NUM_THREADS": "4"}) == ThreadChoice(
        None, "OMP_NUM_THREADS=4 set by you: left to the framework"
    )
    d2lvgg_set = {"OMP_NUM_THREADS": "4", "D2LVGG_ENVIRONMENT_SET": json.dumps({"OMP_NUM_THREADS": "4"})}
    assert pinned(None, d2lvgg_set) is None  # set by d2lvgg for a framework, not by the user
    assert pinned(None, {}) is None
    with pytest.raises(ConfigError, match=f"{ENVIRONMENT}='two' is not a thread count"):
        pinned(None, {ENVIRONMENT: "two"})


def test_the_probe_keeps_the_count_with_the_lower_median_after_its_warm_up_round():
    spinning = {4: [9.0, 0.50, 0.52, 0.51], 1: [9.0, 0.20, 0.21, 0.20]}  # four threads spin beside another job
    quiet = {4: [0.01, 0.06, 0.05, 0.05], 1: [9.0, 0.18, 0.19, 0.18]}
    # One timing fell between a neighbour's time slices: the best would have kept four threads.
    lucky_window = {4: [9.0, 0.05, 0.50, 0.52], 1: [9.0, 0.20, 0.21, 0.20]}
    for timings, expected in ((spinning, 1), (quiet, 4), (lucky_window, 1)):
        calls = {count: iter(times) for count, times in timings.items()}
        choice = probe(lambda count, calls=calls: next(calls[count]), 4, examples=64)
        assert choice.count == expected
        assert choice.why.startswith("probe: 4 thread(s) ")
        assert choice.speed == pytest.approx(64 / (0.05 if expected == 4 else 0.20))  # the chosen count's median


class _Runner:
    """A runner whose thread setting is recorded, and whose forward pass takes no time worth timing."""

    device_label = "cpu"

    def __init__(self, settable: bool = True, world: World | None = None) -> None:
        self.settable, self.world, self.counts = settable, world or World(), []

    def set_threads(self, count: int) -> bool:
        self.counts.append(count)
        return self.settable

    def train_step(self, x, y):
        return np.float32(0), np.int64(len(y))

    def state(self):
        return {}

    def optimizer_state(self):
        return {}

    def load_state(self, arrays):
        assert arrays == {}

    def load_optimizer_state(self, arrays):
        assert arrays == {}

    def fetch(self, values):
        return [float(v) for v in values]


@pytest.fixture
def unpinned(monkeypatch):
    """No pin from the shell that runs the tests: neither $D2LVGG_THREADS nor a framework's own variable."""
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    monkeypatch.setattr("d2lvgg.training.threads.USER_ENVIRONMENT", {})


@pytest.fixture
def short_probe(monkeypatch):
    """Timings of one step or so: these tests check what the probe chooses and records, not how well it measures."""
    monkeypatch.setattr("d2lvgg.training.threads.PROBE_SECONDS", 0.01)


def test_choose_threads_probes_applies_and_says_why(unpinned, short_probe, monkeypatch):
    monkeypatch.setattr("d2lvgg.training.threads.cores", lambda: 2)
    runner = _Runner()
    choice = choose_threads(runner, None, (np.zeros((4, 1, 8, 8)), np.zeros(4)))
    assert choice.count in (1, 2) and choice.why.startswith("probe: 2 thread(s) ")
    assert runner.counts[-1] == choice.count and set(runner.counts) == {1, 2}

    fixed = choose_threads(_Runner(settable=False), None, (np.zeros((4, 1, 8, 8)), np.zeros(4)))
    assert fixed == ThreadChoice(None, "this framework sizes its thread pools once, when it starts")
    shared = _Runner(world=World(0, 2))
    assert choose_threads(shared, None, (None, None)).count == 1 and shared.counts == [1]
    assert (
        resumed_threads(_Runner(), {"count": 1, "why": "probe: ..."}, None).why
        == "kept from the run's start (probe: ...)"
    )


def test_steps_much_slower_than_before_try_the_other_count_and_keep_the_faster():
    """Stretches of steps given as (examples, seconds): what the watch does with them, not how they are timed."""
    counts: list[int] = []
    watch = ThreadWatch(ThreadChoice(2, "probe: ...", probed=True), counts.append, available=2)
    assert [watch.after_steps(speed, 1.0) for speed in (100, 120)] == [None, None]  # one stretch of 2 s: 110 ex/s
    assert [watch.after_steps(2 * speed, 2.0) for speed in (100, 120, 80)] == [None, None, None]  # 80 >= 0.6 x 120
    assert counts == []
    assert watch.after_steps(2 * 30, 2.0) is None and counts == []  # one slow stretch alone may be a one-off
    assert watch.after_steps(2 * 100, 2.0) is None and counts == []  # it was: the next is as fast as before
    assert watch.after_steps(2 * 30, 2.0) is None and counts == []
    assert watch.after_steps(2 * 60, 2.0) is None and counts == [1]  # two in a row < 0.6 x 120: a stretch on 1
    changed = watch.after_steps(2 * 90, 2.0)
    assert changed == ThreadChoice(
        1, "steps at 60 ex/s on 2 thread(s), against 120 before; 1 thread(s) then gave 90", probed=True
    )
    assert [watch.after_steps(2 * 85, 2.0) for _ in range(14)] == [None] * 14 and counts == [1]  # 28 s on 1
    assert watch.after_steps(2 * 85, 2.0) is None and counts == [1, 2]  # after 30 s, both cores tried again
    assert watch.after_steps(2 * 40, 2.0) is None and counts == [1, 2, 1]  # slower there: back to 1
    assert watch.after_steps(2 * 80, 2.0) is None and counts == [1, 2, 1]  # 80 >= 0.6 x 85: no new trial
    assert watch.choice.count == 1

    late: list[int] = []  # a neighbour came after the probe: the first stretches are already slow
    watch = ThreadWatch(ThreadChoice(2, "probe: ...", probed=True, speed=100.0), late.append, available=2)
    assert [watch.after_steps(2 * 50, 2.0) for _ in range(2)] == [None, None] and late == [1]

    lost: list[int] = []
    watch = ThreadWatch(ThreadChoice(2, "probe: ...", probed=True), lost.append, available=2)
    assert [watch.after_steps(2 * speed, 2.0) for speed in (100, 55, 50, 40, 45)] == [None] * 5
    assert lost == [1, 2]  # the trial on 1 (40) lost to 2 (50); 45 >= 0.6 x 50 starts no other
    for choice in (ThreadChoice(2, "--threads 2"), ThreadChoice(None, FIXED_AT_START)):
        untouched: list[int] = []
        watch = ThreadWatch(choice, untouched.append, available=2)
        assert [watch.after_steps(2 * speed, 2.0) for speed in (100, 1, 1)] == [None] * 3 and untouched == []


@pytest.mark.torch
@pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")
def test_a_count_kept_mid_epoch_is_said_and_recorded_with_the_ones_before(
    tmp_path, unpinned, short_probe, monkeypatch, capsys
):
    import torch

    monkeypatch.setattr("d2lvgg.training.threads.cores", lambda: 2)
    # Every stretch of steps counts as slow and every trial wins: the count changes every other read, no timing.
    for name, value in (("WINDOW_SECONDS", 0.0), ("SLOWDOWN", 1e9), ("KEEP_TRIAL", 0.0)):
        monkeypatch.setattr(f"d2lvgg.training.threads.{name}", value)
    before, out = torch.get_num_threads(), tmp_path / "run"
    argv = ["train", "--arch", "d2l_vgg11", "--ratio", "16", "--head", "64", "--resize", "32", "--device", "cpu"]
    argv += ["--epochs", "1", "--batch-size", "16", "--train-limit", "224", "--test-limit", "64", "--out", str(out)]
    try:
        assert main(argv) == 0
    finally:
        torch.set_num_threads(before)
    recorded = json.loads((out / "config.json").read_text())["threads"]
    assert re.fullmatch(
        r"steps at [\d,]+ ex/s on [12] thread\(s\), against [\d,]+ before; [12] thread\(s\) then gave [\d,]+",
        recorded["why"],
    )
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("threads: now ")]
    assert [earlier["why"][:7] for earlier in recorded["earlier"][:1]] == ["probe: "]  # the first choice, kept
    assert len(said) == len(recorded["earlier"]) == 2  # 7 reads: trials from the 2nd and 5th, kept at the next
    assert said[-1].startswith(f"threads: now {recorded['count']} (")  # the last one kept is the one recorded


@pytest.mark.torch
@pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")
def test_a_run_records_the_probed_threads_and_a_pin_is_applied_as_given(tmp_path, unpinned, short_probe):
    import torch

    before = torch.get_num_threads()
    out = tmp_path / "run"
    argv = ["train", "--arch", "d2l_vgg11", "--ratio", "16", "--head", "64", "--resize", "32", "--device", "cpu"]
    argv += ["--epochs", "1", "--train-limit", "256", "--test-limit", "128", "--out", str(out)]
    try:
        assert main(argv) == 0
        recorded = json.loads((out / "config.json").read_text())["threads"]
        assert recorded["count"] in (1, cores()) and recorded["why"].startswith("probe: ")
        count = recorded["count"]
        assert main([*argv[:-2], "--threads", str(count), "--out", str(tmp_path / "pinned")]) == 0
        pinned_record = json.loads((tmp_path / "pinned" / "config.json").read_text())["threads"]
        assert pinned_record == {"count": count, "why": f"--threads {count}"} and torch.get_num_threads() == count
        probed, pinned_weights = load_weights(out / "weights.npz"), load_weights(tmp_path / "pinned" / "weights.npz")
        assert all(np.array_equal(probed[k], pinned_weights[k]) for k in probed)  # the probe's steps were undone
    finally:
        torch.set_num_threads(before)


def test_a_process_computes_on_the_least_busy_cores_it_is_given_and_widens_again():
    from d2lvgg.backends.cores import can_confine, confine, started_cores

    if not can_confine() or started_cores() < 2:
        pytest.skip("needs Linux thread affinity and two cores")
    try:
        chosen = confine(1)
        assert len(chosen) == 1
        tasks = os.listdir("/proc/self/task")
        assert all(os.sched_getaffinity(int(task)) == set(chosen) for task in tasks)
        assert cores() == started_cores()  # the cores to choose from stay those the process started with
    finally:
        widened = confine(started_cores())
    assert os.sched_getaffinity(0) == set(widened) and len(widened) == started_cores()


# A framework whose pools are sized when it starts: the counts a pin of 1 is taken at (MindSpore sizes its pool to it).
SIZED_AT_START = [
    pytest.param("mindspore", {"ms_mode": "graph"}, [1], marks=pytest.mark.mindspore),
    pytest.param("tensorflow", {}, [], marks=pytest.mark.tensorflow),
    pytest.param("jax", {}, [], marks=pytest.mark.jax),
]


@pytest.mark.parametrize(("backend", "settings", "taken_as_pinned"), SIZED_AT_START)
def test_unpinned_pools_sized_at_start_compute_on_the_probed_cores(
    backend, settings, taken_as_pinned, unpinned, monkeypatch
):
    from d2lvgg.backends import get_backend, resolve_options
    from d2lvgg.backends.cores import can_confine, started_cores
    from d2lvgg.model.ir import lower
    from d2lvgg.model.presets import preset

    if not can_confine() or started_cores() < 2:
        pytest.skip("needs Linux thread affinity and two cores")
    spec = preset("d2l_vgg11").scaled(16).with_options(head=(64,), input_size=32)
    options = resolve_options(backend, settings)
    runner = get_backend(backend).make_runner(lower(spec), device="cpu", seed=0, options=options)
    try:
        assert runner.set_threads(1) and len(os.sched_getaffinity(0)) == 1
    finally:
        assert runner.set_threads(started_cores()) and len(os.sched_getaffinity(0)) == started_cores()
    monkeypatch.setenv(ENVIRONMENT, "1")  # a pin is the framework's to size its pools to, when it starts
    assert [count for count in (1, 2) if runner.set_threads(count)] == taken_as_pinned
    assert len(os.sched_getaffinity(0)) == started_cores()
