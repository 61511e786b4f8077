"""The same runs under two settings, paired by seed: mean ± SE of the per-seed differences B − A.

Usage: ``python study/scripts/paired_runs.py A_DIR B_DIR [--metrics kl_z recon aolr ...] [--only KEY=VALUE ...]``
(e.g. ``python study/scripts/paired_runs.py study/results/cpu-fashion study/results/study-precision``).

Runs of A and B are paired when their data set, model, method (with its variant), γ and seed agree
(:func:`cmivae.reports.collect.read_run`); only the pairs found are compared, so B may hold a subset
of A's configurations. One line per configuration: n, A's and B's means, and Δ = mean(B − A) ± its
SE (sample std of the per-seed differences / √n). Pairing by seed removes what the seeds share (the
data split and the initialization) from the comparison. ``--only section.key=value`` keeps, on both
sides, the runs whose config holds that value (``--only model.channels=64`` picks the 13x64 runs of a
sweep that also holds another preset); two runs of one side with the same data set, model, method, γ
and seed are an error that says so, never a silent choice.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import yaml

from cmivae.reports.collect import RunRow, find_run_dirs, flatten, read_run

DEFAULT_METRICS = ["kl_z", "recon", "aolr", "aolr_std", "mcas", "mi_zs"]


def _only(items: list[str]) -> dict[str, object]:
    """``["model.channels=64"]`` -> ``{"model.channels": 64}`` (values read as YAML)."""
    filters = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"error: --only takes SECTION.KEY=VALUE (e.g. model.channels=64), got {item!r}")
        filters[key] = yaml.safe_load(value)
    return filters


def _rows(root: Path, only: dict[str, object] | None = None) -> dict[tuple[str, str, str, float, int], RunRow]:
    """(data set, model, method, γ, seed) -> a finished, evaluated run under ``root`` whose config
    holds every ``only`` value; SystemExit if two such runs share a key."""
    rows: dict[tuple[str, str, str, float, int], RunRow] = {}
    for path in find_run_dirs(root):
        row = read_run(path)
        if row is None or not row.finished or not row.evaluated:
            continue
        flat = flatten(row.config)
        if any(flat.get(key) != value for key, value in (only or {}).items()):
            continue
        key = (row.dataset, row.model, row.method, row.gamma, row.seed)
        if key in rows:
            raise SystemExit(f"error: {root} holds two runs of {row.dataset} {row.model} {row.method} γ {row.gamma:g} "
                             f"seed {row.seed} ({rows[key].path.name} and {path.name}) with other settings; pick one "
                             f"with --only SECTION.KEY=VALUE (e.g. --only model.channels=64)")
        rows[key] = row
    return rows


def paired(a: dict, b: dict, metric: str) -> dict[tuple[str, str, str, float], list[tuple[float, float]]]:
    """Per configuration (without the seed): the (A, B) values of ``metric`` of each seed found in both."""
    out: dict[tuple[str, str, str, float], list[tuple[float, float]]] = {}
    for key in sorted(set(a) & set(b)):
        va, vb = a[key].metrics.get(metric), b[key].metrics.get(metric)
        if va is not None and vb is not None:
            out.setdefault(key[:4], []).append((va, vb))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="sweep or run directories of setting A")
    parser.add_argument("b", type=Path, help="sweep or run directories of setting B")
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    parser.add_argument("--only", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="keep, on both sides, the runs whose config holds this value (repeatable)")
    args = parser.parse_args(argv)
    only = _only(args.only)
    a, b = _rows(args.a, only), _rows(args.b, only)
    print(f"A = {args.a}, B = {args.b}; Δ = mean over seeds of (B − A) ± SE")
    print("| configuration | metric | n | A | B | Δ (B − A) |\n|---|---|---:|---:|---:|---:|")
    found = False
    for metric in args.metrics:
        for (dataset, model, method, gamma), pairs in paired(a, b, metric).items():
            found = True
            diffs = [vb - va for va, vb in pairs]
            se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
            mean_a, mean_b = statistics.mean(p[0] for p in pairs), statistics.mean(p[1] for p in pairs)
            print(f"| {dataset} {model} {method} γ {gamma:g} | {metric} | {len(pairs)} | {mean_a:.4f} | "
                  f"{mean_b:.4f} | {statistics.mean(diffs):+.4f} ± {se:.4f} |")
    if not found:
        print(f"error: no run of {args.b} has a partner in {args.a} (same data set name, model, method, γ and "
              f"seed, finished and evaluated); check the two directories", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
