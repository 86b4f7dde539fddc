"""A parity report: ``run_parity`` gathers the checks, which print as a table and save as JSON and markdown."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ...backends import declaration
from ...model.spec import VGGSpec
from .checks import (
    Check,
    check_backward,
    check_forward,
    check_onnx,
    check_parameters,
    check_shapes,
    default_pair,
    exporters,
)
from .training import check_training


@dataclass
class ParityReport:
    """One pair of backends' checks on one spec: a verdict, a table, JSON and markdown."""

    arch: str
    input_size: int
    backends: tuple[str, str]
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "input_size": self.input_size,
            "backends": list(self.backends),
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
        }

    def rows(self) -> list[list[str]]:
        return [[c.name, "pass" if c.passed else "FAIL", c.measured, c.tolerance] for c in self.checks]

    def to_markdown(self) -> str:
        from ..render import markdown_table

        title = f"### Parity: {self.arch} at {self.input_size} px, {' vs '.join(self.backends)}\n\n"
        verdict = "\n\nAll checks pass.\n" if self.passed else "\n\nSome checks FAIL.\n"
        return title + markdown_table(["check", "result", "measured", "tolerance"], self.rows()) + verdict

    def save(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "parity.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        (folder / "parity.md").write_text(self.to_markdown())
        return [folder / "parity.json", folder / "parity.md"]


def run_parity(
    spec: VGGSpec,
    *,
    backends: tuple[str, str] | None = None,
    textbook: bool = False,
    train_config: Any = None,
    out: Path | None = None,
    seed: int = 0,
    trained: dict | None = None,
    onnx: bool = False,
) -> ParityReport:
    """Shapes, parameters, forward and backward; with ``train_config`` (and ``out``) training too.

    ``textbook`` builds the second backend's side as that framework's edition of the book writes
    it (MindSpore's: no conv bias), so the parameter check shows the difference. ``onnx`` also runs
    each backend's ONNX export in ONNX Runtime (where either has an exporter).
    """
    backends = backends or default_pair()
    other = spec.with_options(**declaration(backends[1]).textbook) if textbook else None
    checks = [
        check_shapes(spec, backends),
        check_parameters(spec, other, backends),
        check_forward(spec, seed=seed, backends=backends),
        check_backward(spec, seed=seed, backends=backends),
    ]
    if onnx and exporters(backends):
        checks.append(check_onnx(spec, seed=seed, backends=backends))
    if train_config is not None:
        folder = out or Path("runs") / f"parity-{spec.name}"
        checks.append(check_training(spec, train_config, folder, backends, trained))
    return ParityReport(spec.name, spec.input_size, backends, checks)


def pairs_table(reports: list[ParityReport]) -> tuple[list[str], list[list[str]]]:
    """Several pairs' reports as one table: a row per pair, a column per check, and the tolerances as the last
    row; "-" where a pair has no such check (ONNX where neither backend exports it). Pairs grow downwards, so
    ten of them still fit a page."""
    named = {c.name: c for r in reports for c in r.checks}
    headers = ["pair", *named]
    rows = []
    for report in reports:
        by_name = {check.name: check for check in report.checks}
        found = [by_name.get(name) for name in named]
        cells = [f"{'pass' if c.passed else 'FAIL'}, {_brief(c)}" if c else "-" for c in found]
        rows.append([" vs ".join(report.backends), *cells])
    rows.append(["tolerance", *(check.tolerance for check in named.values())])
    return headers, rows


def _brief(check: Check) -> str:
    """The one number of a check that a table of pairs shows."""
    details = check.details
    if "max_rel" in details:
        return f"{details['max_rel']:.2e}"
    if "gap" in details:
        return f"gap {details['gap'] * 100:.1f} points"
    if check.name == "parameters" and check.passed:
        return f"{details['static']:,} each"
    if check.name == "shapes":
        return f"{len(details['mismatches'])} mismatches"
    return check.measured
