"""The ``d2lvgg`` command: thin wrappers over the library, one function per subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..backends import DEFAULT as DEFAULT_BACKEND
from ..backends import REGISTRY, all_options, declaration
from ..backends import options as declared_options
from ..errors import ConfigError, D2LVGGError, RunInterrupted
from ..training.config import AUTO_RECIPE, DEFAULT_ARCH, RECIPES, auto_recipe

BACKEND_HELP = f"{' or '.join(REGISTRY)} (default: {DEFAULT_BACKEND})"
DEVICE_HELP = "; ".join(f"{name}: {declaration(name).DEVICES}" for name in REGISTRY)


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


def cmd_presets(args: argparse.Namespace) -> int:
    from ..model.analysis import summarize
    from ..model.presets import PRESETS, describe, preset

    width = max(len(name) for name in PRESETS)
    for name in PRESETS:
        total = summarize(preset(name)).total_params
        print(f"{name:<{width}}  {total:>13,} params  {describe(name)}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from ..model.analysis import summarize
    from ..model.specfile import resolve_spec
    from . import render

    summaries = [summarize(resolve_spec(arch, **arch_overrides(args))) for arch in args.arch]
    if args.format == "json":
        print(render.to_json(summaries, args.depth))
    elif args.format == "markdown":
        print(render.to_markdown(summaries, args.depth), end="")
    else:
        render.print_tables(summaries, args.depth)
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    from ..model.specfile import dumps_spec, resolve_spec

    print(dumps_spec(resolve_spec(args.arch, **arch_overrides(args)), args.format), end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.config import TrainConfig, recipe_spec
    from ..training.loop import resume, train

    if args.resume:
        resume(args.resume, progress=sys.stderr.isatty())
        return 0
    recipe = _recipe_for(args)
    reshape = {k: v for k, v in arch_overrides(args).items() if k != "input_size"}
    spec = recipe_spec(recipe, args.arch, args.resize, **reshape)
    config = TrainConfig.from_recipe(
        recipe,
        backend=args.backend,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        init=args.init,
        data_dir=args.data_dir,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        options=backend_options(args, args.backend),
    )
    train(spec, config, out=args.out, overwrite=args.overwrite, progress=sys.stderr.isatty())
    return 0


def _recipe_for(args: argparse.Namespace) -> str:
    """``--recipe auto`` without ``--arch``: the book's run on a GPU or Ascend card, the CPU-sized one on a CPU."""
    if args.recipe != AUTO_RECIPE:
        return args.recipe
    if args.arch:
        return "d2l-zh"
    from ..backends import get_backend

    name = auto_recipe(get_backend(args.backend).has_accelerator(args.device))
    if name == "d2l-cpu":
        print(
            "no GPU or Ascend card here: the book's recipe on the CPU-sized network (--recipe d2l-cpu: "
            "d2l_vgg11_cpu at 32 px); for the book's full run at 224 px pass --recipe d2l-zh"
        )
    return name


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..training.loop import evaluate_run

    result = evaluate_run(args.run, backend=args.backend, device=args.device, data_dir=args.data_dir)
    where = f"{result['backend']} on {result['device']}"
    print(f"test acc {result['test_acc']:.3f} on {result['examples']:,} test images ({where})")
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..model.specfile import resolve_spec
    from ..training.config import TrainConfig
    from . import render
    from .parity import installed_pairs, run_parity

    spec = resolve_spec(args.arch, **arch_overrides(args))
    pairs = [args.backends] if args.backends else installed_pairs() or [None]  # None: run_parity explains
    root = Path(args.out or f"runs/parity-{spec.name}-{spec.input_size}")
    config = None
    if args.train:
        config = TrainConfig(
            epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, device="cpu", data_dir=args.data_dir
        )
    passed = True
    for pair in pairs:
        out = root if len(pairs) == 1 else root / "-vs-".join(pair)
        report = run_parity(spec, backends=pair, textbook=args.textbook, train_config=config, out=out)
        title = f"parity: {report.arch} at {report.input_size} px, {' vs '.join(report.backends)}"
        render.print_rows(title, ["check", "result", "measured", "tolerance"], report.rows())
        for path in report.save(out):
            print(f"wrote {path}")
        passed = passed and report.passed
    print("all checks pass" if passed else "some checks FAIL")
    return 0 if passed else 1


