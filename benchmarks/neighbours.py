"""How much of its speed alone d2lvgg's default training keeps beside other work, per backend.

    python benchmarks/neighbours.py                      # every installed backend, 2 rounds (about 25 minutes)
    python benchmarks/neighbours.py --backends mindspore --rounds 3

The reduced network at 32 px, batch 64, ``--steps`` training steps of d2lvgg's loop (its thread probe at the
start, its watch over the steps after it), each in a fresh process: alone, then beside each neighbour of
``SCENARIOS`` (``d2lvgg bench --under-load 1``'s neighbours), in interleaved rounds. Writes one JSON file per
backend into ``--out`` and prints the share kept, per backend and neighbour, with its range over the rounds and
the thread counts the loaded runs ended on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
from dataclasses import asdict, replace
from pathlib import Path

from d2lvgg.backends import DEFAULT, available
from d2lvgg.model.specfile import resolve_spec
from d2lvgg.tools.bench.competitors import competing_runs
from d2lvgg.tools.bench.measure import BenchConfig, load_average, machine, neighbours, one_run

REDUCED = resolve_spec("d2l_vgg11", ratio=16, head=(256, 256), input_size=32).to_dict()
OTHER = {DEFAULT: "tensorflow"}  # a late neighbour is another framework: PyTorch for the others
SCENARIOS = {
    "busy loop, nice 10": {"neighbour": "busy-loop"},
    "second run, same backend": {"neighbour": "run"},
    "late run of another framework": {"neighbour": "run", "late": True, "other": True},
    "late run of another framework, nice 10": {"neighbour": "run", "late": True, "other": True, "neighbour_nice": 10},
}


def scenario(config: BenchConfig, settings: dict) -> BenchConfig:
    other = OTHER.get(config.backend, DEFAULT) if settings.get("other") else None
    chosen = {key: value for key, value in settings.items() if key != "other"}
    return replace(config, under_load=1, neighbour_backend=other, **chosen)


def measure_backend(config: BenchConfig, rounds: int) -> dict:
    """``rounds`` rounds of: alone, then beside each scenario's neighbour. Every neighbour starts once and steadies
    first; each is paused (SIGSTOP) but while its own measurement runs."""
    runs: dict[str, list[dict]] = {"alone": []} | {name: [] for name in SCENARIOS}
    loaded = {name: scenario(config, settings) for name, settings in SCENARIOS.items()}
    with contextlib.ExitStack() as stack:
        neighbours_of = {name: stack.enter_context(competing_runs(loaded[name])) for name in SCENARIOS}
        for _ in range(rounds):
            runs["alone"].append(one_run("d2lvgg", config))
            for name in SCENARIOS:
                with neighbours_of[name]() as start:
                    if not loaded[name].late:
                        start()
                    runs[name].append(one_run("d2lvgg", loaded[name], probed=start))
    return runs


def lines(backend: str, config: BenchConfig, runs: dict[str, list[dict]]) -> list[str]:
    alone = [run["examples_per_sec"] for run in runs["alone"]]
    said = [f"{backend}: alone {statistics.median(alone):,.0f} ex/s ({_range(alone)})"]
    for name, settings in SCENARIOS.items():
        kept = [run["examples_per_sec"] / quiet for run, quiet in zip(runs[name], alone, strict=True)]
        ended = ", ".join(str(run["threads"]["count"]) for run in runs[name])
        words = neighbours(scenario(config, settings))
        said.append(f"  beside {words}: kept {statistics.median(kept):.0%} ({_range(kept, '.0%')}), ended on {ended}")
    return said


def _range(values: list[float], spec: str = ",.0f") -> str:
    return f"{min(values):{spec}}-{max(values):{spec}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="*", default=None, help="default: every installed backend")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", default="docs/results/bench/neighbours")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for backend in args.backends or available():
        config = BenchConfig(REDUCED, backend=backend, batch_size=64, steps=args.steps, warmup=5, repeats=1)
        before = load_average()
        runs = measure_backend(config, args.rounds)
        said = lines(backend, config, runs)
        record = {"config": asdict(config), "machine": machine(), "load_before": before, "runs": runs}
        (out / f"{backend}.json").write_text(json.dumps(record | {"summary": said}, indent=2) + "\n")
        print("\n".join(said), flush=True)


if __name__ == "__main__":
    main()
