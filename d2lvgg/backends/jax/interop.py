"""JAX's files and ONNX: neither has a maintained route, so both are refused with what to do instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import RunError
from . import DECLARATION


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Refused: Flax checkpoints are trees named by the code that saved them (``interop.files`` says so first)."""
    raise RunError(f"{path}: {DECLARATION.refused_files['.msgpack']}")


def export_onnx(model: Any, path: Path, input_shape: tuple[int, ...]) -> bool:
    """Refused: ``DECLARATION.no_onnx`` says why (``check_exporter`` says it first, before JAX loads)."""
    raise RunError(DECLARATION.no_onnx)
