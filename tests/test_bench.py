"""`d2lvgg bench`: both loops measured in fresh processes, medians, JSON and the closing line."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from frameworks import BACKENDS

from d2lvgg import ConfigError
from d2lvgg.backends.cores import busy_cores
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.model.specfile import resolve_spec
from d2lvgg.tools.bench import BenchConfig, measure, run_bench, time_steps
from d2lvgg.tools.bench.competitors import competing_runs
from d2lvgg.tools.bench.measure import BUSY_CORES
from d2lvgg.tools.cli import main
from d2lvgg.training.threads import FIXED_AT_START

pytestmark = [
    pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}"),
    pytest.mark.serial,  # benchmarks time steps: never beside another test
]
TINY = resolve_spec("d2l_vgg11", ratio=16, head=(64,), input_size=32).to_dict()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bench_measures_both_loops_and_writes_json(backend, tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = [
        "bench",
        "--backend",
        backend,
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
    pattern = rf"{backend} cpu[^:]*: d2lvgg ([\d.]+) ex/s \((\d+|the framework's) threads\), "
    pattern += r"textbook loop ([\d.]+) ex/s, speedup ([\d.]+)x"
    match = re.match(pattern + r" \(rounds ([\d.]+)-([\d.]+)x\)(; under load \(.*\): not a quiet figure)?$", last)
    assert match, last
    ours, book, speedup, low, high = map(float, match.group(1, 3, 4, 5, 6))
    assert speedup == pytest.approx(ours / book, rel=0.01, abs=0.006) and low <= high  # printed to 2 decimals
    record = json.loads(out.read_text())
    assert (match[7] is not None) == (record["busy_before"] >= BUSY_CORES)  # a busy machine is named, a quiet one not
    assert all("load" in run for result in record["results"] for run in result["repeats"])
    assert record["summary"] == last and [r["loop"] for r in record["results"]] == ["d2lvgg", "textbook"]
    for result in record["results"]:
        assert len(result["repeats"]) == 2 and result["peak_memory_mb"] > 0 and result["epoch_seconds"] > 0
        assert result["compute_examples_per_sec"] >= result["examples_per_sec"] * 0.99  # steps only: never slower
    ours_record, book_record = record["results"]
    assert book_record["fast"] == {} and book_record["threads"]["count"] is None  # the book's: framework defaults
    pin = os.environ["D2LVGG_THREADS"]  # the suite's pin, taken as `d2lvgg train` takes it
    assert ours_record["threads"]["why"].startswith(f"D2LVGG_THREADS={pin}")
    fixed = ours_record["threads"]["count"] is None and ours_record["threads"]["why"].endswith(FIXED_AT_START)
    assert match[2] == pin or (match[2] == "the framework's" and fixed)


@pytest.mark.torch
def test_under_load_times_the_loop_beside_other_runs_and_stops_them(tmp_path, capsys):
    argv = ["bench", "--arch", "d2l_vgg11", "--ratio", "16", "--head", "64", "--resize", "32", "--device", "cpu"]
    argv += ["--batch-size", "32", "--steps", "3", "--warmup", "1", "--repeats", "1", "--workers", "0"]
    assert main([*argv, "--under-load", "1", "--json", str(tmp_path / "bench.json")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.search(
        r"beside 1 other torch run\(s\) ([\d.]+) ex/s \(ending on [12] threads\): kept (\d+)% of its", last
    )
    assert match, last
    record = json.loads((tmp_path / "bench.json").read_text())
    speeds = {r["loop"]: r["examples_per_sec"] for r in record["results"]}
    assert list(speeds) == ["d2lvgg", "textbook", "loaded"] and float(match[1]) == pytest.approx(speeds["loaded"], 0.01)
    assert int(match[2]) == round(100 * speeds["loaded"] / speeds["d2lvgg"])
    assert _competitors() == []  # the competing runs were killed with the benchmark's end


@pytest.mark.torch
def test_under_load_beside_a_late_lower_priority_busy_loop_says_so_and_stops_it(tmp_path, capsys):
    argv = ["bench", "--arch", "d2l_vgg11", "--ratio", "16", "--head", "64", "--resize", "32", "--device", "cpu"]
    argv += ["--batch-size", "32", "--steps", "3", "--warmup", "1", "--repeats", "1", "--workers", "0"]
    argv += ["--under-load", "1", "--neighbour", "busy-loop", "--late", "--json", str(tmp_path / "bench.json")]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    started = r"beside 1 busy loop\(s\) at nice 10 started after its thread probe ([\d.]+) ex/s"
    match = re.search(started + r" \(ending on [12] threads\): kept (\d+)% of its speed alone", last)
    assert match and "fair share" not in last, last  # a niced loop is not a peer with a fair share
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["config"]["neighbour"] == "busy-loop" and record["config"]["late"] is True
    speeds = {r["loop"]: r["examples_per_sec"] for r in record["results"]}
    assert int(match[2]) == round(100 * speeds["loaded"] / speeds["d2lvgg"])
    assert _competitors() == []


def test_late_neighbours_stay_stopped_until_let_go_and_are_stopped_again_after():
    config = BenchConfig(TINY, under_load=2, neighbour="busy-loop", neighbour_nice=15, late=True)
    with competing_runs(config) as running:
        assert [_state(p) for p in _competitors()] == ["T", "T"]  # stopped once steady
        with running() as start:
            assert [_state(p) for p in _competitors()] == ["T", "T"]  # a late neighbour waits for the probe
            start()
            assert all(_state(p) in "RS" for p in _competitors())
            assert [os.getpriority(os.PRIO_PROCESS, int(p.name)) for p in _competitors()] == [15, 15]
        assert [_state(p) for p in _competitors()] == ["T", "T"]
    assert _competitors() == []


def test_an_unknown_neighbour_is_refused_before_anything_runs():
    with pytest.raises(ConfigError, match="unknown neighbour 'radio': use run or busy-loop"):
        BenchConfig(TINY, under_load=1, neighbour="radio")
    with pytest.raises(ConfigError, match="unknown neighbour backend 'keras': use one of torch, "):
        BenchConfig(TINY, under_load=1, neighbour_backend="keras")


@pytest.mark.torch
def test_a_competing_run_that_fails_stops_the_benchmark_with_its_last_line(tmp_path):
    config = BenchConfig(TINY, steps=1, warmup=0, repeats=1, under_load=1, data_dir=str(tmp_path / "no-data"))
    with pytest.raises(ConfigError, match=r"a competing training run did not reach its steady speed: .*no-data"):
        run_bench(config)


def _competitors() -> list[Path]:
    """The neighbours' processes still alive (each runs in a scratch folder named for them)."""
    return [p for p in Path("/proc").glob("[0-9]*") if b"d2lvgg-competitors-" in _cmdline(p)]


