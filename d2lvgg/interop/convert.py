"""Import a torchvision, timm or MindCV VGG's weights under d2lvgg's names, and export them back.

The mapping comes from ``layouts``; every tensor is checked by name and shape before anything is
written, and a file that fits another variant gets that variant suggested.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunError, SpecError
from ..model import ir
from ..model.presets import preset
from ..model.spec import VGGSpec
from ..model.specfile import resolve_spec
from ..training.rundir import CONFIG, WEIGHTS, RunDir
from ..training.setup import load_config
from ..training.weights import check_compatible, load_weights, weights_metadata
from .files import read_tensors
from .layouts import SOURCES, Source, layout

# The paper's configurations that torchvision, timm and MindCV all build.
VARIANTS = tuple(f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn"))


@dataclass(frozen=True)
class Imported:
    """Weights under the neutral names, the spec they fit, and what was adapted on the way."""

    spec: VGGSpec
    arrays: dict[str, np.ndarray]
    notes: tuple[str, ...]
    metadata: dict[str, Any]


def library(name: str) -> Source:
    if name not in SOURCES:
        raise RunError(f"unknown source {name!r}: d2lvgg imports from {', '.join(SOURCES)}")
    return SOURCES[name]


def _for_source(spec: VGGSpec, source: Source) -> tuple[VGGSpec, list[str]]:
    """The form of ``spec`` the library builds: without conv bias where it has none."""
    if spec.conv_bias and not source.conv_bias:
        note = f"{source.name}'s convolutions have no bias: the weights fit {spec.name} with conv_bias = false"
        return spec.with_options(conv_bias=False), [note]
    return spec, []


def _unwrap(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drop the ``module.`` prefix that a DataParallel-wrapped model's state carries."""
    if tensors and all(name.startswith("module.") for name in tensors):
        return {name.removeprefix("module."): a for name, a in tensors.items()}
    return tensors


def _stored(spec: VGGSpec, source: Source) -> dict[str, tuple[int, ...]]:
    return {name: shape for name, shape in layout(ir.lower(spec), source).values()}


def _guess(tensors: dict[str, np.ndarray], source: Source) -> str | None:
    """The library variant whose names and shapes are exactly these, if any."""
    found = {name: a.shape for name, a in tensors.items()}
    for variant in VARIANTS:
        if _stored(_for_source(preset(variant), source)[0], source) == found:
            return variant
    return None


def _refuse(path: Path, source: Source, spec: VGGSpec, problems: list[str], tensors: dict) -> RunError:
    guess = _guess(tensors, source)
    hint = f"it looks like {source.name}'s {guess}: pass --arch {guess}" if guess else "is it a VGG from this library?"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return RunError(f"{path} does not fit {source.name}'s {spec.name}: {problems[0]}{more}; {hint}")


def import_weights(path: str | Path, source_name: str, arch: str | VGGSpec) -> Imported:
    """Read ``path`` as ``source_name``'s VGG ``arch``; every tensor is checked before any is kept."""
    path, source = Path(path), library(source_name)
    spec, notes = _for_source(resolve_spec(arch), source)
    try:
        mapping = layout(ir.lower(spec), source)
    except ValueError as exc:
        raise SpecError(f"{spec.name} cannot take {source.name}'s weights: {exc}") from None
    tensors = {
        name: array
        for name, array in _unwrap(read_tensors(path)).items()
        if not name.endswith(source.ignored) and not name.startswith(source.training_state)
    }
    wanted = {stored: (neutral, shape) for neutral, (stored, shape) in mapping.items()}
    problems = [f"it lacks {name}" for name in wanted if name not in tensors]
    problems += [f"it holds {name}, which {spec.name} does not have" for name in tensors if name not in wanted]
    problems += [
        f"{name} has shape {tuple(tensors[name].shape)}, {source.name} stores {shape}"
        for name, (_, shape) in wanted.items()
        if name in tensors and tuple(tensors[name].shape) != shape
    ]
    if problems:
        raise _refuse(path, source, spec, problems, tensors)
    shapes = ir.tensor_shapes(ir.lower(spec))
    arrays = {
        neutral: tensors[stored].astype(np.float32).reshape(shapes[neutral]) for stored, (neutral, _) in wanted.items()
    }
    metadata = {
        "spec": spec.to_dict(),
        "source": source.name,
        "file": path.name,
        "adaptive_pool": source.adaptive_pool,
    }
    return Imported(spec, arrays, tuple(notes), metadata)


def export_weights(arrays: dict[str, np.ndarray], spec: VGGSpec, target: str) -> dict[str, np.ndarray]:
    """``arrays`` under ``target``'s names and shapes, ready for its ``load_state_dict``."""
    source = library(target)
    if target == "mindcv":
        raise RunError("export writes torchvision or timm names; MindCV reads PyTorch weights through its converter")
    width = next(op.in_features for op in ir.lower(spec).children if isinstance(op, ir.Linear))
    unmet = [
        need
        for need, met in (
            (f"3-channel images (it has {spec.in_channels})", spec.in_channels == 3),
            ("convolutions with a bias (it has none, as MindCV's VGG)", spec.conv_bias),
            (f"a 512x7x7 map into its first dense layer (it has {width:,} features)", width == 512 * 7 * 7),
        )
        if not met
    ]
    if unmet:
        raise SpecError(f"{spec.name} cannot load into {target}'s VGG, which needs {'; and '.join(unmet)}")
    try:
        mapping = layout(ir.lower(spec), source)
    except ValueError as exc:
        raise SpecError(f"{spec.name} cannot be written as {target}'s VGG: {exc}") from None
    state = {
        stored: np.ascontiguousarray(arrays[neutral]).reshape(shape) for neutral, (stored, shape) in mapping.items()
    }
    for name in list(state):
        if name.endswith(".running_var"):  # torch's batch norm counts its steps; a fresh count loads fine
            state[name.replace(".running_var", ".num_batches_tracked")] = np.zeros((), np.int64)
    return state


def load_network_weights(target: str | Path, arch: str | None = None) -> tuple[VGGSpec, dict[str, np.ndarray]]:
    """A run folder's spec and final weights, or a weights file with the spec it records (or ``arch``)."""
    target = Path(target)
    if target.is_dir():
        run = RunDir.open(target)
        if not run.file(WEIGHTS).exists():
            raise RunError(
                f"{target} has not finished ({WEIGHTS} is written after the last epoch): "
                f"resume it with d2lvgg train --resume {target}"
            )
        spec = resolve_spec(arch) if arch else load_config(run)[0]
        arrays = load_weights(run.file(WEIGHTS))
    else:
        arrays, recorded = load_weights(target), weights_metadata(target).get("spec")
        if arch:
            spec = resolve_spec(arch)
        elif recorded:
            spec = VGGSpec.from_dict(recorded)
        else:
            raise RunError(
                f"{target} does not record its architecture ({CONFIG} is beside a run's weights): pass --arch"
            )
    check_compatible(arrays, ir.lower(spec), str(target))
    return spec, arrays
