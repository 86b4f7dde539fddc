"""The speed benchmark of the docs: d2lvgg's loop against the textbook's, for each configuration.

    python benchmarks/bench.py --device cpu            # the CPU table (about 20 minutes on 2 cores)
    python benchmarks/bench.py --device cuda           # the GPU table

Each configuration runs ``d2lvgg bench`` (both loops, fresh processes, warm-up excluded, median of
the repetitions); MindSpore's loop runs too where it is installed. Writes one JSON file per
configuration and ``summary.json`` into ``--out``, and prints the closing lines and the fraction
of the machine's measured matrix-multiply peak that each loop reaches.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from d2lvgg.model.analysis import summarize
from d2lvgg.model.specfile import resolve_spec
from d2lvgg.tools.bench import BenchConfig, machine, run_bench

# name -> (architecture, reshaping, batch size, measured steps or None for one whole epoch, repetitions).
# The reduced network (at the CI's batch 64 and the book's 128) is timed over whole epochs, as a
# student waits for them; at 96 and 224 pixels an epoch takes 6 to 40 minutes on 2 cores, so a few
# steps stand for it there.
CONFIGS = {
    "reduced-32": ("d2l_vgg11", {"ratio": 16, "head": (256, 256), "input_size": 32}, 64, None, 5),
    "reduced-32-b128": ("d2l_vgg11", {"ratio": 16, "head": (256, 256), "input_size": 32}, 128, None, 5),
    "small-96": ("d2l_vgg11_small", {"input_size": 96}, 128, 8, 3),
    "small-224": ("d2l_vgg11_small", {"input_size": 224}, 128, 4, 3),
}


def matmul_peak_flops(seconds: float = 3.0) -> float:
    """FLOP/s of a large float32 matrix product: the practical peak of this machine's PyTorch."""
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
    parser.add_argument("--out", default="docs/results/bench")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backends = ["torch"] + (["mindspore"] if importlib.util.find_spec("mindspore") else [])
    peak = matmul_peak_flops() if args.device == "cpu" else None
    path = out / f"summary-{args.device}.json"
    earlier = json.loads(path.read_text())["configs"] if path.is_file() else {}  # --only updates those configs
    command = "python " + " ".join(sys.argv)
    summary = {"machine": machine(), "matmul_peak_gflops": peak and peak / 1e9, "configs": earlier}
    for name in args.only or CONFIGS:
        arch, reshape, batch_size, steps, repeats = CONFIGS[name]
        spec = resolve_spec(arch, **reshape)
        train_flops = 6 * summarize(spec).total_macs  # forward + backward is about 3x the forward's 2 FLOPs per MAC
        for backend in backends:
            device = args.device if backend == "torch" else args.device.replace("cuda", "gpu")
            config = BenchConfig(spec.to_dict(), backend=backend, device=device, batch_size=batch_size, steps=steps,
                                 warmup=5, repeats=args.repeats or repeats)  # fmt: skip
            results, line = run_bench(config, out / f"{name}-{backend}-{args.device}.json")
            print(f"{name}: {line}", flush=True)
            for r in results:
                fraction = r.compute_examples_per_sec * train_flops / peak if peak else None
                summary["configs"].setdefault(name, {})[f"{backend}/{r.loop}"] = {
                    "examples_per_sec": r.examples_per_sec, "compute_examples_per_sec": r.compute_examples_per_sec,
                    "epoch_seconds": r.epoch_seconds, "peak_memory_mb": r.peak_memory_mb,
                    "fraction_of_matmul_peak": fraction, "summary": line, "batch_size": batch_size,
                    "timed": "one whole epoch" if steps is None else f"{steps} steps", "repeats": config.repeats,
                    "command": command,
                }  # fmt: skip
    summary["configs"] = {name: summary["configs"][name] for name in CONFIGS if name in summary["configs"]}
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
