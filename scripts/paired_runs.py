"""The same runs under two settings, paired by seed: mean ± SE of the per-seed differences B − A.

Usage: ``python scripts/paired_runs.py A_DIR B_DIR [--metrics kl_z recon aolr ...]``
(e.g. ``python scripts/paired_runs.py results/cpu-fashion results/study-precision``).

Runs of A and B are paired when their data set, model, method (with its variant), γ and seed agree
(:func:`cmivae.reports.collect.read_run`); only the pairs found are compared, so B may hold a subset
of A's configurations. One line per configuration: n, A's and B's means, and Δ = mean(B − A) ± its
SE (sample std of the per-seed differences / √n). Pairing by seed removes what the seeds share (the
data split and the initialization) from the comparison.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cmivae.reports.collect import RunRow, find_run_dirs, read_run  # noqa: E402

DEFAULT_METRICS = ["kl_z", "recon", "aolr", "aolr_std", "mcas", "mi_zs"]


def _rows(root: Path) -> dict[tuple[str, str, str, float, int], RunRow]:
    """(data set, model, method, γ, seed) -> a finished, evaluated run under ``root``."""
    rows = {}
    for path in find_run_dirs(root):
        row = read_run(path)
        if row is not None and row.finished and row.evaluated:
            rows[(row.dataset, row.model, row.method, row.gamma, row.seed)] = row
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
    args = parser.parse_args(argv)
    a, b = _rows(args.a), _rows(args.b)
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
