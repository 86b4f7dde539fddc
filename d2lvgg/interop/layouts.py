"""How torchvision, timm and MindCV name a VGG's tensors, mapped onto d2lvgg's neutral names.

All three keep the convolutions in one flat ``features`` sequence (conv, [batch norm], ReLU, ...,
max-pool), so a layer's index there is its position counted through d2lvgg's blocks. They differ
in the dense head and the batch-norm names; the table below is written once, from the IR.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import ir

TORCH_BN = ("weight", "bias", "running_mean", "running_var")
MINDSPORE_BN = ("gamma", "beta", "moving_mean", "moving_variance")


@dataclass(frozen=True)
class Source:
    """A library's VGG: how it names the dense layers and batch norm, and what its files hold."""

    name: str
    dense: tuple[str, ...]  # the three dense layers' module names
    batch_norm: tuple[str, ...]  # names of (scale, shift, mean, variance)
    conv_bias: bool  # whether its convolutions carry a bias
    ignored: tuple[str, ...]  # tensor-name endings that are state but not weights
    adaptive_pool: str  # how the head meets a feature map other than 7x7: "always", "smaller" or "never"
    note: str
    training_state: tuple[str, ...] = ()  # name beginnings of what a training checkpoint keeps beside the weights


SOURCES = {
    "torchvision": Source(
        "torchvision",
        ("classifier.0", "classifier.3", "classifier.6"),
        TORCH_BN,
        True,
        ("num_batches_tracked",),
        "always",
        "torchvision.models.vgg11 ... vgg19_bn: features.N, classifier.{0,3,6}; an adaptive 7x7 average pool",
    ),
    "timm": Source(
        "timm",
        ("pre_logits.fc1", "pre_logits.fc2", "head.fc"),
        TORCH_BN,
        True,
        ("num_batches_tracked",),
        "smaller",
        "timm's vgg11 ... vgg19_bn: the first two dense layers as 7x7 and 1x1 convolutions (pre_logits)",
    ),
    "mindcv": Source(
        "mindcv",
        ("classifier.0", "classifier.3", "classifier.6"),
        MINDSPORE_BN,
        False,
        (),
        "never",
        "mindcv.models.vgg11 ... vgg19 (batch_norm=True for _bn): convolutions without bias",
        ("moments.", "accum.", "adam_m.", "adam_v.", "global_step", "learning_rate", "momentum", "scale_sense"),
    ),
}


def layout(network: ir.Sequential, library: Source) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Neutral tensor name -> (the library's name for it, the shape the library stores).

    Raises ValueError when the network's head is not the paper's two hidden layers and an output.
    """
    dense = [path for path, op in ir.named_leaves(network) if isinstance(op, ir.Linear)]
    if len(dense) != len(library.dense):
        raise ValueError(f"{library.name}'s VGG has {len(library.dense)} dense layers, this network {len(dense)}")
    modules = dict(zip(dense, library.dense, strict=True))
    batch_norms = set()
    blocks = [child for child in network.children if isinstance(child, ir.Sequential)]
    flat = [(f"{b}.{i}", op) for b, block in enumerate(blocks) for i, op in enumerate(block.children)]
    for index, (path, op) in enumerate(flat):
        modules[path] = f"features.{index}"
        if isinstance(op, ir.BatchNorm2d):
            batch_norms.add(path)
    mapping = {}
    for name, shape in ir.tensor_shapes(network).items():
        path, kind = name.rsplit(".", 1)
        if path in batch_norms:
            kind = library.batch_norm[TORCH_BN.index(kind)]
        mapping[name] = (f"{modules[path]}.{kind}", _stored_shape(library, modules[path], shape))
    return mapping


def _stored_shape(library: Source, module: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """timm keeps the first two dense weights as convolutions: (out, channels, 7, 7) and (out, in, 1, 1)."""
    if library.name == "timm" and module.startswith("pre_logits") and len(shape) == 2:
        out, width = shape
        side = 7 if module.endswith("fc1") else 1
        return (out, width // side**2, side, side)
    return shape
