"""ONNX: a backend's network written by its own exporter, and run again in ONNX Runtime.

ONNX Runtime is a third executor that is neither framework: a file it runs to the backend's
logits shows the exporter kept the network's numbers, not only its shape.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import numpy as np

from ..backends import declaration, get_backend
from ..errors import BackendError
from ..model import ir
from ..model.spec import VGGSpec
from ..optional import require

EXPORT_BATCH = 2  # the example batch the exporters trace; a free batch dimension takes any other


def export_onnx(spec: VGGSpec, arrays: dict[str, np.ndarray], backend: str, path: str | Path) -> bool:
    """Write ``spec`` with ``arrays`` as ONNX through ``backend``; True when any batch size runs it."""
    check_exporter(backend)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = get_backend(backend)
    model = module.load_numpy_state(module.compile_network(ir.lower(spec)), arrays)
    shape = (EXPORT_BATCH, spec.in_channels, spec.input_size, spec.input_size)
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        written = Path(folder) / path.name  # complete before it replaces anything at ``path``
        dynamic = module.export_onnx(model, written, shape)
        written.replace(path)
    return dynamic


def check_exporter(backend: str) -> None:
    """What ``backend``'s ONNX export needs beside its framework, named before the framework loads (up to a minute)."""
    known = declaration(backend)
    if known.no_onnx:
        raise BackendError(known.no_onnx)
    require("onnx", "onnx", "ONNX export")
    for needed in known.onnx_needs:
        if importlib.util.find_spec(needed) is None:
            raise BackendError(
                f"ONNX export from {known.title} needs {needed}, which is not installed: pip install {needed}"
            )


def run_onnx(path: str | Path, images: np.ndarray) -> np.ndarray:
    """Float32 logits of ``images`` from the ONNX file at ``path``, in ONNX Runtime on the CPU."""
    runtime = require("onnxruntime", "onnx", "running ONNX files")
    options = runtime.SessionOptions()
    options.log_severity_level = 3  # exporters leave unused constants, which it would warn about
    session = runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})
    return result


def onnx_difference(
    spec: VGGSpec, arrays: dict[str, np.ndarray], backend: str, images: np.ndarray, native: np.ndarray
) -> dict:
    """Export through ``backend`` and run in ONNX Runtime; compare with ``native``, the backend's own logits.

    Returns the largest difference relative to the largest logit, and whether the batch was free.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{backend}.onnx"
        dynamic = export_onnx(spec, arrays, backend, path)
        rows = len(images) if dynamic else EXPORT_BATCH
        runtime = run_onnx(path, images[:rows])
    scale = float(np.abs(native).max())
    return {"max_rel": float(np.abs(runtime - native[:rows]).max()) / scale, "dynamic_batch": dynamic, "batch": rows}
