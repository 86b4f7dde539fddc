"""MindSpore's files: ``.ckpt`` checkpoints (protocol buffers, no code) and ONNX export."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from ...errors import RunError


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Every parameter of a ``.ckpt`` file under its MindSpore name."""
    try:
        params = ms.load_checkpoint(str(path))
    except (ValueError, RuntimeError, OSError) as exc:
        if MEMORY_REFUSAL in str(exc):
            raise RunError(_memory_refusal(path)) from None
        raise RunError(f"{path} is not a readable MindSpore checkpoint ({str(exc).splitlines()[0]})") from None
    return {name: param.asnumpy() for name, param in params.items()}


MEMORY_REFUSAL = "exceeds current available memory"  # MindSpore 2.10's words for a file larger than free memory


def _memory_refusal(path: Path) -> str:
    """What MindSpore's refusal of a large file means: it counts free memory only, not the reclaimable page cache."""
    size, free, reclaimable = path.stat().st_size >> 20, _meminfo_mib("MemFree"), _meminfo_mib("MemAvailable")
    return (
        f"MindSpore {ms.__version__} would not read {path} ({size} MiB): it counts only the {free} MiB of free "
        f"memory, not the page cache the system can reclaim ({reclaimable} MiB available in all); the file is "
        "fine. Free memory (close other programs, or as root: sync; echo 1 > /proc/sys/vm/drop_caches) and retry"
    )


def _meminfo_mib(field: str) -> str:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return "?"
    return next((str(int(line.split()[1]) >> 10) for line in lines if line.startswith(f"{field}:")), "?")


def export_onnx(model: nn.Cell, path: Path, input_shape: tuple[int, ...]) -> bool:
    """Write ``model`` as ONNX with ``ms.export``; the batch dimension is freed when the graph allows it."""
    import onnx  # MindSpore writes the file; onnx renames its ends and frees the batch dimension

    model.set_train(False)
    with tempfile.TemporaryDirectory() as folder:
        stem = Path(folder) / "network"
        ms.export(model, ms.Tensor(np.zeros(input_shape, np.float32)), file_name=str(stem), file_format="ONNX")
        graph = onnx.load(str(stem.with_suffix(".onnx")))
    dynamic = not any(node.op_type == "Reshape" for node in graph.graph.node)  # Flatten keeps any batch
    for value, name in ((graph.graph.input[0], "images"), (graph.graph.output[0], "logits")):
        for node in graph.graph.node:
            node.input[:] = [name if n == value.name else n for n in node.input]
            node.output[:] = [name if n == value.name else n for n in node.output]
        value.name = name
        if dynamic:
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(graph, str(path))
    return dynamic
