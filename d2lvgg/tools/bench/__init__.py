"""Training throughput: d2lvgg's loop against a re-creation of the textbook's, on the same machine.

``measure`` times one loop in fresh processes (``measure.py``); the loops themselves are in
``loops.py``: d2lvgg's is the trainer's own step loop, the textbook's feeds the same runner as
the framework's edition of the book does. ``competitors.py`` starts the other training runs of
``--under-load``. ``report.py`` turns the results into the docs' tables, and ``suite.py`` is the
set of configurations the docs report (``benchmarks/bench.py`` runs it).
"""

from .measure import LOOPS, BenchConfig, Measurement, machine, measure, run_bench, time_steps
from .report import provenance, speed_table

__all__ = [
    "LOOPS",
    "BenchConfig",
    "Measurement",
    "machine",
    "measure",
    "provenance",
    "run_bench",
    "speed_table",
    "time_steps",
]
