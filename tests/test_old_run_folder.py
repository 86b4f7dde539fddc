"""A run folder written by d2lvgg 0.1.0 (tests/fixtures/run-0.1.0) still evaluates and resumes.

``finished`` ran 2 epochs; ``interrupted`` is the same run stopped after its first epoch. Both
were written by the code before the package was split into sub-packages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "run-0.1.0"

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}"),
]


def _result(folder: Path) -> dict:
    return json.loads((folder / "result.json").read_text())


def test_an_old_finished_run_evaluates_to_its_recorded_accuracy(capsys):
    recorded = _result(FIXTURE / "finished")["test_acc"]
    assert main(["evaluate", str(FIXTURE / "finished"), "--device", "cpu"]) == 0
    assert f"test acc {recorded:.3f} on 256 test images" in capsys.readouterr().out


def test_an_old_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    run = tmp_path / "interrupted"
    shutil.copytree(FIXTURE / "interrupted", run)
    assert main(["train", "--resume", str(run)]) == 0
    resumed, finished = _result(run), _result(FIXTURE / "finished")
    assert resumed["train_loss"] == pytest.approx(finished["train_loss"], rel=1e-6)
    assert resumed["test_acc"] == finished["test_acc"]
    assert (run / "epochs.csv").read_text().count("\n") == 3  # header and both epochs
