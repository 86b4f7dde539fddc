"""Data-parallel MindSpore: the world ``msrun`` launched (gradients averaged by an all-reduce).

Each process computes a contiguous share of every global batch (``World.share``); its loss is
weighted by the share's size so that the averaged gradient is the global batch's mean gradient.
The CPU's collectives run over TCP on this machine; on Ascend they are HCCL's, on a GPU NCCL's.
"""

from __future__ import annotations

import os

import mindspore as ms
import numpy as np
from mindspore import nn, ops
from mindspore.communication import get_group_size, get_rank, init

from ..base import World, node_rank


def launched() -> bool:
    """Whether ``msrun`` started this process in a world of several."""
    return int(os.environ.get("MS_WORKER_NUM", "1")) > 1


def join_world() -> World:
    """The launched world (its collectives started, data-parallel mode set), or the world of one."""
    if not launched():
        return World()
    if os.environ.get("MS_ROLE") == "MS_SCHED" and node_rank() > 0:
        # msrun starts a scheduler on every node that has the master's address, so two nodes on one
        # machine would start two: the world's is node 0's, and this one has nothing to do.
        raise SystemExit(0)
    init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    return World(get_rank(), get_group_size(), "mindspore.communication (msrun)")


def gradient_reducer(optimizer: nn.Optimizer, world: World) -> nn.Cell | None:
    """The all-reduce that averages gradients over the world; ``None`` in one process."""
    return nn.DistributedGradReducer(optimizer.parameters, mean=True, degree=world.size) if world.size > 1 else None


def sum_over_world(values: list[float]) -> list[float]:
    """``values`` summed element-wise over every process (in float32: MindSpore reduces no float64)."""
    return ops.AllReduce()(ms.Tensor(np.asarray(values, np.float32))).asnumpy().astype(float).tolist()
