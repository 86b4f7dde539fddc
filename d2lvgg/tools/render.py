"""Summaries as terminal tables, markdown and JSON, alone or side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..model.analysis import Depth, Summary

MB = 1024**2


def human(n: float) -> str:
    """1234567 -> '1.23 M': short counts for tables read by people."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:g}"


def shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _title(summary: Summary) -> str:
    spec = summary.spec
    return f"{spec.name}: {spec.depth} weight layers, input {shape_text(summary.input_shape)}"


def layer_rows(summary: Summary, depth: Depth) -> list[list[str]]:
    """Name, type, output shape, params, MACs per row, indented by nesting level."""
    rows = []
    for level, layer in summary.rows(depth):
        indent = "  " * level
        rows.append(
            [
                indent + layer.name,
                indent + layer.type,
                shape_text(layer.output_shape),
                f"{layer.params:,}",
                human(layer.macs),
            ]
        )
    return rows


HEADERS = ["name", "layer", "output shape", "params", "MACs"]


def totals_row(summary: Summary) -> list[str]:
    activations = f"activations {summary.activation_bytes / MB:.1f} MB/image"
    return ["", "total", activations, f"{summary.total_params:,}", human(summary.total_macs)]


def comparison(summaries: Sequence[Summary]) -> list[dict[str, Any]]:
    """Parameters, MACs and per-image activation memory, each also relative to the first model."""
    base = summaries[0]
    return [
        {
            "name": s.spec.name,
            "input_shape": list(s.input_shape),
            "params": s.total_params,
            "param_mb": s.param_bytes / MB,
            "macs": s.total_macs,
            "activation_mb_per_image": s.activation_bytes / MB,
            "params_vs_first": s.total_params / base.total_params,
            "macs_vs_first": s.total_macs / base.total_macs,
            "activations_vs_first": s.total_activations / base.total_activations,
        }
        for s in summaries
    ]


COMPARISON_HEADERS = ["model", "input", "params", "MACs", "act. MB/img", "x params", "x MACs"]


def comparison_rows(summaries: Sequence[Summary]) -> list[list[str]]:
    return [
        [
            c["name"],
            "x".join(str(d) for d in c["input_shape"][1:]),
            human(c["params"]),
            human(c["macs"]),
            f"{c['activation_mb_per_image']:.2f}",
            f"{c['params_vs_first']:.2f}",
            f"{c['macs_vs_first']:.2f}",
        ]
        for c in comparison(summaries)
    ]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell.strip() for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(summaries: Sequence[Summary], depth: Depth) -> str:
    parts = []
    for s in summaries:
        parts.append(f"### {_title(s)}\n\n" + markdown_table(HEADERS, layer_rows(s, depth) + [totals_row(s)]))
    if len(summaries) > 1:
        parts.append("### Comparison\n\n" + markdown_table(COMPARISON_HEADERS, comparison_rows(summaries)))
    return "\n\n".join(parts) + "\n"


def to_json(summaries: Sequence[Summary], depth: Depth) -> str:
    if len(summaries) == 1:
        return json.dumps(summaries[0].to_dict(depth), indent=2)
    payload = {"models": [s.to_dict(depth) for s in summaries], "comparison": comparison(summaries)}
    return json.dumps(payload, indent=2)


def print_tables(summaries: Sequence[Summary], depth: Depth) -> None:
    """Rich tables in the terminal: several models side by side, then their comparison."""
    from rich.columns import Columns
    from rich.console import Console
    from rich.table import Table

    def table(title: str, headers: Sequence[str], rows: list[list[str]], footer: list[str] | None = None) -> Table:
        t = Table(title=title, show_footer=footer is not None, title_justify="left")
        for i, header in enumerate(headers):
            numeric = i >= 2 and header != "output shape"
            t.add_column(header, footer=footer[i] if footer else "", justify="right" if numeric else "left")
        for row in rows:
            t.add_row(*row)
        return t

    console = Console()
    tables = [table(_title(s), HEADERS, layer_rows(s, depth), totals_row(s)) for s in summaries]
    console.print(Columns(tables) if len(tables) > 1 else tables[0])
    if len(summaries) > 1:
        console.print(
            table("Comparison (per image; x = relative to the first)", COMPARISON_HEADERS, comparison_rows(summaries))
        )


def print_rows(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """One rich table in the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
