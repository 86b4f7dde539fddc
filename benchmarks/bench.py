"""The speed benchmark of the docs: d2lvgg's loop against the textbook's, for each configuration.

    python benchmarks/bench.py --device cpu            # the CPU table (about 20 minutes on 2 cores)
    python benchmarks/bench.py --device cuda           # the GPU table

Runs ``d2lvgg.tools.bench.suite`` (each configuration with ``d2lvgg bench``'s measurement, on
every installed backend) and writes ``summary-DEVICE.json`` and one JSON file per configuration
into ``--out``. On a CPU it first measures the machine's float32 matrix-multiply peak, so the
summary can say what fraction of it each loop reaches.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from d2lvgg.backends import REGISTRY
from d2lvgg.tools.bench.suite import CONFIGS, run_suite


def matmul_peak_flops(seconds: float = 3.0) -> float:
    """FLOP/s of a large float32 matrix product in PyTorch: the machine's practical peak."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        runs += 1
    return runs * 2 * 2048**3 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, help="repetitions of every configuration (default: each one's own)")
    parser.add_argument("--only", nargs="*", choices=list(CONFIGS), help="run only these configurations")
    parser.add_argument("--backends", nargs="*", choices=list(REGISTRY), help="run only these backends")
    parser.add_argument("--out", default="docs/results/bench")
    args = parser.parse_args()
    peak = matmul_peak_flops() if args.device == "cpu" else None
    command = "python " + " ".join(sys.argv)
    options = {"only": args.only, "backends": args.backends, "repeats": args.repeats, "peak": peak}
    print(f"wrote {run_suite(args.device, Path(args.out), command, **options)}")


if __name__ == "__main__":
    main()
