"""PaddlePaddle's files: its pickled .pdparams refused with the reason, and ONNX export through paddle2onnx."""

from __future__ import annotations

import subprocess
import sys
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
    """Write ``model`` as ONNX; the batch dimension stays free (returns True).

    PaddlePaddle saves the network's static graph here and paddle2onnx converts it in a child process, as
    ``paddle.onnx.export`` would in this one: paddle2onnx crashes (segmentation fault) in a process that has
    loaded TensorFlow, as one comparing the frameworks does.
    """
    model.eval()
    spec = paddle.static.InputSpec([None, *input_shape[1:]], "float32", "images")
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "network"
        paddle.jit.save(model, str(prefix), input_spec=[spec])
        graph = next(file for file in map(prefix.with_suffix, (".json", ".pdmodel")) if file.exists())  # PIR or not
        files = [str(graph), str(prefix.with_suffix(".pdiparams")), str(path)]
        done = subprocess.run([sys.executable, "-c", _CONVERT, *files], capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.is_file():
        said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise RunError(f"paddle2onnx could not convert the network to ONNX: {said}")
    return True


# paddle.onnx.export's conversion (opset 9), in a process of its own
_CONVERT = "import sys, paddle2onnx; paddle2onnx.export(*sys.argv[1:4], opset_version=9)"
