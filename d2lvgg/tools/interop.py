"""The ``weights import``, ``weights export`` and ``export`` subcommands: weights in and out of d2lvgg."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import RunError


def _check_new(path: Path, overwrite: bool) -> Path:
    """Refuse to replace a file the user has, unless asked to."""
    if path.exists() and not overwrite:
        raise RunError(f"{path} already exists: choose another --out, or pass --overwrite to replace it")
    return path


def cmd_weights_import(args: argparse.Namespace) -> int:
    from ..interop.convert import import_weights
    from ..training.weights import save_weights

    out = _check_new(Path(args.out or f"{args.arch}-{args.source}.npz"), args.overwrite)
    imported = import_weights(args.file, args.source, args.arch)
    for note in imported.notes:
        print(f"note: {note}")
    save_weights(imported.arrays, out, imported.metadata)
    count = sum(a.size for a in imported.arrays.values())
    print(f"imported {len(imported.arrays)} tensors ({count:,} numbers) from {args.source}'s {imported.spec.name}")
    print(
        f"wrote {out}; fine-tune it with: d2lvgg train --weights {out} --arch {args.arch} --in-channels 1 --classes 10"
    )
    return 0


def cmd_weights_export(args: argparse.Namespace) -> int:
    from ..interop.convert import export_weights, load_network_weights
    from ..interop.files import write_safetensors

    spec, arrays = load_network_weights(args.source, args.arch)
    out = _check_new(Path(args.out or f"{spec.name}-{args.to}.safetensors"), args.overwrite)
    state = export_weights(arrays, spec, args.to)
    write_safetensors(state, out)
    print(f"wrote {out}: {len(state)} tensors named as {args.to}'s {spec.name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..backends import get_backend
    from ..interop.convert import load_network_weights
    from ..interop.onnx import EXPORT_BATCH, check_exporter, export_onnx

    spec, arrays = load_network_weights(args.source, args.arch)
    check_exporter(args.backend)
    get_backend(args.backend)  # a missing framework is named before anything is written
    out = _check_new(Path(args.out or f"{spec.name}-{args.backend}.onnx"), args.overwrite)
    dynamic = export_onnx(spec, arrays, args.backend, out)
    batch = "any batch size" if dynamic else f"a batch of {EXPORT_BATCH} only (the exporter fixed it)"
    size = f"{spec.in_channels}x{spec.input_size}x{spec.input_size}"
    print(f"wrote {out}: {spec.name} from {args.backend}, input 'images' of {size}, {batch}")
    return 0
