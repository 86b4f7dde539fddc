"""Parity reports without any framework: the table of several pairs (a row per pair, so many pairs stay narrow),
and the training overlay drawn again from a saved report."""

from __future__ import annotations

from d2lvgg.tools.parity import ParityReport, pairs_table, redraw_overlay
from d2lvgg.tools.parity.checks import Check


def _report(backends: tuple[str, str], forward: float, onnx: bool) -> ParityReport:
    checks = [
        Check("shapes", True, "0 mismatches", "identical", {"mismatches": []}),
        Check("forward", forward < 1e-4, f"{forward:.2e}", "<= 1e-4", {"max_rel": forward}),
    ]
    if onnx:
        checks.append(Check("onnx", True, "2.00e-07", "<= 1e-4", {"max_rel": 2e-7}))
    return ParityReport("d2l_vgg11", 32, backends, checks)


def test_pairs_are_rows_checks_are_columns_and_the_tolerances_close_the_table():
    reports = [_report(("torch", "jax"), 6.17e-7, onnx=True), _report(("tensorflow", "jax"), 3e-3, onnx=False)]
    headers, rows = pairs_table(reports)
    assert headers == ["pair", "shapes", "forward", "onnx"]
    assert rows == [
        ["torch vs jax", "pass, 0 mismatches", "pass, 6.17e-07", "pass, 2.00e-07"],
        ["tensorflow vs jax", "pass, 0 mismatches", "FAIL, 3.00e-03", "-"],
        ["tolerance", "identical", "<= 1e-4", "<= 1e-4"],
    ]


def test_a_saved_training_check_draws_its_overlay_again_and_a_record_without_curves_draws_nothing(tmp_path):
    curves = {
        backend: {
            "points": [{"x": x / 5, "train_loss": 2.3 - x / 10, "train_acc": 0.1 + x / 20} for x in range(1, 11)],
            "epochs": [{"epoch": 1, "test_acc": 0.6}, {"epoch": 2, "test_acc": 0.7}],
        }
        for backend in ("torch", "jax")
    }
    training = Check("training", True, "gap 0.0 points", "gap <= 2 points", {"gap": 0.0, "curves": curves})
    ParityReport("d2l_vgg11", 32, ("torch", "jax"), [training]).save(tmp_path)
    drawn = redraw_overlay(tmp_path / "parity.json", tmp_path / "zh" / "training-overlay")
    assert [p.name for p in drawn] == ["training-overlay.png", "training-overlay.svg"]
    assert drawn[0].read_bytes()[:4] == b"\x89PNG"
    ParityReport("d2l_vgg11", 32, ("torch", "jax"), [Check("shapes", True, "0", "identical")]).save(tmp_path / "old")
    assert redraw_overlay(tmp_path / "old" / "parity.json", tmp_path / "old" / "again") == []
