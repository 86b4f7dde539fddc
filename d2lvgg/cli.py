"""The ``d2lvgg`` command: thin wrappers over the library, one function per subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import D2LVGGError


def _head(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--head takes comma-separated widths like 4096,4096, got {text!r}") from None
    return widths


def add_arch_options(parser: argparse.ArgumentParser) -> None:
    """The options that reshape a named architecture, shared by every subcommand that takes one."""
    parser.add_argument("--input-size", type=int, help="square input size in pixels (default: the spec's)")
    parser.add_argument("--in-channels", type=int, help="input channels (default: the spec's)")
    parser.add_argument("--classes", type=int, dest="num_classes", help="number of classes (default: the spec's)")
    parser.add_argument(
        "--ratio", type=int, help="divide every block's channels by R, as the textbook's small_conv_arch"
    )
    parser.add_argument("--head", type=_head, help="dense head widths, comma-separated (e.g. 256,256)")


def arch_overrides(args: argparse.Namespace) -> dict:
    return {
        "input_size": args.input_size,
        "in_channels": args.in_channels,
        "num_classes": args.num_classes,
        "ratio": args.ratio,
        "head": args.head,
    }


def cmd_presets(args: argparse.Namespace) -> int:
    from .analysis import summarize
    from .presets import PRESETS, describe, preset

    width = max(len(name) for name in PRESETS)
    for name in PRESETS:
        total = summarize(preset(name)).total_params
        print(f"{name:<{width}}  {total:>13,} params  {describe(name)}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from . import render
    from .analysis import summarize
    from .specfile import resolve_spec

    summaries = [summarize(resolve_spec(arch, **arch_overrides(args))) for arch in args.arch]
    if args.format == "json":
        print(render.to_json(summaries, args.depth))
    elif args.format == "markdown":
        print(render.to_markdown(summaries, args.depth), end="")
    else:
        render.print_tables(summaries, args.depth)
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    from .specfile import dumps_spec, resolve_spec

    print(dumps_spec(resolve_spec(args.arch, **arch_overrides(args)), args.format), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="d2lvgg", description="VGG from Dive into Deep Learning, in PyTorch and MindSpore."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("presets", help="list the named architectures")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("summary", help="layer-by-layer shapes, parameters and MACs, without any framework")
    p.add_argument("arch", nargs="+", metavar="NAME_OR_SPEC_FILE", help="preset name(s) or .json/.toml spec file(s)")
    add_arch_options(p)
    p.add_argument("--depth", choices=("block", "layer"), default="block", help="one row per block, or per layer")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("spec", help="print a resolved spec as a JSON or TOML file to edit")
    p.add_argument("arch", metavar="NAME_OR_SPEC_FILE")
    add_arch_options(p)
    p.add_argument("--format", choices=("json", "toml"), default="toml")
    p.set_defaults(func=cmd_spec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except D2LVGGError as exc:
        print(f"d2lvgg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"d2lvgg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
