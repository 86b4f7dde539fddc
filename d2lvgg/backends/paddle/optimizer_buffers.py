"""The optimizer's per-parameter buffers (momentum), saved and restored by parameter position.

PaddlePaddle's public ``Optimizer.state_dict``/``set_state_dict`` name each buffer after its
parameter's process-wide name plus a counter (``conv2d_3.w_0_velocity_0``), so a buffer saved
by one process names no parameter in the next. Keying by position needs the optimizer's
``_accumulators`` table and ``_add_accumulator``: the one use of PaddlePaddle internals in
d2lvgg, checked here (``require_internals``) and by ``tests/test_runners.py``, so a PaddlePaddle
that changes them fails with one line instead of resuming without its momentum.
"""

from __future__ import annotations

import numpy as np
import paddle

from ...errors import BackendError

CHECKED_WITH = "3.3"  # the PaddlePaddle whose internals this module was written against


def require_internals(optimizer: paddle.optimizer.Optimizer) -> dict[str, dict[str, paddle.Tensor]]:
    """The optimizer's ``{kind: {parameter name: buffer}}`` table, or a one-line error if it changed."""
    table = getattr(optimizer, "_accumulators", None)
    if not isinstance(table, dict) or not callable(getattr(optimizer, "_add_accumulator", None)):
        raise BackendError(
            f"PaddlePaddle {paddle.__version__} keeps its optimizer buffers differently from {CHECKED_WITH}, "
            f"which d2lvgg's checkpoints were written for; install paddlepaddle=={CHECKED_WITH}.* to resume"
        )
    return table


def save_buffers(optimizer: paddle.optimizer.Optimizer, params: list[paddle.Tensor]) -> dict[str, np.ndarray]:
    """Every buffer as ``{"<kind>.<position>": array}``, e.g. ``velocity.0`` for the first weight's momentum."""
    table = require_internals(optimizer)
    return {
        f"{kind}.{i}": per_param[param.name].numpy().copy()
        for i, param in enumerate(params)
        for kind, per_param in table.items()
        if param.name in per_param
    }


def load_buffers(
    optimizer: paddle.optimizer.Optimizer, params: list[paddle.Tensor], arrays: dict[str, np.ndarray]
) -> None:
    """Create each saved buffer for the parameter at its position and fill it."""
    table = require_internals(optimizer)
    for key, value in arrays.items():
        kind, position = key.rsplit(".", 1)
        param = params[int(position)]
        if param.name not in table.get(kind, {}):
            optimizer._add_accumulator(kind, param)
        table[kind][param.name].set_value(np.ascontiguousarray(value))
