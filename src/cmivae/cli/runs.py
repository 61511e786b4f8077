"""The commands of run directories: ``train`` writes one, ``evaluate``, ``sample`` and ``compare``
read them. Each command's arguments (``add_<name>_arguments``), its function (``cmd_<name>``) and
its :class:`~cmivae.cli.command.Command` record sit together; :data:`cmivae.cli.main.COMMAND_LIST`
lists the records.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from cmivae.cli.command import Command
from cmivae.infra.errors import ConfigError
from cmivae.runs import files


def _print_table(rows: dict[str, dict[str, Any]], keys: list[str] | None = None) -> None:
    """Print ``{column: {key: value}}`` as a side-by-side table."""
    columns = list(rows)
    keys = keys or sorted({k for r in rows.values() for k in r})
    width = max([len(k) for k in keys] + [6])
    colw = max([len(c) for c in columns] + [10])
    print(" " * width + "  " + "  ".join(c.rjust(colw) for c in columns))
    for key in keys:
        cells = []
        for c in columns:
            value = rows[c].get(key)
            cells.append(("-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value))
                         .rjust(colw))
        print(key.ljust(width) + "  " + "  ".join(cells))


def _use_threads(spec: str, quiet: bool = False, resumed: int | None = None) -> None:
    """``--threads``: set this process's torch threads (:mod:`cmivae.infra.threads`) and say why."""
    from cmivae.infra.threads import apply_threads

    choice = apply_threads(spec, resumed=resumed)
    if not quiet:
        print(f"torch threads: {choice.threads} ({choice.reason})", flush=True)


THREADS_HELP = ("torch CPU threads: a number, or auto (default): OMP_NUM_THREADS if set, else a resumed run's own "
                "count (bit-identical resume), else one per core that other processes leave free (measured "
                "over 0.25 s), at least 1")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML file or preset name (see `cmivae presets`)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set objective.gamma=0.3 (repeatable)")
    p.add_argument("--out", help="run directory (default runs/<objective>-<config hash>)")
    p.add_argument("--resume", action="store_true", help="require an existing checkpoint and continue from it")
    p.add_argument("--force", action="store_true", help="discard a finished or different run in --out")
    p.add_argument("--reuse-finished", action="store_true",
                   help="if --out already holds a finished run of this same config, print its results and exit 0 "
                        "(instead of refusing); another config there is still refused")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (a one-line progress with an ETA is logged every minute instead)")
    p.add_argument("--threads", default="auto", metavar="N|auto", help=THREADS_HELP)


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from cmivae.config import load_config
    from cmivae.infra.locking import refuse_if_locked
    from cmivae.infra.threads import parse_threads
    from cmivae.metric_names import display_order
    from cmivae.runs.legacy import run_id
    from cmivae.runs.readers import check_run_directory, finished_results

    # Every refusal that needs only the arguments, the config and the run directory's files first:
    # no torch import, no load measurement (seconds, a minute under load) before a one-line answer.
    parse_threads(args.threads)
    config = load_config(args.config, args.set)
    out = Path(args.out) if args.out else Path("runs") / f"{config.objective.name}-{run_id(config)}"
    results = finished_results(out, config) if args.reuse_finished and not args.force else None
    if results is not None:
        print(f"{out} already holds this config's finished run; reusing it (--force to train it again)")
        print(f"run directory: {out}")
        _print_table({out.name: results}, display_order(list(results)))
        return 0
    if os.environ.get("RANK", "0") == "0":  # torchrun's other ranks take no lock: rank 0 holds it
        refuse_if_locked(out)  # a run in progress there: said first
    check_run_directory(out, config, force=args.force, resume=args.resume)

    from cmivae.registry import load_resolved
    from cmivae.runs.readers import resume_threads
    from cmivae.training import distributed
    from cmivae.training.loop import fit

    resolved = load_resolved(args.config, args.set)  # every value checked before any directory or data: once
    config = resolved.config
    out = Path(args.out) if args.out else Path("runs") / f"{config.objective.name}-{run_id(config)}"
    distributed.init_from_environment()
    _use_threads(args.threads, resumed=None if args.force else resume_threads(out))
    results = fit(resolved, out, force=args.force, resume=args.resume, progress=not args.no_progress, threads=None)
    if distributed.rank() == 0:
        print(f"run directory: {out}")
        _print_table({out.name: results}, display_order(list(results)))
    return 0


