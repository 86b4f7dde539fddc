"""The configurations the docs report, run one after another into one summary file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...backends import available, declaration
from ...model.analysis import summarize
from ...model.specfile import resolve_spec
from .measure import BenchConfig, machine, run_bench

# name -> (architecture, reshaping, batch size, measured steps or None for one whole epoch, repetitions).
# The reduced network (at the CI's batch 64 and the book's 128) is timed over whole epochs, as a
# student waits for them; at 96 and 224 pixels an epoch takes 6 to 40 minutes on 2 cores, so a few
# steps stand for it there.
CONFIGS: dict[str, tuple[str, dict[str, Any], int, int | None, int]] = {
    "reduced-32": ("d2l_vgg11", {"ratio": 16, "head": (256, 256), "input_size": 32}, 64, None, 5),
    "reduced-32-b128": ("d2l_vgg11", {"ratio": 16, "head": (256, 256), "input_size": 32}, 128, None, 5),
    "small-96": ("d2l_vgg11_small", {"input_size": 96}, 128, 8, 3),
    "small-224": ("d2l_vgg11_small", {"input_size": 224}, 128, 4, 3),
}


def run_suite(
    device: str,
    out: Path,
    command: str,
    *,
    only: list[str] | None = None,
    backends: list[str] | None = None,
    repeats: int | None = None,
    peak: float | None = None,
) -> Path:
    """Each backend (default: every installed one) on each configuration; ``summary-DEVICE.json`` in ``out``.

    ``command`` is recorded beside each figure; ``repeats`` overrides each configuration's own.
    ``peak`` (FLOP/s of the machine's matrix product) adds the fraction of it each loop reaches.
    Configurations and backends not run this time keep their earlier figures.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"summary-{device}.json"
    configs: dict[str, dict[str, Any]] = json.loads(path.read_text())["configs"] if path.is_file() else {}
    for name in only or CONFIGS:
        arch, reshape, batch_size, steps, own_repeats = CONFIGS[name]
        spec = resolve_spec(arch, **reshape)
        train_flops = 6 * summarize(spec).total_macs  # forward + backward: about 3x the forward's 2 FLOPs per MAC
        for backend in backends or available():
            config = BenchConfig(
                spec.to_dict(),
                backend,
                device_for(backend, device),
                batch_size,
                steps,
                warmup=5,
                repeats=repeats or own_repeats,
            )
            results, line = run_bench(config, out / f"{name}-{backend}-{device}.json")
            print(f"{name}: {line}", flush=True)
            for r in results:
                entry = _entry(r, line, config, peak and r.compute_examples_per_sec * train_flops / peak)
                entry["command"] = command
                configs.setdefault(name, {})[f"{backend}/{r.loop}"] = entry
    summary = {
        "machine": machine(),
        "matmul_peak_gflops": peak and peak / 1e9,
        "configs": {name: configs[name] for name in CONFIGS if name in configs},
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def device_for(backend: str, device: str) -> str:
    """``device`` in the backend's own spelling (``cuda`` is MindSpore's ``gpu``)."""
    return declaration(backend).device_names.get(device, device)


def _entry(result: Any, line: str, config: BenchConfig, fraction: float | None) -> dict[str, Any]:
    timed = "one whole epoch" if config.steps is None else f"{config.steps} steps"
    return {
        "examples_per_sec": result.examples_per_sec,
        "compute_examples_per_sec": result.compute_examples_per_sec,
        "epoch_seconds": result.epoch_seconds,
        "peak_memory_mb": result.peak_memory_mb,
        "fraction_of_matmul_peak": fraction,
        "summary": line,
        "batch_size": config.batch_size,
        "timed": timed,
        "repeats": config.repeats,
    }
