"""PaddlePaddle's files: its pickled .pdparams refused with the reason, and ONNX export through paddle2onnx."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import paddle
from paddle import nn

from ...errors import RunError
from . import DECLARATION


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Refused: ``.pdparams`` files are pickles, which could run code when opened (``interop.files`` says so first)."""
    raise RunError(f"{path}: {DECLARATION.refused_files['.pdparams']}")


def export_onnx(model: nn.Layer, path: Path, input_shape: tuple[int, ...]) -> bool:
    """Write ``model`` as ONNX with ``paddle.onnx.export``; the batch dimension stays free (returns True)."""
    model.eval()
    spec = paddle.static.InputSpec([None, *input_shape[1:]], "float32", "images")
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "network"  # the exporter appends .onnx to whatever it is given
        paddle.onnx.export(model, str(prefix), input_spec=[spec])
        shutil.move(prefix.with_suffix(".onnx"), path)
    return True
