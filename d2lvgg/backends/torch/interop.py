"""PyTorch's files: checkpoints read without unpickling code, and ONNX export."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import RunError


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """A ``state_dict`` saved with ``torch.save``, loaded with ``weights_only=True`` (tensors, no code)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not an object refused, but no pickle it understands
            raise RunError(f"{path} is not a readable PyTorch file ({str(exc).splitlines()[0]})") from None
        raise RunError(
            f"{path} holds Python objects besides tensors, which d2lvgg does not load (they could run code): "
            "save its state_dict alone, or as safetensors"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError) as exc:
        raise RunError(f"{path} is not a readable PyTorch file ({exc!r})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint that wraps the weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    # bfloat16 and float16 checkpoints are common; numpy has no bfloat16, and d2lvgg keeps float32 anyway
    return {name: _numpy(tensor.detach().cpu()) for name, tensor in state.items()}


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return (tensor.float() if tensor.is_floating_point() else tensor).numpy()


class _WithoutTorchvisionNotice(logging.Filter):
    """The exporter notes, on every export, that torchvision's operators are skipped; VGG uses none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("torchvision is not installed")


logging.getLogger("torch.onnx._internal.exporter._registration").addFilter(_WithoutTorchvisionNotice())


def export_onnx(model: nn.Module, path: Path, input_shape: tuple[int, ...]) -> bool:
    """Write ``model`` as ONNX with PyTorch's exporter; the batch dimension stays free (returns True)."""
    model = model.cpu().eval()
    example = (torch.zeros(2, *input_shape[1:]),)
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        model,
        example,
        str(path),
        input_names=["images"],
        output_names=["logits"],
        dynamic_shapes=({0: batch},),
        dynamo=True,
        external_data=False,  # one self-contained file (VGG-19 is 0.55 GB, under protobuf's 2 GB)
        verbose=False,
    )
    return True