def _pair(text: str) -> tuple[str, str]:
    names = tuple(name.strip() for name in text.split(","))
    if len(names) != 2 or names[0] == names[1] or not all(names):
        raise argparse.ArgumentTypeError(f"--backends takes two different backends like torch,mindspore, got {text!r}")
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown backend {unknown[0]!r}: choose from {', '.join(REGISTRY)}")
    return names


def cmd_compare(args: argparse.Namespace) -> int:
    from datetime import datetime
    from pathlib import Path

    from .compare import compare_runs

    out = Path(args.out or f"runs/compare-{datetime.now():%Y%m%d-%H%M%S}")
    _, written = compare_runs(args.runs, out)
    print(written[0].read_text())  # the markdown table: wide, but whole and ready to paste
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import load_grid, plan, shapes, shipped_grids, sweep

    if args.list:
        for name, path in shipped_grids().items():
            grid = load_grid(path)
            print(f"{name:<18} {len(grid.cells())} cells  {grid.description}")
        return 0
    if not args.grid:
        raise ConfigError("name a grid file or a shipped grid (d2lvgg sweep --list shows them)")
    grid = load_grid(args.grid)
    if not grid.train:
        for path in shapes(grid, args.out):
            print(f"wrote {path}")
        return 0
    if args.dry_run:
        from pathlib import Path

        root = Path(args.out or f"runs/sweep-{grid.name}")
        for cell in grid.cells():
            print(f"{plan(cell, root / cell.name, args.data_dir):<8} {root / cell.name}  {cell.settings}")
        return 0
    _, written = sweep(grid, args.out, data_dir=args.data_dir, progress=sys.stderr.isatty())
    print(written[0].read_text())
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..model.specfile import resolve_spec
    from .drawing import save_drawing

    spec = resolve_spec(args.arch, **arch_overrides(args))
    stem = Path(args.out or f"{spec.name}-blocks")
    taken = [p for p in (stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")) if p.exists()]
    if taken and not args.overwrite:
        raise ConfigError(f"{taken[0]} already exists; choose another --out or pass --overwrite")
    for path in save_drawing(spec, stem):
        print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..model.specfile import resolve_spec
    from .bench import BenchConfig, run_bench

    spec = resolve_spec(args.arch, **arch_overrides(args) | {"input_size": args.resize})
    fast = backend_options(args, args.backend)
    config = BenchConfig(
        spec.to_dict(),
        backend=args.backend,
        device=args.device,
        batch_size=args.batch_size,
        steps=None if args.epoch else args.steps,
        warmup=args.warmup,
        repeats=args.repeats,
        workers=args.workers,
        data_dir=args.data_dir,
        fast=fast,
    )
    results, line = run_bench(config, args.json)
    for r in results:
        print(
            f"{r.loop:<9} {r.examples_per_sec:9.1f} ex/s wall, {r.compute_examples_per_sec:9.1f} ex/s in steps, "
            f"{r.epoch_seconds:8.1f} s/epoch, peak {r.peak_memory_mb:8.1f} MB"
        )
    if args.json:
        print(f"wrote {args.json}")
    print(line)
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

    p = sub.add_parser("train", help="train on Fashion-MNIST with the textbook's recipe; writes a run folder")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help=BACKEND_HELP)
    p.add_argument("--arch", metavar="NAME_OR_SPEC_FILE", help=f"default: the recipe's, else {DEFAULT_ARCH}")
    add_arch_options(p, input_size=False)
    p.add_argument(
        "--recipe",
        default=AUTO_RECIPE,
        choices=(AUTO_RECIPE, *RECIPES),
        help="auto (default): d2l-zh, or d2l-cpu when no --arch is given and there is no GPU; d2l-zh: lr 0.05, "
        "224 px; d2l-en: lr 0.01; d2l-cpu: d2l-zh on d2l_vgg11_cpu at 32 px; cpu-lab: d2l_vgg11_lab with "
        "momentum and a cosine schedule, 32 px",
    )
    p.add_argument("--momentum", type=float, help="SGD momentum (default: the recipe's; the book's is 0)")
    p.add_argument("--weight-decay", type=float, help="L2 weight decay (default: the recipe's; the book's is 0)")
    p.add_argument("--schedule", choices=("constant", "cosine"), help="learning-rate schedule (default: the recipe's)")
    p.add_argument("--epochs", type=int, help="default: 10")
    p.add_argument("--lr", type=float, help="default: the recipe's")
    p.add_argument("--batch-size", type=int, help="default: 128")
    p.add_argument("--resize", type=int, help="input size the images are resized to (default: 224)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--init", default="xavier", help="xavier (the book's), kaiming, torch-default or framework")
    add_backend_options(p)
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    p.add_argument("--train-limit", type=int, help="train on the first N training images only")
    p.add_argument("--test-limit", type=int, help="score on the first N test images only")
    p.add_argument("--out", help="run folder (default: runs/ARCH-BACKEND-TIME)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (its own options are used)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("parity", help="check that two backends agree on a spec; exits 1 on a failure")
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="NAME_OR_SPEC_FILE", help=f"default: {DEFAULT_ARCH}")
    add_arch_options(p)
    p.add_argument("--backends", type=_pair, metavar="A,B", help="the two backends (default: every installed pair)")
    p.add_argument(
        "--textbook",
        "--textbook-mindspore",
        action="store_true",
        help="build the second backend's side as its edition of the book does (MindSpore's: no conv bias)",
    )
    p.add_argument("--train", action="store_true", help="also train both on Fashion-MNIST and compare accuracy")
    p.add_argument("--epochs", type=int, default=5, help="--train: epochs (default: 5)")
    p.add_argument("--lr", type=float, default=0.05, help="--train: learning rate (default: 0.05)")
    p.add_argument("--batch-size", type=int, default=64, help="--train: batch size (default: 64)")
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    p.add_argument("--out", help="folder for parity.json, parity.md and training runs")
    p.set_defaults(func=cmd_parity)

    p = sub.add_parser("compare", help="finished runs side by side: a table, an overlaid plot, markdown")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="folder for compare.md, compare.png and compare.svg (default: runs/compare-TIME)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="train every cell of a comparison grid (TOML), then compare them all")
    p.add_argument("grid", nargs="?", metavar="GRID", help="a grid .toml file or a shipped grid's name")
    p.add_argument("--list", action="store_true", help="list the shipped grids")
    p.add_argument("--dry-run", action="store_true", help="print what each cell would do, and do nothing")
    p.add_argument("--out", help="folder for the cells and the comparison (default: runs/sweep-NAME)")
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("bench", help="training throughput of d2lvgg's loop against the textbook's, same machine")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help=BACKEND_HELP)
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="NAME_OR_SPEC_FILE", help=f"default: {DEFAULT_ARCH}")
    add_arch_options(p, input_size=False)
    p.add_argument("--resize", type=int, default=224, help="input size in pixels (default: 224)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=20, help="measured steps per repetition (default: 20)")
    p.add_argument("--epoch", action="store_true", help="time one whole epoch per repetition instead of --steps")
    p.add_argument("--warmup", type=int, default=3, help="steps run before measuring (default: 3)")
    p.add_argument("--repeats", type=int, default=3, help="repetitions, each in a fresh process; the median is kept")
    p.add_argument("--workers", type=int, default=4, help="the textbook loop's DataLoader workers (the book's: 4)")
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    p.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    add_backend_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("draw", help="draw a network's blocks with their shapes (PNG and SVG)")
    p.add_argument("arch", metavar="NAME_OR_SPEC_FILE")
    add_arch_options(p)
    p.add_argument("--out", help="file stem to write STEM.png and STEM.svg (default: NAME-blocks)")
    p.add_argument("--overwrite", action="store_true", help="replace drawings that already exist")
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("evaluate", help="re-score a run's saved weights on the test set")
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--backend", help=f"score with this backend instead of the one that trained ({', '.join(REGISTRY)})")
    p.add_argument("--device", help="default: the device the run asked for")
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
