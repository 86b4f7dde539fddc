"""Data-parallel scaling: examples/s of one process, two processes and two nodes, per backend.

    python benchmarks/scaling.py                       # every backend with a launcher, on this CPU
    python benchmarks/scaling.py --backends torch --rounds 3

Each round trains one epoch of the reduced recipe (``--arch d2l_vgg11 --ratio 16 --head 256,256
--resize 32 --batch-size 64``) three ways in turn: in one process, with ``--nproc 2``, and as two
nodes of one process each on this machine (``--nodes 2`` over the loopback); the ways alternate, so a
machine that gets busier slows all of them alike. Writes ``scaling-DEVICE.json`` into ``--out`` with
every run's examples/s, the load average before and after each round, and the versions, and prints a
markdown table of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from d2lvgg.backends import REGISTRY, available, declaration, get_backend
from d2lvgg.tools.launch import free_port

RECIPE = ["--arch", "d2l_vgg11", "--ratio", "16", "--head", "256,256", "--resize", "32", "--epochs", "1"]
SETTINGS = ["--batch-size", "64", "--lr", "0.05"]
WAYS = ("one process", "--nproc 2", "two nodes")


def train(backend: str, device: str, way: str, out: Path) -> float:
    """One epoch trained ``way`` into ``out``; its examples/s in the training steps, as the book counts."""
    command = [sys.executable, "-m", "d2lvgg", "train", "--backend", backend, "--device", device, *RECIPE, *SETTINGS]
    started = [
        subprocess.Popen(line, stdout=subprocess.DEVNULL) for line in _commands([*command, "--out", str(out)], way)
    ]
    if any(process.wait() for process in started):
        raise SystemExit(f"{backend}: training {way} into {out} failed (its error is above)")
    return json.loads((out / "result.json").read_text())["step_examples_per_sec"]


def _commands(command: list[str], way: str) -> list[list[str]]:
    """The command lines that train ``way``: one, or one per node (both on this machine, one rendezvous)."""
    if way == "one process":
        return [command]
    if way == "--nproc 2":
        return [[*command, "--nproc", "2"]]
    master = f"127.0.0.1:{free_port()}"
    return [[*command, "--nodes", "2", "--node-rank", str(rank), "--master", master] for rank in (0, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    launched = [name for name in REGISTRY if declaration(name).launcher and name in available()]
    parser.add_argument("--backends", nargs="*", choices=launched, default=launched)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="docs/results/scaling")
    args = parser.parse_args()
    runs: dict[str, dict[str, list[float]]] = {backend: {way: [] for way in WAYS} for backend in args.backends}
    loads = []
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            before = os.getloadavg()[0]
            for backend in args.backends:
                for way in WAYS:
                    out = Path(scratch) / f"{backend}-{way.replace(' ', '')}-{round_}"
                    runs[backend][way].append(train(backend, args.device, way, out))
                    print(f"round {round_ + 1}: {backend:<9} {way:<11} {runs[backend][way][-1]:8.1f} ex/s", flush=True)
            loads.append({"before": before, "after": os.getloadavg()[0]})
    record = {
        "command": "python " + " ".join(sys.argv),
        "recipe": [*RECIPE, *SETTINGS],
        "device": args.device,
        "cores": os.cpu_count(),
        "load_average": loads,
        "python": platform.python_version(),
        "versions": {backend: get_backend(backend).version() for backend in args.backends},
        "examples_per_sec": runs,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"scaling-{args.device}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print("\n| backend | " + " | ".join(WAYS) + " |\n| --- |" + " --- |" * len(WAYS))
    for backend, ways in runs.items():
        print(f"| {backend} | " + " | ".join(f"{statistics.median(ways[way]):,.0f}" for way in WAYS) + " |")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