def _state(process: Path) -> str:
    """A process's state letter: R running, S sleeping, T stopped."""
    return (process / "stat").read_text().rsplit(")", 1)[1].split()[0]


def _cmdline(process: Path) -> bytes:
    try:
        return (process / "cmdline").read_bytes()
    except OSError:  # it ended while being read
        return b""


def test_busy_cores_count_the_ticks_other_work_took_between_two_readings(monkeypatch):
    monkeypatch.setattr("d2lvgg.backends.cores.started_cores", lambda: 2)
    # cpu user nice system idle iowait ...: 300 of 400 new ticks busy (the rest idle or waiting for I/O)
    lines = iter(["cpu 100 0 50 800 50 0 0 0", "cpu 300 0 150 850 100 0 0 0"])
    assert busy_cores(1.0, read=lambda: next(lines), sleep=lambda seconds: None) == pytest.approx(1.5)
    idle = iter(["cpu 100 0 50 800 50", "cpu 100 0 50 1200 50"])
    assert busy_cores(1.0, read=lambda: next(idle), sleep=lambda seconds: None) == 0.0


def test_bad_settings_are_refused_before_any_process_starts():
    with pytest.raises(ConfigError, match="unknown loop 'book'"):
        measure("book", BenchConfig(TINY, steps=1, warmup=0, repeats=1))
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        BenchConfig(TINY, steps=0)
    with pytest.raises(ConfigError, match="under_load must be 0 or more"):
        BenchConfig(TINY, under_load=-1)


@pytest.mark.torch
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


@pytest.mark.torch
def test_bench_frameworks_times_the_frameworks_own_step_beside_d2lvggs_and_the_books(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("d2lvgg.backends.available", lambda: ["torch"])  # one framework: each loop is a process
    out = tmp_path / "frameworks.json"
    argv = ["bench", "--frameworks", "--ratio", "16", "--head", "64", "--resize", "32", "--batch-size", "32"]
    argv += ["--device", "cpu", "--steps", "3", "--warmup", "1", "--repeats", "1", "--workers", "1"]
    assert main([*argv, "--json", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    number = r"([\d.]+)"
    pattern = rf"PyTorch: own step {number} ms, d2lvgg {number} ms, d2lvgg/own {number} \(rounds {number}-{number}\); "
    pattern += rf"book loop {number} ms, d2lvgg/book {number} \(rounds {number}-{number}\)$"
    match = re.match(pattern, printed[0])
    assert match, printed
    own, ours, ratio, low, high = map(float, match.group(1, 2, 3, 4, 5))
    assert low == ratio == high and own > 0 and ours > 0  # one round
    assert re.match(r"load average [\d.]+ before, up to [\d.]+ during, on \d+ cores", printed[1]), printed
    record = json.loads(out.read_text())
    assert list(record["runs"]["torch"]) == ["own", "d2lvgg", "textbook"] and record["summary"] == printed[:2]
    assert all(len(runs) == 1 for runs in record["runs"]["torch"].values())
    torch_runs = record["runs"]["torch"]
    assert torch_runs["d2lvgg"][0]["fast"]["device_data"] and torch_runs["own"][0]["fast"] == {}


def test_a_frameworks_line_gives_step_time_ratios_over_the_rounds():
    from d2lvgg.tools.bench.frameworks import _line

    def runs(*speeds):
        return [{"examples_per_sec": speed} for speed in speeds]

    measured = {  # examples/s of two rounds, batch 100: 10 ms a step at 10,000 ex/s
        "torch": {"own": runs(10_000, 10_000), "d2lvgg": runs(10_000, 10_000)},
        "tensorflow": {"own": runs(8_000, 5_000), "d2lvgg": runs(4_000, 5_000), "textbook": runs(2_000, 2_500)},
    }
    line = _line("tensorflow", measured, 100)
    assert line == (
        "TensorFlow: own step 16.2 ms, d2lvgg 22.5 ms, d2lvgg/own 1.50 (rounds 1.00-2.00); "
        "book loop 45.0 ms, d2lvgg/book 0.50 (rounds 0.50-0.50); own/PyTorch own 1.62 (rounds 1.25-2.00)"
    )
