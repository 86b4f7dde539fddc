"""`d2lvgg bench`: both loops measured in fresh processes, medians, JSON and the closing line."""

from __future__ import annotations

import json
import re
import time

import pytest

from d2lvgg import ConfigError
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.model.specfile import resolve_spec
from d2lvgg.tools.bench import BenchConfig, measure, run_bench, time_steps
from d2lvgg.tools.bench.measure import BUSY_LOAD
from d2lvgg.tools.cli import main

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}"),
]
TINY = resolve_spec("d2l_vgg11", ratio=16, head=(64,), input_size=32).to_dict()


def test_bench_measures_both_loops_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = [
        "bench",
        "--arch",
        "d2l_vgg11",
        "--ratio",
        "16",
        "--head",
        "64",
        "--resize",
        "32",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--repeats",
        "2",
        "--workers",
        "1",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    pattern = r"torch cpu: d2lvgg ([\d.]+) ex/s, textbook loop ([\d.]+) ex/s, speedup ([\d.]+)x"
    match = re.match(pattern + r" \(rounds ([\d.]+)-([\d.]+)x\)(; under load \(.*\): not a quiet figure)?$", last)
    assert match, last
    ours, book, speedup, low, high = map(float, match.groups()[:5])
    assert speedup == pytest.approx(ours / book, rel=0.01) and low <= high
    record = json.loads(out.read_text())
    assert (match[6] is not None) == (record["load_before"] >= BUSY_LOAD)  # a busy machine is named, a quiet one not
    assert all("load" in run for result in record["results"] for run in result["repeats"])
    assert record["summary"] == last and [r["loop"] for r in record["results"]] == ["d2lvgg", "textbook"]
    for result in record["results"]:
        assert len(result["repeats"]) == 2 and result["peak_memory_mb"] > 0 and result["epoch_seconds"] > 0
        assert result["compute_examples_per_sec"] >= result["examples_per_sec"] * 0.99  # steps only: never slower
    assert record["results"][0]["fast"]["device_data"] is True and record["results"][1]["fast"] == {}


def test_bench_of_mindspore_measures_d2lvgg_only_and_the_textbook_loop_is_torch_only():
    config = BenchConfig(TINY, backend="mindspore", steps=1, warmup=0, repeats=1)
    with pytest.raises(ConfigError, match="re-created for PyTorch only"):
        measure("textbook", config)
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        BenchConfig(TINY, steps=0)


def test_a_failing_loop_names_itself():
    with pytest.raises(ConfigError, match="the d2lvgg loop failed: DeviceError"):
        run_bench(BenchConfig(TINY, device="cuda:7", steps=1, warmup=0, repeats=1))


def test_a_whole_epoch_is_timed_on_a_fresh_pass_after_the_warm_up_pass_ends():
    passes, closed, seen = [], [], []

    def make(epoch):  # stands in for a loader: 5 batches of 10 and 1 of 3 per pass
        passes.append(epoch)
        try:
            for b in range(6):
                yield (epoch, b), [0] * (3 if b == 5 else 10)
        finally:
            closed.append(epoch)

    def step(x, y):
        seen.append(x)

    timing = time_steps(make, _timed(step), BenchConfig(TINY, steps=None, warmup=2))
    assert passes == [0, 1] and closed == [0, 1]  # the warm-up pass ended before the timed one began
    assert seen == [(0, 0), (0, 1)] + [(1, b) for b in range(6)]
    assert timing["compute_examples_per_sec"] >= timing["examples_per_sec"] > 0

    seen.clear()
    time_steps(make, _timed(step), BenchConfig(TINY, steps=7, warmup=2))
    assert seen == [(0, b) for b in range(6)] + [(1, 0), (1, 1), (1, 2)]  # steps run on across passes


def _timed(step):
    """A loop over batches calling ``step`` on each, returning the seconds spent inside the steps."""

    def steps(batches):
        seconds = 0.0
        for x, y in batches:
            tic = time.perf_counter()
            step(x, y)
            seconds += time.perf_counter() - tic
        return seconds

    return steps
