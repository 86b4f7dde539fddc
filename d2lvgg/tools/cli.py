"""The ``d2lvgg`` command: its parser, and ``main``, which turns errors into one-line messages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__, language
from ..backends import DEFAULT as DEFAULT_BACKEND
from ..backends import REGISTRY, declaration
from ..errors import D2LVGGError, RunInterrupted
from ..training.config import AUTO_RECIPE, BOOK, DEFAULT_ARCH, RECIPES, SCHEDULES, TrainConfig
from . import commands, interop
from .arguments import (
    BACKEND_HELP,
    DATA_DIR_HELP,
    DEVICE_HELP,
    add_arch_options,
    add_backend_options,
    add_language_option,
    backend_pair,
    recipe_default,
    recipe_help,
)
from .bench import BenchConfig


def build_parser() -> argparse.ArgumentParser:
    """The ``d2lvgg`` parser: one subcommand per verb, each added by its own function below."""
    titles = [declaration(name).title for name in REGISTRY]
    frameworks = f"{', '.join(titles[:-1])} and {titles[-1]}" if len(titles) > 1 else titles[0]
    parser = argparse.ArgumentParser(prog="d2lvgg", description=f"VGG from Dive into Deep Learning, in {frameworks}.")
    parser.add_argument("--version", action="version", version=f"d2lvgg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_presets,
        _add_summary,
        _add_spec,
        _add_train,
        _add_parity,
        _add_compare,
        _add_sweep,
        _add_bench,
        _add_draw,
        _add_evaluate,
        _add_interop,
    ):
        add(sub)
    return parser


def _add_presets(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list the named architectures")
    p.set_defaults(func=commands.cmd_presets)


def _add_summary(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="layer-by-layer shapes, parameters and MACs, without any framework")
    p.add_argument("arch", nargs="+", metavar="NAME_OR_SPEC_FILE", help="preset name(s) or .json/.toml spec file(s)")
    add_arch_options(p)
    p.add_argument("--depth", choices=("block", "layer"), default="block", help="one row per block, or per layer")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.set_defaults(func=commands.cmd_summary)


def _add_spec(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spec", help="print a resolved spec as a JSON or TOML file to edit")
    p.add_argument("arch", metavar="NAME_OR_SPEC_FILE")
    add_arch_options(p)
    p.add_argument("--format", choices=("json", "toml"), default="toml")
    p.set_defaults(func=commands.cmd_spec)


def _add_train(sub: argparse._SubParsersAction) -> None:
    """``train``: the hyperparameters default to None, so the recipe decides; their help reads the recipe table."""
    p = sub.add_parser("train", help="train on Fashion-MNIST with the textbook's recipe; writes a run folder")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help=BACKEND_HELP)
    p.add_argument("--arch", metavar="NAME_OR_SPEC_FILE", help=recipe_default("arch", DEFAULT_ARCH))
    add_arch_options(p, input_size=False)
    p.add_argument("--recipe", default=AUTO_RECIPE, choices=(AUTO_RECIPE, *RECIPES), help=recipe_help())
    p.add_argument("--momentum", type=float, help=f"SGD momentum ({recipe_default('momentum', TrainConfig.momentum)})")
    p.add_argument(
        "--weight-decay",
        type=float,
        help=f"L2 weight decay ({recipe_default('weight_decay', TrainConfig.weight_decay)})",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help=f"learning-rate schedule ({recipe_default('schedule', TrainConfig.schedule)})",
    )
    p.add_argument("--epochs", type=int, help=recipe_default("epochs"))
    p.add_argument("--lr", type=float, help=recipe_default("lr"))
    p.add_argument("--batch-size", type=int, help=recipe_default("batch_size"))
    p.add_argument("--resize", type=int, help=f"input size the images are resized to ({recipe_default('resize')})")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--device", default=TrainConfig.device, help=DEVICE_HELP)
    p.add_argument("--init", default=TrainConfig.init, help="xavier (the book's), kaiming, torch-default or framework")
    add_backend_options(p)
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--train-limit", type=int, help="train on the first N training images only")
    p.add_argument("--test-limit", type=int, help="score on the first N test images only")
    p.add_argument("--out", help="run folder (default: runs/ARCH-BACKEND-TIME)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--weights", metavar="W.npz", help="start from these weights (d2lvgg weights import makes them)")
    p.add_argument(
        "--resume", metavar="RUN_DIR", help="continue an interrupted run with its own settings (or to other --epochs)"
    )
    p.add_argument(
        "--nproc", type=int, help="train data-parallel in N processes (on each node), started by the backend's launcher"
    )
    p.add_argument("--nodes", type=int, default=1, help="machines the run spans; each runs this command (default: 1)")
    p.add_argument("--node-rank", type=int, metavar="R", help="with --nodes: this machine's rank, 0 on --master's")
    p.add_argument("--master", metavar="HOST:PORT", help="with --nodes: node 0's address and a free port there")
    p.add_argument(
        "--threads", type=int, help="CPU threads (default: the fastest of 1 and every core, timed before epoch 1)"
    )
    add_language_option(p)
    p.set_defaults(func=commands.cmd_train)


def _add_parity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parity", help="check that two backends agree on a spec; exits 1 on a failure")
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="NAME_OR_SPEC_FILE", help="default: %(default)s")
    add_arch_options(p)
    p.add_argument(
        "--backends", type=backend_pair, metavar="A,B", help="the two backends (default: every installed pair)"
    )
    p.add_argument(
        "--textbook",
        "--textbook-mindspore",
        action="store_true",
        help="build the second backend's side as its edition of the book does (MindSpore's: no conv bias)",
    )
    p.add_argument("--train", action="store_true", help="also train both on Fashion-MNIST and compare accuracy")
    p.add_argument("--onnx", action="store_true", help="also run each backend's ONNX export in ONNX Runtime")
    p.add_argument("--epochs", type=int, default=5, help="--train: epochs (default: %(default)s)")
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="--train: learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="--train: batch size (default: %(default)s)")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--out", help="folder for parity.json, parity.md and training runs")
    add_language_option(p)
    p.set_defaults(func=commands.cmd_parity)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="finished runs side by side: a table, an overlaid plot, markdown")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="folder for compare.md, compare.png and compare.svg (default: runs/compare-TIME)")
    add_language_option(p)
    p.set_defaults(func=commands.cmd_compare)


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="train every cell of a comparison grid (TOML), then compare them all")
    p.add_argument("grid", nargs="?", metavar="GRID", help="a grid .toml file or a shipped grid's name")
    p.add_argument("--list", action="store_true", help="list the shipped grids")
    p.add_argument("--dry-run", action="store_true", help="print what each cell would do, and do nothing")
    p.add_argument("--out", help="folder for the cells and the comparison (default: runs/sweep-NAME)")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    add_language_option(p)
    p.set_defaults(func=commands.cmd_sweep)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    """``bench``: the book's input size, and the measuring defaults of ``BenchConfig``."""
    p = sub.add_parser("bench", help="training throughput of d2lvgg's loop against the textbook's, same machine")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help=BACKEND_HELP)
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="NAME_OR_SPEC_FILE", help="default: %(default)s")
    add_arch_options(p, input_size=False)
    p.add_argument("--resize", type=int, default=BOOK["resize"], help="input size in pixels (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=BenchConfig.batch_size)
    p.add_argument("--device", default=TrainConfig.device)
    p.add_argument(
        "--steps", type=int, default=BenchConfig.steps, help="measured steps per repetition (default: %(default)s)"
    )
    p.add_argument("--epoch", action="store_true", help="time one whole epoch per repetition instead of --steps")
    p.add_argument(
        "--warmup", type=int, default=BenchConfig.warmup, help="steps run before measuring (default: %(default)s)"
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=BenchConfig.repeats,
        help="repetitions, each in a fresh process; the median is kept",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=BenchConfig.workers,
        help="the textbook loop's DataLoader workers (the book's: %(default)s)",
    )
    p.add_argument(
        "--under-load",
        type=int,
        default=0,
        metavar="N",
        help="also time d2lvgg's loop beside N neighbours (--neighbour): the share of its speed it keeps",
    )
    p.add_argument(
        "--neighbour",
        choices=("run", "busy-loop"),
        default="run",
        help="what --under-load starts: other training runs of the network (default) or busy loops at nice 10",
    )
    p.add_argument("--neighbour-backend", metavar="NAME", help="the neighbour runs' backend (default: --backend)")
    p.add_argument("--neighbour-nice", type=int, metavar="N", help="the neighbours' niceness (runs 0, busy loops 10)")
    p.add_argument(
        "--late", action="store_true", help="the neighbours start after d2lvgg's loop has probed its threads"
    )
    p.add_argument(
        "--frameworks",
        action="store_true",
        help="every installed backend: the framework's own minimal step, d2lvgg's loop and the book's, in turns",
    )
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    add_backend_options(p)
    p.set_defaults(func=commands.cmd_bench)


def _add_draw(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("draw", help="draw a network's blocks with their shapes (PNG and SVG)")
    p.add_argument("arch", metavar="NAME_OR_SPEC_FILE")
    add_arch_options(p)
    p.add_argument(
        "--out", help="STEM.png and STEM.svg are written; a .png or .svg ending is the stem's (default: NAME-blocks)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace drawings that already exist")
    add_language_option(p)
    p.set_defaults(func=commands.cmd_draw)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-score a run's saved weights on the test set")
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--backend", help=f"score with this backend instead of the one that trained ({', '.join(REGISTRY)})")
    p.add_argument("--device", help="default: the device the run asked for")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.set_defaults(func=commands.cmd_evaluate)


def _add_interop(sub: argparse._SubParsersAction) -> None:
    """``weights import``, ``weights export`` and ``export``: weights to and from other libraries."""
    from ..interop.files import known_suffixes
    from ..interop.layouts import SOURCES

    weights = sub.add_parser("weights", help="import torchvision, timm or MindCV weights; export for torchvision")
    verbs = weights.add_subparsers(dest="verb", required=True, metavar="VERB")
    sources = "; ".join(f"{source.name}: {source.note}" for source in SOURCES.values())
    p = verbs.add_parser(
        "import", help="a library's VGG weights under d2lvgg's names, checked tensor by tensor", epilog=sources
    )
    p.add_argument("file", metavar="FILE", help=f"the weights file: {known_suffixes()}")
    p.add_argument("--from", dest="source", required=True, choices=tuple(SOURCES), help="the library that saved it")
    p.add_argument("--arch", required=True, metavar="NAME", help="its variant: vgg11 ... vgg19_bn")
    p.add_argument("--out", metavar="W.npz", help="default: ARCH-SOURCE.npz")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=interop.cmd_weights_import)

    p = verbs.add_parser("export", help="a run's or weights file's tensors named for torchvision or timm (safetensors)")
    p.add_argument("source", metavar="RUN_OR_WEIGHTS")
    p.add_argument("--to", required=True, choices=("torchvision", "timm"))
    p.add_argument("--arch", metavar="NAME_OR_SPEC_FILE", help="for a weights file that does not record its spec")
    p.add_argument("--out", metavar="F.safetensors", help="default: ARCH-TO.safetensors")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=interop.cmd_weights_export)

    p = sub.add_parser("export", help="write a run's or weights file's network as ONNX, with a backend's exporter")
    p.add_argument("source", metavar="RUN_OR_WEIGHTS")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=tuple(REGISTRY), help="whose exporter writes it")
    p.add_argument("--arch", metavar="NAME_OR_SPEC_FILE", help="for a weights file that does not record its spec")
    p.add_argument("--out", metavar="F.onnx", help="default: ARCH-BACKEND.onnx")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=interop.cmd_export)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        if getattr(args, "lang", None):
            language.use(args.lang)
        elif hasattr(args, "lang"):  # a command that draws: $D2LVGG_LANG and its font checked before any work
            language.current()
        return args.func(args)
    except RunInterrupted as exc:
        print(f"d2lvgg {args.command}: {exc}", file=sys.stderr)
        return 130
    except D2LVGGError as exc:
        print(f"d2lvgg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user named cannot be written or read
        where = f": {exc.filename}" if exc.filename else ""
        print(f"d2lvgg {args.command}: error: {exc.strerror or exc}{where}; check the path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"d2lvgg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
