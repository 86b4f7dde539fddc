"""Cross-backend parity: the same spec, compiled by two backends, checked to agree.

Each check in ``checks.py`` (and the training check in ``training.py``) returns a ``Check``: what
was measured, against which tolerance. ``report.py``'s ``run_parity`` gathers them into a report
that prints as a table and saves as JSON and markdown.
"""

from .checks import (
    Check,
    check_backward,
    check_forward,
    check_onnx,
    check_parameters,
    check_shapes,
    default_pair,
    exporters,
    installed_pairs,
)
from .report import ParityReport, pairs_table, run_parity
from .training import check_training, redraw_overlay

__all__ = [
    "Check",
    "ParityReport",
    "check_backward",
    "check_forward",
    "check_onnx",
    "check_parameters",
    "check_shapes",
    "check_training",
    "default_pair",
    "exporters",
    "installed_pairs",
    "pairs_table",
    "redraw_overlay",
    "run_parity",
]
