"""The benchmark's results as the docs and the README show them: one renderer for every page."""

from __future__ import annotations

import statistics
from typing import Any

from ...backends import REGISTRY, declaration
from ..render import markdown_table
from .frameworks import YARDSTICK, round_ratios, step_times
from .measure import OWN


def speed_table(summary: dict[str, Any]) -> str:
    """One Markdown row per configuration of a suite's summary (``suite.run_suite``).

    Wall-clock examples/s (data preparation included) of d2lvgg's loop and the textbook's on the
    first backend, the textbook's compute-only figure beside them, then each other backend's
    d2lvgg loop, its ratio to the first's and its speedup over its own edition's textbook loop
    (backends the summary measured).
    """
    first, *rest = REGISTRY
    others = [b for b in rest if any(f"{b}/d2lvgg" in loops for loops in summary["configs"].values())]
    rows = []
    for name, loops in summary["configs"].items():
        ours, book = loops.get(f"{first}/d2lvgg", {}), loops.get(f"{first}/textbook", {})
        row = [name, _speed(ours), _speed(book), _speed(book, "compute_examples_per_sec")]
        row.append(_ratio(ours, book, "x"))
        for other in others:
            theirs, their_book = loops.get(f"{other}/d2lvgg", {}), loops.get(f"{other}/textbook", {})
            row += [_speed(theirs), _ratio(theirs, ours), _ratio(theirs, their_book, "x")]
        row.append(f"{100 * ours['fraction_of_matmul_peak']:.0f}%" if ours.get("fraction_of_matmul_peak") else "")
        row.append(f"{ours['timed']}, batch {ours['batch_size']}, median of {ours['repeats']}" if ours else "")
        rows.append(row)
    headers = ["configuration", "d2lvgg ex/s", "textbook loop ex/s", "textbook, steps only", "speedup"]
    title = {name: declaration(name).title for name in REGISTRY}
    for other in others:
        headers += [f"{title[other]} ex/s", f"{title[other]} / {title[first]}", f"{title[other]} speedup"]
    return markdown_table([*headers, "of matmul peak", "timed"], rows)


def detail_table(summary: dict[str, Any]) -> str:
    """Every measurement of a summary, one row per configuration and loop (the speed page's table)."""
    rows = []
    for name, loops in summary["configs"].items():
        for key, r in loops.items():
            fraction = f"{100 * r['fraction_of_matmul_peak']:.0f}%" if r["fraction_of_matmul_peak"] else ""
            seconds, peak = f"{r['epoch_seconds']:,.0f}", f"{r['peak_memory_mb']:,.0f}"
            timed = f"{r['timed']}, median of {r['repeats']}"
            rows.append([name, key, _speed(r), _speed(r, "compute_examples_per_sec"), seconds, peak, fraction, timed])
    headers = ["configuration", "backend / loop", "ex/s (wall)", "ex/s (steps only)", "s per epoch", "peak MB"]
    return markdown_table([*headers, "of matmul peak", "timed"], rows)


def provenance(summary: dict[str, Any]) -> str:
    """Where and how a summary was measured: the machine, the versions, the commands."""
    where = summary["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in where["versions"].items())
    lines = [f"machine: {where['cpu']}, {where['cores']} cores; {versions}"]
    if summary.get("matmul_peak_gflops"):
        lines.append(f"matrix-multiply peak: {summary['matmul_peak_gflops']:.0f} GFLOP/s (float32, 2048x2048)")
    commands = sorted({r["command"] for loops in summary["configs"].values() for r in loops.values()})
    return "\n".join(lines + [f"command: {command}" for command in commands])


def frameworks_table(networks: dict[str, list[dict[str, Any]]]) -> str:
    """``bench --frameworks`` side by side: per network, the records of its runs (one per environment), a row per
    framework with its step times (ms) and the median ratios of the rounds (d2lvgg/own with their range)."""
    rows = []
    for network, records in networks.items():
        shown: set[str] = set()
        for record in records:
            runs, batch = record["runs"], record["config"]["batch_size"]
            for backend in (b for b in runs if b not in shown):
                shown.add(backend)
                loops, times = runs[backend], step_times(runs[backend], batch)
                own = round_ratios(loops["d2lvgg"], loops[OWN])
                book = (
                    statistics.median(round_ratios(loops["d2lvgg"], loops["textbook"])) if "textbook" in loops else None
                )
                yardstick = statistics.median(round_ratios(loops[OWN], runs[YARDSTICK][OWN]))
                rows.append(
                    [
                        network if len(shown) == 1 else "",
                        declaration(backend).title,
                        *(f"{times[loop]:,.1f}" if loop in times else "" for loop in (OWN, "d2lvgg", "textbook")),
                        f"{statistics.median(own):.2f} ({min(own):.2f}-{max(own):.2f})",
                        "" if book is None else f"{book:.2f}",
                        f"{yardstick:.2f}",
                    ]
                )
    headers = ["network", "framework", "its own step", "d2lvgg's", "the book's loop", "d2lvgg / own"]
    return markdown_table([*headers, "d2lvgg / book", "own / PyTorch's own"], rows)


def _ratio(result: dict[str, Any], baseline: dict[str, Any], unit: str = "") -> str:
    return f"{result['examples_per_sec'] / baseline['examples_per_sec']:.2f}{unit}" if result and baseline else ""


def _speed(result: dict[str, Any], key: str = "examples_per_sec") -> str:
    return f"{result[key]:,.1f}" if result else ""
