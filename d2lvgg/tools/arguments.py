"""Command-line arguments shared by several subcommands, the backends' own options, and the recipes' help."""

from __future__ import annotations

import argparse
from typing import Any

from ..backends import DEFAULT as DEFAULT_BACKEND
from ..backends import REGISTRY, all_options, declaration
from ..backends import options as declared_options
from ..language import LANGUAGES
from ..training.config import AUTO_RECIPE, RECIPES, TrainConfig, auto_recipe

BACKEND_HELP = f"{' or '.join(REGISTRY)} (default: {DEFAULT_BACKEND})"
DEVICE_HELP = "; ".join(f"{name}: {declaration(name).devices}" for name in REGISTRY)
DATA_DIR_HELP = "folder holding the four Fashion-MNIST files"


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _setting(key: str, value: Any) -> str:
    return f"{value} px" if key == "resize" else f"{key.replace('_', ' ')} {_show(value)}"


def recipe_default(key: str, fallback: Any = None) -> str:
    """``default: the recipe's, ...``: the default recipe's ``key``, then the recipes that differ from it."""
    values = {name: recipe.get(key, fallback) for name, recipe in RECIPES.items()}
    usual = values[TrainConfig.recipe]
    differing: dict[Any, list[str]] = {}
    for name, value in values.items():
        if value != usual:
            differing.setdefault(value, []).append(name)
    parts = [_show(usual), *(f"{', '.join(names)}: {_show(value)}" for value, names in differing.items())]
    return f"default: the recipe's, {'; '.join(parts)}"


def recipe_help() -> str:
    """What ``--recipe`` chooses between: ``auto``, then each recipe's settings, read from the table."""
    base = TrainConfig.recipe
    described = [f"{base}: {', '.join(_setting(k, v) for k, v in RECIPES[base].items())}"]
    for name, recipe in RECIPES.items():
        if name != base:
            changed = [_setting(k, v) for k, v in recipe.items() if RECIPES[base].get(k) != v]
            described.append(f"{name}: {base} with {', '.join(changed)}")
    auto = (
        f"{AUTO_RECIPE} (default): {auto_recipe(True)}, or {auto_recipe(False)} when no --arch is given and "
        "there is no GPU"
    )
    return "; ".join([auto, *described])


def _head(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--head takes comma-separated widths like 4096,4096, got {text!r}") from None
    return widths


def add_arch_options(parser: argparse.ArgumentParser, *, input_size: bool = True) -> None:
    """The options that reshape a named architecture, shared by every subcommand that takes one."""
    if input_size:
        parser.add_argument("--input-size", type=int, help="square input size in pixels (default: the spec's)")
    parser.add_argument("--in-channels", type=int, help="input channels (default: the spec's)")
    parser.add_argument("--classes", type=int, dest="num_classes", help="number of classes (default: the spec's)")
    parser.add_argument(
        "--ratio", type=int, help="divide every block's channels by R, as the textbook's small_conv_arch"
    )
    parser.add_argument("--head", type=_head, help="dense head widths, comma-separated (e.g. 256,256)")


def add_language_option(parser: argparse.ArgumentParser) -> None:
    """``--lang``: the language of the figures a command draws."""
    parser.add_argument(
        "--lang", choices=LANGUAGES, help="labels of the figures: en (default) or zh, which needs a CJK font"
    )


def arch_overrides(args: argparse.Namespace) -> dict:
    return {
        "input_size": getattr(args, "input_size", None),
        "in_channels": args.in_channels,
        "num_classes": args.num_classes,
        "ratio": args.ratio,
        "head": args.head,
    }


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """Every backend's own options, as each backend declares them, and ``--plain``."""
    parser.add_argument("--plain", action="store_true", help="switch the backend's speed-ups off (the textbook's way)")
    for backend, option in all_options().values():
        help_text = f"{backend}: {option.help}"
        if option.choices == (True, False):
            parser.add_argument(
                option.flag, dest=option.name, action="store_const", const=not option.default, help=help_text
            )
        else:
            help_text += f" (default: {option.default})"
            parser.add_argument(option.flag, dest=option.name, choices=option.choices, help=help_text)


def backend_options(args: argparse.Namespace, backend: str) -> dict:
    """The options given on the command line; under ``--plain``, the backend's plain values too."""
    given = {name: getattr(args, name) for name in all_options() if getattr(args, name) is not None}
    if args.plain:
        plain = {o.name: o.plain for o in declared_options(backend) if o.plain is not None}
        given = plain | given
    return given


def backend_pair(text: str) -> tuple[str, str]:
    names = tuple(name.strip() for name in text.split(","))
    if len(names) != 2 or names[0] == names[1] or not all(names):
        raise argparse.ArgumentTypeError(f"--backends takes two different backends like torch,mindspore, got {text!r}")
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown backend {unknown[0]!r}: choose from {', '.join(REGISTRY)}")
    return names
