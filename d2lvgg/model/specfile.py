"""Spec files: JSON and TOML in, JSON and TOML out, and "a preset name or a file" resolved."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .presets import PRESETS, preset
from .spec import VGGSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SUFFIXES = (".json", ".toml")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SpecError(f"{path}: a spec file must end in .json or .toml, not {suffix or 'nothing'!r}")
    return suffix


def load_spec(path: str | Path) -> VGGSpec:
    """Read a spec from a JSON or TOML file; errors name the file and what is wrong."""
    path = Path(path)
    suffix = _suffix(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save the spec as UTF-8 JSON or TOML"
        ) from None
    try:
        data: Any = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path} is not valid {suffix[1:].upper()}: {exc}") from None
    if isinstance(data, dict) and "name" not in data:
        data = {**data, "name": path.stem}
    try:
        return VGGSpec.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise SpecError(f"{path}: {exc}") from None


def dumps_spec(spec: VGGSpec, fmt: str = "json") -> str:
    """The spec as JSON or TOML text."""
    data = spec.to_dict()
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "toml":
        return "".join(f"{key} = {_toml_value(value)}\n" for key, value in data.items())
    raise SpecError(f"unknown spec format {fmt!r}: use json or toml")


def _toml_value(value: Any) -> str:
    """TOML for the few value kinds a spec holds: strings, numbers, booleans, arrays, tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def save_spec(spec: VGGSpec, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``spec`` to ``path`` (format from the suffix); an existing file is kept unless asked."""
    path = Path(path)
    text = dumps_spec(spec, _suffix(path)[1:])
    if path.exists() and not overwrite:
        raise SpecError(f"{path} already exists; choose another name or pass overwrite=True")
    path.write_text(text, encoding="utf-8")
    return path


def _named(arch: str | Path | VGGSpec) -> VGGSpec:
    if isinstance(arch, VGGSpec):
        return arch
    text = str(arch)
    if text in PRESETS:
        return preset(text)
    path = Path(text)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return load_spec(path)
    return preset(text)  # raises PresetError with suggestions


def resolve_spec(
    arch: str | Path | VGGSpec,
    *,
    ratio: int | None = None,
    head: tuple[int, ...] | None = None,
    **fields: Any,
) -> VGGSpec:
    """A spec from a spec, a preset name or a spec file, then reshaped as asked.

    ``fields`` replace spec fields (``input_size=96``...; ``None`` means keep), ``ratio``
    divides the channels as the textbook's ``small_conv_arch`` does, ``head`` sets the
    dense widths. This is what ``--arch``, ``--ratio``, ``--head`` and friends do.
    """
    spec = _named(arch).with_options(**fields)
    if ratio is not None and ratio != 1:
        spec = spec.scaled(ratio)
    if head is not None:
        spec = spec.with_options(head=tuple(head))
    return spec
