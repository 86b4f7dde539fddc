"""Data-parallel PyTorch: the world ``torchrun`` launched, and dropout that matches one process.

Each process computes a contiguous share of every global batch (``World.share``) inside
``DistributedDataParallel``, gloo on a CPU and NCCL on CUDA. Its loss is scaled so that DDP's
averaged gradient is the global batch's mean gradient, whatever the shares' sizes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from ..base import World

# A process that waits longer than this for the others (one died, say) fails instead of hanging.
TIMEOUT = timedelta(seconds=int(os.environ.get("D2LVGG_DIST_TIMEOUT", "120")))


def launched() -> bool:
    """Whether ``torchrun`` (or another launcher with its variables) started this process in a world of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_device(device: torch.device) -> torch.device:
    """On CUDA, each process of a launched world takes the GPU of its local rank."""
    if launched() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def join_world(device: torch.device) -> World:
    """The launched world (its process group started), or the world of one."""
    if not launched():
        return World()
    engine = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(engine, timeout=TIMEOUT, device_id=device if device.type == "cuda" else None)
        atexit.register(_leave_world)
    return World(dist.get_rank(), dist.get_world_size(), f"torch.distributed ({engine})")


def _leave_world() -> None:
    """At exit: wait for the others (the leader may still be writing), then tear the group down.

    A process that left while another still held its connections was aborted at exit by gloo.
    """
    with contextlib.suppress(Exception):  # a process that died is no reason to fail here
        dist.barrier()
    dist.destroy_process_group()


def sum_over_world(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed element-wise over every process."""
    dist.all_reduce(values)
    return values


class ShareDropout(nn.Module):
    """Dropout on one share of a global batch, with the masks one process draws for the whole batch.

    ``F.dropout`` on a tensor of ones of the global batch's shape draws exactly the masks (scaled by
    ``1 / (1 - p)``) that ``nn.Dropout`` draws in one process; this process keeps its rows.
    """

    def __init__(self, p: float, world: World) -> None:
        super().__init__()
        self.p, self.world = p, world
        self.batch = 0  # the global batch's size, set by the runner before each step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        masks = F.dropout(x.new_ones((self.batch, *x.shape[1:])), self.p)
        return x * masks[self.world.share(self.batch)]


def share_dropout(model: nn.Module, world: World) -> list[ShareDropout]:
    """Replace every ``nn.Dropout`` of ``model`` in place; the new layers, for the runner to size."""
    layers = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Dropout):
                layers.append(ShareDropout(child.p, world))
                setattr(parent, name, layers[-1])
    return layers
