"""Data-parallel PaddlePaddle: the world ``paddle.distributed.launch`` started, and dropout that matches one process.

Each process computes a contiguous share of every global batch (``World.share``), its loss weighted by the
share's part of the batch, and the gradients are summed over the world by an all-reduce: the global
batch's mean gradient, whatever the shares' sizes. The collectives are gloo's on a CPU and NCCL's on GPUs.
``paddle.DataParallel`` does the same reduction in buckets on GPUs; the explicit all-reduce here runs on
both, in the order the parameters are listed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import paddle
import paddle.distributed as dist
from paddle import nn
from paddle.nn import functional as F

from ..base import World


def launched() -> bool:
    """Whether PaddlePaddle's launcher started this process in a world of several."""
    return int(os.environ.get("PADDLE_TRAINERS_NUM", "1")) > 1


def join_world() -> World:
    """The launched world (its collectives started), or the world of one."""
    if not launched():
        return World()
    dist.init_parallel_env()
    engine = os.environ.get("PADDLE_DISTRI_BACKEND", "nccl")
    return World(dist.get_rank(), dist.get_world_size(), f"paddle.distributed ({engine})")


def sum_gradients(parameters: Iterable[paddle.Tensor]) -> None:
    """Every parameter's gradient summed over the world, in place."""
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)


def sum_over_world(values: list[float]) -> list[float]:
    """``values`` summed element-wise over every process."""
    totals = paddle.to_tensor(np.asarray(values, np.float64))
    dist.all_reduce(totals)
    return totals.numpy().tolist()


class ShareDropout(nn.Layer):
    """Dropout on one share of a global batch, with the masks one process draws for the whole batch.

    ``F.dropout`` on ones of the global batch's shape draws exactly the masks (scaled by ``1 / (1 - p)``)
    that ``nn.Dropout`` draws in one process; this process keeps its rows.
    """

    def __init__(self, p: float, world: World) -> None:
        super().__init__()
        self.p, self.world = p, world
        self.batch = 0  # the global batch's size, set by the runner before each step

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self.training or self.p == 0:
            return x
        masks = F.dropout(paddle.ones([self.batch, *x.shape[1:]], dtype=x.dtype), self.p)
        share = self.world.share(self.batch)
        return x * masks[share.start : share.stop]


def share_dropout(model: nn.Layer, world: World) -> list[ShareDropout]:
    """Replace every ``nn.Dropout`` of ``model`` in place; the new layers, for the runner to size."""
    layers = []
    for parent in [model, *model.sublayers()]:
        for name, child in parent.named_children():
            if isinstance(child, nn.Dropout):
                layers.append(ShareDropout(child.p, world))
                setattr(parent, name, layers[-1])
    return layers
