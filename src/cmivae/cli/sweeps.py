"""``cmivae sweep``, ``sweep-status`` and ``report`` (records listed in :data:`cmivae.cli.main.COMMAND_LIST`).

Each command's arguments, function and :class:`~cmivae.cli.command.Command` record sit together.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cmivae.cli.command import Command
from cmivae.runs import files


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="sweep file (YAML, or Python defining SWEEP)")
    p.add_argument("--out", help="sweep directory: runs/<run_id>/ and sweep.json (required unless --dry-run)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value in every run, e.g. --set data.root=/data/TIMIT (repeatable)")
    p.add_argument("--only", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="run only the runs whose config holds this value (repeatable; a YAML list for any of "
                        "several), e.g. --only objective.gamma=0.9 --only 'train.seed=[0, 1]', or base=PRESET for "
                        "the points of one preset of a grid's base axis: same run ids as the whole sweep, so the "
                        "rest runs later without retraining; sweep.json keeps listing the whole sweep")
    p.add_argument("--jobs", type=int, default=None,
                   help="runs at once (local: N spawned processes, each with the threads --threads gives; "
                        "ray: default one per cluster CPU)")
    p.add_argument("--threads", default="auto", metavar="N|auto",
                   help="torch CPU threads of each local run: a number, or auto (default): OMP_NUM_THREADS if set, "
                        "else (cores other processes leave free) // jobs, at least 1")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local (default) or ray (pip install 'cmivae[ray]')")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--no-evaluate", action="store_true", help="train only; skip `cmivae evaluate`")
    p.add_argument("--dry-run", action="store_true", help="list the expanded runs (and their state in --out)")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Expand a sweep file and train/evaluate its runs (or list them with --dry-run)."""
    from cmivae.sweeps.grid import load_sweep
    from cmivae.sweeps.runner import run_state, run_sweep

    if args.dry_run:
        sweep = load_sweep(args.file, args.set, args.only)
        evaluate = sweep.evaluate and not args.no_evaluate
        metrics = "all metrics" if sweep.metrics is None else ", ".join(sweep.metrics)
        print(f"{sweep.path}: {len(sweep.runs)} runs from base {sweep.base}"
              + (f" ({sweep.duplicates} duplicate grid points dropped)" if sweep.duplicates else "")
              + (f" ({sweep.left_out} left out by --only)" if sweep.left_out else "")
              + f"; evaluate: {metrics if evaluate else 'no'}")
        if sweep.description:
            print(sweep.description)
        for spec in sweep.runs:
            run_dir = Path(args.out or ".") / files.SWEEP_RUNS / spec.run_id
            state = run_state(run_dir, evaluate, sweep.metrics) if args.out else ""
            print(f"{spec.run_id}  {f'{state:8s}' if args.out else ''}{spec.describe()}")
        if args.out:
            note = _other_runs_note(Path(args.out), sweep.path, {spec.run_id for spec in sweep.runs})
            if note:
                print(note)
        return 0
    if not args.out:
        from cmivae.infra.errors import ConfigError

        raise ConfigError("cmivae sweep needs --out SWEEP_DIR (where runs/<run_id>/ and sweep.json go)")
    index = run_sweep(args.file, args.out, executor=args.executor, jobs=args.jobs, address=args.address,
                      evaluate=not args.no_evaluate, overrides=args.set, only=args.only, threads=args.threads)
    return 1 if index["counts"].get("failed") else 0


def _other_runs_note(out: Path, sweep_file: Path, listed: set[str]) -> str | None:
    """What ``--out`` already holds that this sweep file does not list (another file's runs), for
    ``sweep --dry-run``; ``None`` when it holds nothing else."""
    from cmivae.infra import json_files

    runs = out / files.SWEEP_RUNS
    others = sorted(p.name for p in runs.iterdir() if p.is_dir() and p.name not in listed) if runs.is_dir() else []
    try:
        index = json_files.read_json_or_none(out / files.SWEEP_INDEX) or {}
    except json_files.DamagedFile:
        index = {}
    sweep = index.get("sweep") if isinstance(index.get("sweep"), dict) else {}
    earlier = sweep.get("file") if isinstance(sweep.get("file"), str) else None
    other_file = earlier is not None and Path(earlier).resolve() != Path(sweep_file).resolve()
    if not others and not other_file:
        return None
    parts = [f"its {files.SWEEP_INDEX} is of sweep file {earlier}"] if other_file else []
    if others:
        parts.append(f"it holds {len(others)} run director{'y' if len(others) == 1 else 'ies'} this file does not "
                     f"list")
    return (f"note: {out}: {' and '.join(parts)}; `cmivae sweep` would add this file's runs beside them and "
            f"rewrite {files.SWEEP_INDEX} for this file only: use another --out to keep the sweeps apart")


