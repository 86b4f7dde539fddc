"""Seeded dropout for the MindSpore runner: masks drawn by numpy, the same in every process and on every resume.

MindSpore 2.10's CPU dropout is not reproducible across processes even after ``set_seed`` (two
fresh runs differ in the first epoch), which rules out an exact resume and a data-parallel run
equal to one process. So the runner, when it takes a network, swaps each ``nn.Dropout`` for a
``Dropout`` whose keep-mask it writes before every step. The network ``vgg`` builds keeps
MindSpore's own ``nn.Dropout``, and works in any loop.
"""

from __future__ import annotations

import numpy as np
from mindspore import Parameter, Tensor, nn

from ..base import World


class Dropout(nn.Dropout):
    """``nn.Dropout`` that multiplies by a mask the runner sets (already scaled by 1/(1-p)).

    Named (and printed) as the cell it replaces; evaluation mode passes activations through.
    """

    def __init__(self, p: float) -> None:
        super().__init__(p=p)
        self.mask = Parameter(Tensor(np.ones((1, 1), np.float32)), name="mask", requires_grad=False)

    def construct(self, x):
        if not self.training or self.p == 0:
            return x
        return x * self.mask[: x.shape[0]]


class DropoutMasks:
    """The seeded dropout cells of one network, with the numpy stream that draws their masks."""

    def __init__(self, model: nn.SequentialCell, world: World, seed: int) -> None:
        self.world = world
        self.cells = _install(model)
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Restart the stream, so an epoch's masks depend on its seed alone."""
        self.rng = np.random.default_rng(seed)

    def draw(self, batch: int) -> None:
        """One process's masks for the whole global batch; this process keeps its share's rows."""
        share = self.world.share(batch)
        for cell, width in self.cells:
            keep = (self.rng.random((batch, width)) >= cell.p)[share]
            mask = keep.astype(np.float32) / np.float32(1.0 - cell.p)
            if cell.mask.shape[0] < len(mask) or cell.mask.shape[1] != width:
                cell.mask.set_data(Tensor(mask))
            else:  # keep the compiled graph's shape: a smaller last batch is padded with ones
                padded = np.ones(cell.mask.shape, np.float32)
                padded[: len(mask)] = mask
                cell.mask.set_data(Tensor(padded))


def _install(model: nn.SequentialCell) -> list[tuple[Dropout, int]]:
    """Swap each top-level ``nn.Dropout`` for a ``Dropout``; each with the width of the dense layer before it."""
    found, width = [], 0
    for i in range(len(model)):
        cell = model[i]
        if isinstance(cell, nn.Dense):
            width = cell.out_channels
        elif isinstance(cell, nn.Dropout) and not isinstance(cell, Dropout):
            seeded = Dropout(cell.p)
            model[i] = seeded
            seeded.update_parameters_name(f"{i}.")
            found.append((seeded, width))
    return found
