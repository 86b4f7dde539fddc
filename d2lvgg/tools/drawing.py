"""A drawing of a network's blocks with their shapes, generated from the spec (never by hand).

Each convolutional block is a box whose height follows the feature map's side and whose width
follows its channel count; under it, the layers inside and the block's output shape. The dense
head follows as narrow bars. Written as PNG and SVG, like every figure of d2lvgg.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..language import word
from ..model.analysis import LayerInfo, summarize
from ..model.spec import Block, Conv, VGGSpec

BLOCK_COLOUR, DENSE_COLOUR, INPUT_COLOUR = "#4c72b0", "#dd8452", "#8c8c8c"
ROW_GAP = 3.1  # between the rows' centres, in box heights: room for a block's labels above and below


def _block_lines(block: Block, spec: VGGSpec) -> list[str]:
    """The layers inside one block, as short lines: '2 x conv 3x3, 64', 'max pool 2/2'."""
    lines: list[str] = []
    run: list[Conv] = []
    for conv in (*block.convs, None):
        if run and (conv is None or conv != run[0]):
            k, first = run[0].kernel_size, run[0]
            stride = f"/{first.stride}" if first.stride != 1 else ""
            count = f"{len(run)} x " if len(run) > 1 else ""
            lines.append(f"{count}{word('conv')} {k}x{k}{stride}, {first.out_channels}")
            run = []
        if conv is not None:
            run.append(conv)
    if spec.batch_norm:
        lines.append(f"+ {word('batch norm')}")
    lines.append(f"{word('max pool')} {block.pool_size}/{block.pool_stride}")
    return lines


def _shape(info: LayerInfo) -> str:
    return " x ".join(str(d) for d in info.output_shape[1:])


def draw_network(spec: VGGSpec) -> Any:
    """A matplotlib figure of ``spec``'s blocks and dense head, with every output shape.

    Two rows, the input and the blocks above, the flattened map and the dense layers below, so that
    the labels stay legible at a page's width.
    """
    from matplotlib.patches import FancyBboxPatch

    from ..training.plot import _pyplot

    summary = summarize(spec)
    blocks = [info for info in summary.layers if info.type == "Block"]
    linears = [info for info in summary.layers if info.type == "Linear"]
    columns = max(1 + len(blocks), 1 + len(linears))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(1.6 * columns, 6), 6.4))
    max_channels = max(info.output_shape[1] for info in blocks)

    def box(x: float, y: float, height: float, width: float, colour: str, top: str, below: str) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0.02",
                facecolor=colour,
                edgecolor="black",
                linewidth=0.6,
                alpha=0.85,
            )
        )
        ax.text(x, y + 0.58, top, ha="center", va="bottom", fontsize=10)
        ax.text(x, y - 0.58, below, ha="center", va="top", fontsize=10, family="monospace")

    def arrows(count: int, y: float) -> None:
        for x in range(count - 1):
            ax.annotate("", xy=(x + 0.62, y), xytext=(x + 0.38, y), arrowprops={"arrowstyle": "->", "lw": 0.9})

    side = spec.input_size
    box(0, 0, 1.0, 0.25, INPUT_COLOUR, word("input"), f"{spec.in_channels} x {side} x {side}")
    for i, (info, block) in enumerate(zip(blocks, spec.blocks, strict=True), 1):
        height = 0.15 + 0.85 * info.output_shape[2] / side
        width = 0.2 + 0.5 * math.log2(1 + info.output_shape[1]) / math.log2(1 + max_channels)
        title = f"{word('block')} {i}"
        box(i, 0, height, width, BLOCK_COLOUR, "\n".join([title, *_block_lines(block, spec)]), _shape(info))
    arrows(1 + len(blocks), 0)
    low = -ROW_GAP  # the second row: the flattened map, then the dense layers
    widest = max(info.output_shape[1] for info in linears)
    flat_width = summary.layers[[info.type for info in summary.layers].index("Flatten")].output_shape[1]
    box(0, low, 1.0, 0.08, INPUT_COLOUR, word("flatten"), f"{flat_width:,}")
    for j, info in enumerate(linears, 1):
        last = j == len(linears)
        dropout = f"\n+ {word('dropout')} {spec.dropout}" if spec.dropout else ""
        label = word("output") if last else f"{word('dense')}\n+ ReLU{dropout}"
        height = 0.2 + 0.8 * math.log2(1 + info.output_shape[1]) / math.log2(1 + widest)
        box(j, low, height, 0.12, DENSE_COLOUR, label, f"{info.output_shape[1]:,}")
    arrows(1 + len(linears), low)
    # from the last block down to the flattened map: right, down between the rows, left, down, in
    end, middle = len(blocks), low / 2 - 0.15
    ax.plot([end + 0.38, end + 0.55, end + 0.55, -0.5, -0.5], [0, 0, middle, middle, low], color="black", lw=0.9)
    ax.annotate("", xy=(-0.1, low), xytext=(-0.5, low), arrowprops={"arrowstyle": "->", "lw": 0.9})
    ax.set_xlim(-0.75, columns - 0.3)
    ax.set_ylim(low - 1.05, 1.75)
    ax.axis("off")
    ax.set_title(
        f"{spec.name}: {spec.depth} {word('weight layers')}, {summary.total_params:,} {word('parameters')}, "
        f"{summary.total_macs / 1e9:.2f} {word('G MACs per image')}",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def save_drawing(spec: VGGSpec, stem: str | Path) -> list[Path]:
    """Draw ``spec`` and write ``stem.png`` and ``stem.svg``; returns both paths."""
    from ..training.plot import _pyplot, save

    fig = draw_network(spec)
    paths = save(fig, stem)
    _pyplot().close(fig)
    return paths