SWEEP = Command("sweep", "train and evaluate every run of a sweep file (study/experiments/*.yaml)", add_sweep_arguments,
                cmd_sweep)


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dirs", nargs="+", help="sweep directories (or run directories)")
    p.add_argument("--out", required=True, help="report directory (report.md, CSVs, PNGs)")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's published numbers")


def cmd_report(args: argparse.Namespace) -> int:
    """Build REPORT_DIR/report.md from sweep or run directories."""
    from cmivae.reports.report import build_report

    path = build_report(args.sweep_dirs, args.out, with_paper=not args.no_paper)
    print(f"report: {path}")
    return 0


REPORT = Command("report", "tables and figures (Markdown + CSV + PNG) from sweep/run directories", add_report_arguments,
                 cmd_report)


def add_sweep_status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_dir", help="a sweep directory (cmivae sweep --out)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every run, not only the failed ones")


def cmd_sweep_status(args: argparse.Namespace) -> int:
    """The state of every run of a sweep directory, read from its run directories (so a
    killed sweep shows its interrupted runs as ``started``, not as ``running``)."""
    from cmivae.infra import json_files
    from cmivae.infra.errors import ConfigError
    from cmivae.sweeps.runner import _read_error, damage, run_state

    sweep_dir = Path(args.sweep_dir)
    index_path = sweep_dir / files.SWEEP_INDEX
    if not index_path.exists():
        raise ConfigError(f"{index_path} does not exist; run `cmivae sweep FILE --out {args.sweep_dir}` first")
    index = json_files.read_json(index_path)  # damaged: one `error:` line naming the file
    sweep = index.get("sweep") if isinstance(index.get("sweep"), dict) else {}
    entries = index.get("runs") if isinstance(index.get("runs"), list) else []
    if not sweep or not isinstance(index.get("runs"), list):
        raise json_files.DamagedFile(index_path, "no 'sweep' object or 'runs' list; rerun the sweep command to "
                                                 "rewrite it")
    evaluate, metrics = bool(sweep.get("evaluate", True)), sweep.get("metrics")
    metrics = metrics if isinstance(metrics, list) and all(isinstance(m, str) for m in metrics) else None
    counts: dict[str, int] = {}
    lines: list[tuple[str, str]] = []
    for n, entry in enumerate(entries):
        run_id = entry.get("run_id") if isinstance(entry, dict) else None
        run_rel = entry.get("run_dir") if isinstance(entry, dict) else None
        if not isinstance(run_id, str) or not isinstance(run_rel, str):
            state, detail, point = "damaged", f": {index_path} run entry {n} is malformed", ""
            run_id = str(run_id)
        else:
            run_dir = sweep_dir / run_rel
            state = run_state(run_dir, evaluate, metrics)
            detail = ""
            if state == "failed":
                error = _error_record(run_dir)
                detail = f" ({error.get('stage', '?')}): {str(error.get('error', ''))[:200]}" if error else \
                    f": {_read_error(run_dir)[:200]}"
            elif state == "damaged":
                detail = f": {damage(run_dir, evaluate, metrics)}"
            overrides = entry.get("overrides")
            point = " ".join(f"{k}={v}" for k, v in overrides.items()) if isinstance(overrides, dict) else ""
        counts[state] = counts.get(state, 0) + 1
        lines.append((state, f"{run_id}  {state:8s} {point}{detail}"))
    print(f"{sweep.get('file', index_path)}: {len(entries)} runs: "
          + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for state, line in lines:
        if args.verbose or state in ("failed", "damaged"):
            print(line)
    return 0


def _error_record(run_dir: Path) -> dict[str, Any] | None:
    from cmivae.infra import json_files
    from cmivae.sweeps.runner import ERROR_FILE

    try:
        return json_files.read_json(run_dir / ERROR_FILE)
    except (OSError, json_files.DamagedFile):
        return None



SWEEP_STATUS = Command("sweep-status", "each run's state (new, started, trained, done, failed), read from the run "
                                       "directories", add_sweep_status_arguments, cmd_sweep_status)
