"""The parity checks: each compiles a spec in two backends and returns a ``Check`` of how far they agree.

Shapes and parameters are held to the static analysis; logits and one SGD step to a tolerance.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...backends import REGISTRY, available, declaration, get_backend, plain_options
from ...backends.base import Runner
from ...errors import BackendError
from ...model import ir
from ...model.analysis import summarize
from ...model.initializers import initial_weights
from ...model.spec import VGGSpec

FORWARD_RTOL = 1e-4  # max |logit difference| / max |logit|, float32
BACKWARD_RTOL = 1e-3  # max |weight difference| after one step / max |update| of that step


@dataclass(frozen=True)
class Check:
    """One parity check: its verdict, the numbers behind it and the tolerance it was held to."""

    name: str
    passed: bool
    measured: str
    tolerance: str
    details: dict[str, Any] = field(default_factory=dict)


def installed_pairs() -> list[tuple[str, str]]:
    """Every pair of installed backends, in registry order."""
    return list(itertools.combinations(available(), 2))


def exporters(backends: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``backends`` whose framework writes ONNX."""
    return tuple(name for name in backends if not declaration(name).no_onnx)


def default_pair() -> tuple[str, str]:
    """The first pair of installed backends; a clear error when fewer than two are installed."""
    pairs = installed_pairs()
    if not pairs:
        raise BackendError(
            f"parity compares two backends, but only {', '.join(available()) or 'none'} is installed: "
            f"install another ({', '.join(REGISTRY)})"
        )
    return pairs[0]


# backend -> (spec, seed, runner): the last runner each backend built, which the next pair reuses
_BUILT: dict[str, tuple[VGGSpec, int, Runner]] = {}


def _runners(spec: VGGSpec, backends: tuple[str, ...], seed: int) -> list[Runner]:
    """A plain-path CPU runner per backend; across pairs, each backend builds (and compiles) a spec once."""
    for name in backends:
        if _BUILT.get(name, (None, None))[:2] != (spec, seed):
            backend = get_backend(name)
            backend.disable_reduced_precision()
            runner = backend.make_runner(ir.lower(spec), device="cpu", seed=seed, options=plain_options(name))
            _BUILT[name] = (spec, seed, runner)
    return [_BUILT[name][2] for name in backends]


# Across pairs, each backend measures a spec once (the shapes and tensors of a compiled network).
@functools.lru_cache(maxsize=8)
def _layer_shapes(backend: str, spec: VGGSpec) -> dict[str, tuple[int, ...]]:
    module = get_backend(backend)
    return module.output_shapes(module.compile_network(ir.lower(spec)), summarize(spec).input_shape)


@functools.lru_cache(maxsize=8)
def _tensor_shapes(backend: str, spec: VGGSpec) -> tuple[int, dict[str, tuple[int, ...]]]:
    module = get_backend(backend)
    model = module.compile_network(ir.lower(spec))
    return module.param_count(model), {name: a.shape for name, a in module.state_to_numpy(model).items()}


def check_shapes(spec: VGGSpec, backends: tuple[str, str] | None = None) -> Check:
    """Every block's and layer's output shape: static analysis, then each backend."""
    summary = summarize(spec)
    expected = {layer.name: layer.output_shape for _, layer in summary.rows("layer")}
    backends = backends or default_pair()
    mismatches = []
    for backend in backends:
        measured = _layer_shapes(backend, spec)
        mismatches += [
            f"{backend} {name}: {measured.get(name)} != {shape}"
            for name, shape in expected.items()
            if measured.get(name) != shape
        ]
    return Check(
        "shapes",
        not mismatches,
        f"{len(expected)} layers x {len(backends)} backends, {len(mismatches)} mismatches",
        "identical to the static analysis",
        {"mismatches": mismatches[:10]},
    )


def check_parameters(spec: VGGSpec, other: VGGSpec | None = None, backends: tuple[str, str] | None = None) -> Check:
    """Per-tensor shapes and total parameter counts; ``other`` builds the second backend's network."""
    backends = backends or default_pair()
    counts, tensors = {}, {}
    for backend, each in zip(backends, (spec, other or spec), strict=True):
        counts[backend], tensors[backend] = _tensor_shapes(backend, each)
    a, b = backends
    differing = sorted(set(tensors[a]) ^ set(tensors[b]))
    differing += [n for n in tensors[a] if n in tensors[b] and tensors[a][n] != tensors[b][n]]
    static = summarize(spec).total_params
    passed = not differing and counts[a] == counts[b] == static
    measured = f"{a} {counts[a]:,}, {b} {counts[b]:,}"
    if counts[a] != counts[b]:
        measured += f" ({counts[a] - counts[b]:+,})"
    return Check(
        "parameters",
        passed,
        measured,
        f"equal, and equal to the static {static:,}",
        {"differing_tensors": differing[:10], "counts": counts, "static": static},
    )


