"""The ``d2lvgg`` subcommands: each a thin wrapper over the library, printing what it did."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..model.spec import VGGSpec
from ..training.config import AUTO_RECIPE, TrainConfig, auto_recipe, recipe_spec
from .arguments import arch_overrides, backend_options

if TYPE_CHECKING:
    from .launch import Nodes


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
    from ..backends.base import World
    from ..training.loop import resumable, resume, train
    from ..training.rundir import RunDir
    from ..training.setup import check_shares, default_run_dir
    from .launch import nodes_from, processes_per_node, require_launcher

    nodes = nodes_from(args.nodes, args.node_rank, args.master)
    launched = args.nproc is not None or nodes.count > 1
    nproc = processes_per_node(args.nproc, nodes.count) if launched else 1
    if args.resume:
        _refuse_settings_fixed_by_the_run(args.argv[1:])
        if launched:
            _, _, config, _ = resumable(args.resume, args.epochs)  # refuse a finished or damaged run before launching
            return _launch(args, config.backend, args.resume, nproc, nodes)
        resume(args.resume, epochs=args.epochs, progress=sys.stderr.isatty())
        return 0
    # Everything that needs no framework is checked first, in about a second: `--recipe auto`
    # loads one to look for a GPU, which takes 15-30 s on a busy machine.
    if launched:
        require_launcher(args.backend)
    if nodes.count > 1 and not args.out:
        raise ConfigError(
            f"--nodes {nodes.count} needs --out RUN_DIR: every node runs the same command, folder included"
        )
    chosen = _named_recipe(args)
    spec, config = _train_settings(args, chosen or "d2l-cpu")
    if launched:
        check_shares(World(size=nodes.count * nproc), config)
    if args.out and nodes.rank == 0:  # only node 0 writes the run folder
        RunDir.check_new(args.out, overwrite=args.overwrite)
    if chosen is None:
        spec, config = _train_settings(args, _auto_recipe(args))
    if launched:
        out = args.out or default_run_dir(spec, config.backend)
        out = out if nodes.rank else RunDir.check_new(out, overwrite=args.overwrite)
        return _launch(args, config.backend, str(out), nproc, nodes)
    train(spec, config, out=args.out, overwrite=args.overwrite, progress=sys.stderr.isatty())
    return 0


def _train_settings(args: argparse.Namespace, recipe: str) -> tuple[VGGSpec, TrainConfig]:
    """The network and training config ``d2lvgg train ARGS`` means under ``recipe``; each value checked."""
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
        weights=args.weights,
        threads=args.threads,
        options=backend_options(args, args.backend),
    )
    return spec, config


# What ``--resume`` takes beside the run folder: the rest is the run's own, recorded in its config.json.
RESUME_OPTIONS = ("--resume", "--epochs", "--nproc", "--nodes", "--node-rank", "--master", "--lang")


def _refuse_settings_fixed_by_the_run(argv: list[str]) -> None:
    """One line for the first option ``--resume`` cannot apply, rather than ignoring it."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name.startswith("--") and name not in RESUME_OPTIONS:
            raise ConfigError(
                f"--resume continues a run with the settings it was started with; {name} cannot change mid-run "
                f"(--resume takes only {', '.join(RESUME_OPTIONS[1:])}): leave it out, or start a new run with --out"
            )


def _launch(args: argparse.Namespace, backend: str, out: str, nproc: int, nodes: Nodes) -> int:
    """This command in ``nproc`` processes on this node under the backend's launcher, all writing to ``out``."""
    from .launch import launch, without_launch_options

    train_args = without_launch_options(args.argv[1:])
    if not args.resume and not args.out:
        train_args += ["--out", out]  # the processes must agree on one folder
    return launch(backend, nproc, train_args, out, nodes)


def _named_recipe(args: argparse.Namespace) -> str | None:
    """The recipe ``args`` settle without a framework; ``None`` where ``--recipe auto`` depends on the machine.

    An explicit ``--arch`` keeps the book's recipe.
    """
    if args.recipe != AUTO_RECIPE:
        return args.recipe
    return "d2l-zh" if args.arch else None


def _auto_recipe(args: argparse.Namespace) -> str:
    """``--recipe auto`` without ``--arch``: the book's run on a GPU or Ascend card, the CPU-sized one on a CPU."""
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
    from ..optional import require
    from . import render
    from .parity import default_pair, installed_pairs, pairs_table, run_parity

    spec = resolve_spec(args.arch, **arch_overrides(args))
    if args.onnx:  # named before the other checks run, not after
        require("onnx", "onnx", "parity --onnx")
        require("onnxruntime", "onnx", "parity --onnx")
    pairs = [args.backends] if args.backends else installed_pairs() or [default_pair()]  # fewer than 2: it explains
    root = Path(args.out or f"runs/parity-{spec.name}-{spec.input_size}")
    config = None
    if args.train:
        config = TrainConfig(
            epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, device="cpu", data_dir=args.data_dir
        )
    reports = []
    trained: dict[str, Any] = {}  # each backend trains once, whichever pairs it is in
    for pair in pairs:
        out = root if len(pairs) == 1 else root / "-vs-".join(pair)
        report = run_parity(
            spec, backends=pair, textbook=args.textbook, train_config=config, out=out, trained=trained, onnx=args.onnx
        )
        if len(pairs) == 1:
            title = f"parity: {report.arch} at {report.input_size} px, {' vs '.join(report.backends)}"
            render.print_rows(title, ["check", "result", "measured", "tolerance"], report.rows())
        for path in report.save(out):
            print(f"wrote {path}")
        reports.append(report)
    if len(reports) > 1:
        headers, rows = pairs_table(reports)
        render.print_rows(f"parity: {spec.name} at {spec.input_size} px, every installed pair", headers, rows)
        summary = root / "parity.md"
        summary.write_text(
            f"### Parity: {spec.name} at {spec.input_size} px, every installed pair\n\n"
            + render.markdown_table(headers, rows)
            + "\n"
        )
        print(f"wrote {summary}")
    passed = all(report.passed for report in reports)
    print("all checks pass" if passed else "some checks FAIL")
    return 0 if passed else 1


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
    if stem.suffix.lower() in (".png", ".svg"):  # --out d2l.png means the stem d2l
        stem = stem.with_suffix("")
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
        under_load=args.under_load,
        neighbour=args.neighbour,
        neighbour_backend=args.neighbour_backend,
        neighbour_nice=args.neighbour_nice,
        late=args.late,
    )
    if args.frameworks:
        return _bench_frameworks(config, args.json)
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


def _bench_frameworks(config: Any, json_path: str | None) -> int:
    """``bench --frameworks``: the three loops of every installed backend, one line each."""
    from ..backends import available
    from .bench.frameworks import run_frameworks

    for line in run_frameworks(config, available(), json_path):
        print(line)
    if json_path:
        print(f"wrote {json_path}")
    return 0
