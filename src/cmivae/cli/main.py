"""The ``cmivae`` command line: one plain function per command in :data:`COMMANDS`.

The commands of this module (train, evaluate, sample, compare, data fetch/pack/import, presets,
show-config), of :mod:`cmivae.cli.speech` (convert, data make-speech), of :mod:`cmivae.cli.video`
(data make-sprites) and of :mod:`cmivae.cli.sweeps` (sweep, sweep-status, report) are all listed in :data:`COMMANDS`;
:func:`build_parser` gives each its arguments. One error path: :func:`main` prints every
user error (:class:`cmivae.infra.errors.CmivaeError`, and argparse's usage errors) as one line
``error: ...`` and exits 2 for bad input, 1 for failures during work.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cmivae import __version__
from cmivae.cli import speech, sweeps, video
from cmivae.infra.errors import CmivaeError, ConfigError
from cmivae.judge import DEFAULT_EPOCHS as DEFAULT_JUDGE_EPOCHS
from cmivae.runs import files

DESCRIPTION = ("Sequential VAEs (PixelCNN-VAE, DSAE) with the ELBO, beta-VAE, MI-VAE and CMI-VAE objectives: "
               "train, evaluate, sample, compare, sweep and report. `cmivae COMMAND --help` for each command.")


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


def cmd_train(args: argparse.Namespace) -> int:
    from cmivae.metric_names import display_order
    from cmivae.registry import load_resolved
    from cmivae.runs.directory import RunDirectory
    from cmivae.runs.legacy import run_id
    from cmivae.runs.readers import resume_threads
    from cmivae.training import distributed
    from cmivae.training.loop import fit

    resolved = load_resolved(args.config, args.set)  # every value checked before any directory or data: once
    config = resolved.config
    distributed.init_from_environment()
    out = Path(args.out) if args.out else Path("runs") / f"{config.objective.name}-{run_id(config)}"
    _use_threads(args.threads, resumed=None if args.force else resume_threads(out))
    results = RunDirectory(out).finished_results(config) if args.reuse_finished and not args.force else None
    if results is not None:
        print(f"{out} already holds this config's finished run; reusing it (--force to train it again)")
    else:
        results = fit(resolved, out, force=args.force, resume=args.resume, progress=not args.no_progress)
    if distributed.rank() == 0:
        print(f"run directory: {out}")
        _print_table({out.name: results}, display_order(list(results)))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cmivae.infra.locking import directory_lock
    from cmivae.metrics.evaluate import evaluate_run, read_eval_json

    run_dir = Path(args.run_dir)
    exists = run_dir.is_dir()  # a missing one is evaluate_run's error; don't create it
    _use_threads(args.threads, quiet=args.quiet)
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
        results = evaluate_run(run_dir, metrics, seed=args.seed, quiet=args.quiet)
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


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from cmivae.metrics.latent_probe import balanced_subset
    from cmivae.models.capabilities import SAMPLE
    from cmivae.models.contract import declared_capabilities
    from cmivae.runs.trained import load_trained
    from cmivae.sampling import decode_samples, save_sample_grid

    config, model, _ = load_trained(args.run_dir)
    if SAMPLE not in declared_capabilities(model):
        raise ConfigError(f"{args.run_dir} holds a {config.model.name} model, which declares no sampler (capability "
                          f"{SAMPLE}); `cmivae sample` draws x ~ p(x | z) (for a DSAE use `cmivae convert`)")
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


def cmd_presets(args: argparse.Namespace) -> int:
    from cmivae.config import PRESET_DIR, list_presets

    for name in list_presets():
        first = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0].lstrip("# ")
        print(f"{name:24s} {first}")
    return 0


def cmd_show_config(args: argparse.Namespace) -> int:
    import yaml

    from cmivae.registry import load_resolved

    resolved = load_resolved(args.config, args.set)
    shown = resolved.config.to_dict()
    shown["model"], shown["objective"] = resolved.to_dict()["model"], resolved.to_dict()["objective"]
    print(yaml.safe_dump(shown, sort_keys=False), end="")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from cmivae.data.images.fetch import fetch_dataset

    path = fetch_dataset(args.name, args.data_dir, allow_download=not args.no_download)
    print(f"{args.name}: {path}")
    return 0


def cmd_data_pack(args: argparse.Namespace) -> int:
    """Write a compact verified copy of a binarized image set (:mod:`cmivae.data.images.pack`)."""
    from cmivae.data.images.binarized import write_pack

    out = write_pack(args.name, args.out, args.data_dir)
    print(f"{args.name}: {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    """Install a pack written by ``cmivae data pack`` into the data directory."""
    from cmivae.data.images.pack import import_pack

    target = import_pack(args.pack, args.data_dir)
    print(f"installed {target}")
    return 0


def cmd_judge_train(args: argparse.Namespace) -> int:
    """Train (or reuse) the Sprites judge of a frame size (:mod:`cmivae.judge.command`)."""
    from cmivae.judge.cache import judge_paths
    from cmivae.judge.command import ensure_judge

    record, _ = ensure_judge(args.size, args.data_dir, epochs=args.epochs, seed=args.seed, force=args.force,
                             device=args.device)
    print(f"judge: {judge_paths(args.size, args.data_dir)[0]} (SHA-256 {record.sha256}), trained in "
          f"{record.train_seconds:.0f} s; {record.accuracy_text()}")
    print(f"note: {record.note}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the results of several run directories side by side."""
    from cmivae.reports.compare import compare_runs

    print(compare_runs(args.runs, args.labels))
    return 0


Command = Callable[[argparse.Namespace], int]