TRAIN = Command("train", "train one model (a YAML config or a preset name)", add_train_arguments, cmd_train)


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory (config.json, best.pt)")
    p.add_argument("--metrics", nargs="*", help="subset of metrics (default: all for the model family): images "
                   "elbo mi_zs aolr aosvm mcas mcas_svm baseline; speech elbo mi_zs eer_z eer_s vc_mcas")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice of the evaluation (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress lines and no table")
    p.add_argument("--missing", action="store_true",
                   help="compute only the requested metrics that RUN_DIR/eval.json does not hold yet")
    p.add_argument("--threads", default="auto", metavar="N|auto", help=THREADS_HELP)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cmivae.infra.locking import directory_lock, refuse_if_locked
    from cmivae.infra.threads import parse_threads
    from cmivae.runs.readers import read_eval_json, read_saved

    run_dir = Path(args.run_dir)
    exists = run_dir.is_dir()  # a missing one is evaluate_run's error; don't create it
    parse_threads(args.threads)  # a bad --threads first, torch-free as the checks below
    refuse_if_locked(run_dir)  # a training in progress: said first (it may not have written config.json yet)
    read_saved(run_dir)  # not a run directory, or a damaged config.json: answered before torch and threads
    read_eval_json(run_dir / files.EVAL)  # a damaged eval.json: likewise
    _use_threads(args.threads, quiet=args.quiet)
    from cmivae.metrics.evaluate import evaluate_run
    from cmivae.training.signals import evaluation_stop_guard  # imports torch: after the refusals above
    eval_path = run_dir / files.EVAL
    with directory_lock(run_dir) if exists else contextlib.nullcontext():  # one writer of the run directory
        metrics = args.metrics
        if args.missing and (run_dir / files.CONFIG).exists():  # only what eval.json lacks (as cmivae sweep does)
            from cmivae.sweeps.runner import metrics_to_evaluate

            read_eval_json(eval_path)  # a damaged file is one error line
            metrics = metrics_to_evaluate(run_dir, args.metrics)
            if not metrics:
                print(f"{eval_path} already holds every requested metric; nothing to compute")
                if not args.quiet:
                    _print_evaluation(run_dir.name, read_eval_json(eval_path))
                return 0
        with evaluation_stop_guard(str(run_dir), "rerun with --missing to compute the rest"):
            results = evaluate_run(run_dir, metrics, seed=args.seed, quiet=args.quiet, threads=None)  # set above
    print(f"wrote {eval_path}")
    if not args.quiet:
        _print_evaluation(run_dir.name, results)
        print(f"(this evaluation took {results.get('eval_seconds', 0.0):.0f} s)")
    return 0


def _print_evaluation(name: str, results: dict[str, Any]) -> None:
    """eval.json's numbers in the fixed display order, without the timing."""
    from cmivae.metric_names import display_order

    _print_table({name: results}, display_order([k for k, v in results.items() if isinstance(v, (int, float))
                                                 and not isinstance(v, bool) and k != "eval_seconds"]))


EVALUATE = Command("evaluate", "evaluate a run's best checkpoint and write RUN_DIR/eval.json", add_evaluate_arguments,
                   cmd_evaluate)


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained image run directory (config.json, best.pt)")
    p.add_argument("--out", help="PNG path (default RUN_DIR/samples-<rows>x<num-samples>-seed<seed>.png; "
                                 "RUN_DIR/samples.png is the grid `cmivae evaluate` draws)")
    p.add_argument("--rows", type=int, default=10, help="real images (one per class)")
    p.add_argument("--num-samples", type=int, default=10, help="samples per real image")
    p.add_argument("--seed", type=int, default=0, help="seed of the choice of images and of the samples")


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from cmivae.metrics.latent_probe import balanced_subset
    from cmivae.models.capabilities import SAMPLE
    from cmivae.models.contract import declared_capabilities
    from cmivae.runs.readers import warn_if_unfinished
    from cmivae.runs.trained import load_trained
    from cmivae.sampling import decode_samples, save_sample_grid

    config, model, _ = load_trained(args.run_dir)
    if SAMPLE not in declared_capabilities(model):
        raise ConfigError(f"{args.run_dir} holds a {config.model.name} model, which declares no sampler (capability "
                          f"{SAMPLE}); `cmivae sample` draws x ~ p(x | z) (for a DSAE use `cmivae convert`)")
    warn_if_unfinished(args.run_dir, "these samples are from its best checkpoint so far")
    from cmivae.data.registry import load_dataset

    splits = load_dataset(config.data)
    idx = balanced_subset(splits.test_y.numpy(), 1, np.random.default_rng(args.seed))[: args.rows]
    real = splits.test_x[idx].float()  # (R, C, H, W)
    with torch.no_grad():
        samples = decode_samples(model, real, num_samples=args.num_samples, seed=args.seed).cpu()
    # Not samples.png: that is the grid `cmivae evaluate` draws (from training images).
    default = f"samples-{args.rows}x{args.num_samples}-seed{args.seed}.png"
    out = Path(args.out) if args.out else Path(args.run_dir) / default
    save_sample_grid(out, real, samples, title=f"{config.objective.name} gamma={config.objective.gamma}")
    print(f"wrote {out}")
    return 0


SAMPLE = Command("sample", "write a PNG grid: real test images and samples decoded from their z", add_sample_arguments,
                 cmd_sample)


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--labels", nargs="*", help="column labels (default: objective and gamma)")


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the results of several run directories side by side."""
    from cmivae.reports.compare import compare_runs

    print(compare_runs(args.runs, args.labels))
    return 0


COMPARE = Command("compare", "print several runs' results side by side", add_compare_arguments, cmd_compare)