def _sample(spec: VGGSpec, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, spec.in_channels, spec.input_size, spec.input_size), dtype=np.float32)
    return x, rng.integers(0, spec.num_classes, batch)


def check_forward(spec: VGGSpec, *, batch: int = 4, seed: int = 0, backends: tuple[str, str] | None = None) -> Check:
    """Logits from the same weights and the same input, in evaluation mode."""
    weights = initial_weights(ir.lower(spec), "xavier", seed)
    x, _ = _sample(spec, batch, seed)
    logits = []
    for runner in _runners(spec, backends or default_pair(), seed):
        runner.load_state(weights)
        logits.append(runner.predict(x))
    max_abs = float(np.abs(logits[0] - logits[1]).max())
    scale = float(np.abs(logits[0]).max())
    rel = max_abs / scale
    return Check(
        "forward",
        rel <= FORWARD_RTOL,
        f"max abs {max_abs:.2e}, relative {rel:.2e} (largest logit {scale:.3g})",
        f"max abs / largest logit <= {FORWARD_RTOL:g}",
        {"max_abs": max_abs, "max_rel": rel, "batch": batch},
    )


def check_onnx(spec: VGGSpec, *, batch: int = 4, seed: int = 0, backends: tuple[str, str] | None = None) -> Check:
    """Each backend's ONNX export run in ONNX Runtime, against that backend's own logits.

    A backend without an exporter (``Declaration.no_onnx``) is named and left out; a pair with none
    has nothing to check here (``exporters``).
    """
    from ...interop.onnx import onnx_difference

    weights = initial_weights(ir.lower(spec), "xavier", seed)
    x, _ = _sample(spec, batch, seed)
    exporting = exporters(backends or default_pair())
    if not exporting:
        raise ValueError(f"neither of {backends} has an ONNX exporter")
    found = {}
    for name, runner in zip(exporting, _runners(spec, exporting, seed), strict=True):
        runner.load_state(weights)
        found[name] = onnx_difference(spec, weights, name, x, runner.predict(x))
    worst = max(d["max_rel"] for d in found.values())
    batches = {name: "any batch" if d["dynamic_batch"] else f"batch {d['batch']} only" for name, d in found.items()}
    measured = ", ".join(f"{name} {d['max_rel']:.2e} ({batches[name]})" for name, d in found.items())
    measured += "".join(f", {name}: no exporter" for name in backends or () if name not in exporting)
    return Check(
        "onnx",
        worst <= FORWARD_RTOL,
        measured,
        f"ONNX Runtime / backend logits <= {FORWARD_RTOL:g}",
        {"max_rel": worst, "backends": found},
    )


def check_backward(
    spec: VGGSpec, *, lr: float = 0.05, batch: int = 8, seed: int = 0, backends: tuple[str, str] | None = None
) -> Check:
    """Weights after one SGD step from the same weights on the same batch, dropout off."""
    spec = spec.with_options(dropout=0.0)
    weights = initial_weights(ir.lower(spec), "xavier", seed)
    x, y = _sample(spec, batch, seed)
    states = []
    for runner in _runners(spec, backends or default_pair(), seed):
        runner.load_state(weights)
        runner.set_optimizer(lr)
        runner.train_step(x, y)
        states.append(runner.state())
    max_abs = max(float(np.abs(states[0][k] - states[1][k]).max()) for k in weights)
    update = max(float(np.abs(states[0][k] - weights[k]).max()) for k in weights)
    rel = max_abs / update if update else float("inf")
    return Check(
        "backward",
        rel <= BACKWARD_RTOL,
        f"max abs {max_abs:.2e} across {len(weights)} tensors, {rel:.2e} of the largest update {update:.2e}",
        f"<= {BACKWARD_RTOL:g} of the largest update",
        {"max_abs": max_abs, "max_update": update, "max_rel": rel, "lr": lr, "batch": batch},
    )