# Every command of ``cmivae``: its name (``data fetch`` for a sub-command) -> a plain function.
COMMANDS: dict[str, Command] = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "sample": cmd_sample,
    "compare": cmd_compare,
    "data fetch": cmd_data_fetch,
    "data pack": cmd_data_pack,
    "data import": cmd_data_import,
    "judge train": cmd_judge_train,
    "data make-speech": speech.cmd_data_make_speech,
    "data make-sprites": video.cmd_data_make_sprites,
    "convert": speech.cmd_convert,
    "sweep": sweeps.cmd_sweep,
    "sweep-status": sweeps.cmd_sweep_status,
    "report": sweeps.cmd_report,
    "presets": cmd_presets,
    "show-config": cmd_show_config,
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the one error path: a usage error is one ``error:`` line, exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        print(f"error: {self.prog}: {message}; see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="cmivae", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"cmivae {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one model (a YAML config or a preset name)")
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
    p.set_defaults(func=COMMANDS["train"])

    p = sub.add_parser("evaluate", help="evaluate a run's best checkpoint and write RUN_DIR/eval.json")
    p.add_argument("run_dir", help="a trained run directory (config.json, best.pt)")
    p.add_argument("--metrics", nargs="*", help="subset of metrics (default: all for the model family): images "
                   "elbo mi_zs aolr aosvm mcas mcas_svm baseline; speech elbo mi_zs eer_z eer_s vc_mcas")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice of the evaluation (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress lines and no table")
    p.add_argument("--missing", action="store_true",
                   help="compute only the requested metrics that RUN_DIR/eval.json does not hold yet")
    p.add_argument("--threads", default="auto", metavar="N|auto", help=THREADS_HELP)
    p.set_defaults(func=COMMANDS["evaluate"])

    p = sub.add_parser("sample", help="write a PNG grid: real test images and samples decoded from their z")
    p.add_argument("run_dir", help="a trained image run directory (config.json, best.pt)")
    p.add_argument("--out", help="PNG path (default RUN_DIR/samples-<rows>x<num-samples>-seed<seed>.png; "
                                 "RUN_DIR/samples.png is the grid `cmivae evaluate` draws)")
    p.add_argument("--rows", type=int, default=10, help="real images (one per class)")
    p.add_argument("--num-samples", type=int, default=10, help="samples per real image")
    p.add_argument("--seed", type=int, default=0, help="seed of the choice of images and of the samples")
    p.set_defaults(func=COMMANDS["sample"])

    p = sub.add_parser("presets", help="list the shipped config presets")
    p.set_defaults(func=COMMANDS["presets"])

    p = sub.add_parser("show-config", help="print the resolved config of a preset/file with overrides")
    p.add_argument("config", help="YAML file or preset name (see `cmivae presets`)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set data.name=mnist (repeatable)")
    p.set_defaults(func=COMMANDS["show-config"])

    p = sub.add_parser("compare", help="print several runs' results side by side")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--labels", nargs="*", help="column labels (default: objective and gamma)")
    p.set_defaults(func=COMMANDS["compare"])

    data = sub.add_parser("data", help="get data sets").add_subparsers(dest="data_command", required=True,
                                                                      metavar="DATA_COMMAND")
    p = data.add_parser("fetch", help="fetch MNIST or Fashion-MNIST into the data directory")
    p.add_argument("name", choices=["mnist", "fashion-mnist"], help="which data set")
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae")
    p.add_argument("--no-download", action="store_true", help="use only local sources (no internet mirrors)")
    p.set_defaults(func=COMMANDS["data fetch"])
    p = data.add_parser("pack", help="write a compact verified copy of a binarized image set (for offline machines)")
    p.add_argument("name", choices=["mnist", "fashion-mnist"], help="which data set")
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.add_argument("--data-dir", help="where the IDX files are (default: $CMIVAE_DATA or ~/.cache/cmivae)")
    p.set_defaults(func=COMMANDS["data pack"])
    p = data.add_parser("import", help="install a data pack made by `cmivae data pack` into the data directory")
    p.add_argument("pack", help="the .npz file")
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae")
    p.set_defaults(func=COMMANDS["data import"])
    judge = sub.add_parser("judge", help="the Sprites judge (a classifier of real sequences that scores generated "
                           "ones)").add_subparsers(dest="judge_command", required=True, metavar="JUDGE_COMMAND")
    p = judge.add_parser("train", help="train the judge on the training split (cached under <data dir>/sprites/judge/ "
                         "with its SHA-256 and real-test accuracies); a usable cached judge is reused")
    p.add_argument("dataset", choices=["sprites"], help="which data set (sprites)")
    p.add_argument("--size", type=int, choices=[64, 32], default=64, help="frame size the judge reads (default 64)")
    p.add_argument("--data-dir", help="default: $CMIVAE_DATA or ~/.cache/cmivae")
    p.add_argument("--epochs", type=int, default=DEFAULT_JUDGE_EPOCHS, help="training epochs (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialization and batch order (default 0)")
    p.add_argument("--force", action="store_true", help="retrain even a usable cached judge")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda[:N] or auto: where the judge trains")
    p.set_defaults(func=COMMANDS["judge train"])
    sweeps.register(sub, data)
    speech.register(sub, data)
    video.register(data)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CmivaeError as err:
        print("error: " + " ".join(str(err).split("\n")), file=sys.stderr)  # one line, always
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cmivae sweep --dry-run | head`: the reader left; no traceback, as `yes | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit must not fail again
        return 141
    except OSError as err:  # a file operation no module turned into a CmivaeError: still one line
        where = f" {err.filename}" if err.filename else ""
        print(f"error: could not access{where}: {err.strerror or err}; check that the path exists, is a "
              f"directory where one is expected, and is writable (and that the disk is not full)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
