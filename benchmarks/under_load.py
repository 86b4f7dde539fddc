"""Training speed alone and beside a competing training run, for each backend.

    python benchmarks/under_load.py                      # both backends, 3 repetitions each
    python benchmarks/under_load.py --checkout OLD_TREE  # the same, with another checkout's d2lvgg

Each measurement is one ``d2lvgg train`` process on the reduced network (200 steps of 64 images
at 32 px); "loaded" runs it while a second, PyTorch training run of the same network keeps the
machine busy, as on a shared lab machine. The book's figure (examples/s inside the training steps)
and the wall-clock figure of every repetition are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from d2lvgg.tools.bench import machine

RUN = ["--arch", "d2l_vgg11", "--ratio", "16", "--head", "256,256", "--resize", "32", "--batch-size", "64"]
RUN += ["--device", "cpu", "--epochs", "1", "--train-limit", "12800", "--test-limit", "1000"]
COMPETITOR = ["--backend", "torch", *RUN[:-6], "--epochs", "1000"]
SPEEDS = re.compile(r"([\d.]+) examples/sec on .*\n([\d.]+) examples/sec wall clock")


def train(args: list[str], out: Path, env: dict[str, str]) -> subprocess.Popen:
    """``d2lvgg train`` in a child process, started outside any checkout so that PYTHONPATH decides the code."""
    command = [sys.executable, "-m", "d2lvgg", "train", *args, "--out", str(out)]
    output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    return subprocess.Popen(command, env=env, cwd=out.parent, **output)


def measure(backend: str, loaded: bool, env: dict[str, str], scratch: Path) -> dict[str, float]:
    """One repetition: the book's and the wall-clock examples/s of a fresh training process."""
    competitor = None
    if loaded:
        competitor = train(COMPETITOR, scratch / f"competitor-{time.monotonic_ns()}", env)
        time.sleep(8)  # past its start-up, into its steady training
    try:
        run = train(["--backend", backend, *RUN], scratch / f"{backend}-{time.monotonic_ns()}", env)
        output, _ = run.communicate()
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    found = SPEEDS.search(output)
    if run.returncode or not found:
        raise SystemExit(f"{backend} run failed:\n{output}")
    return {"steps_examples_per_sec": float(found[1]), "wall_examples_per_sec": float(found[2])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["torch", "mindspore"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkout", help="measure the d2lvgg of this source tree instead of the installed one")
    parser.add_argument("--label", default="current", help="name of this code in the JSON (default: current)")
    parser.add_argument("--json", default="docs/results/bench/under-load-cpu.json", help="file to add results to")
    args = parser.parse_args()
    env = os.environ | {"GLOG_v": "3"}
    if args.checkout:
        env["PYTHONPATH"] = str(Path(args.checkout).resolve())
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.is_file() else {}
    with tempfile.TemporaryDirectory() as scratch:
        for backend in args.backends:
            for loaded in (False, True):
                runs = [measure(backend, loaded, env, Path(scratch)) for _ in range(args.repeats)]
                steps = [r["steps_examples_per_sec"] for r in runs]
                key = f"{args.label}/{backend}/{'loaded' if loaded else 'alone'}"
                results.setdefault("runs", {})[key] = {
                    "median_steps_examples_per_sec": statistics.median(steps),
                    "runs": runs,
                }
                spread = f"{min(steps):,.0f} to {max(steps):,.0f}"
                print(f"{key}: median {statistics.median(steps):,.0f} ex/s in steps ({spread})", flush=True)
    results.setdefault("commands", {})[args.label] = "python " + " ".join(sys.argv)
    results["machine"] = machine()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
