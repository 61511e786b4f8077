"""Each seed of a method against the β-VAE curve at *its own* KL(z), with collapsed seeds apart.

Usage: ``python study/scripts/matched_by_seed.py SWEEP_DIR... --method cmi --gamma 0.9
[--collapsed-below 1.0] [--metrics aolr aolr_std ...]`` (e.g. ``python study/scripts/matched_by_seed.py
study/results/study-residual-long --method cmi --gamma 0.9``). ``--method all`` (``--gamma`` then
optional) prints one summary row per method off the reference curve and γ found under the roots: every
variant of a study in one table, each probe asked for in its own column, none chosen.

The report's matched-KL table (:mod:`cmivae.reports.matched`) reads the β-VAE curve at the *group's
mean* KL(z). When the method's outcome is bimodal — some seeds collapse z to ~0 nats, the rest recover
to tens of nats — that mean lies where no seed is, and the difference mixes the two outcomes. Here each
seed is read at its own KL(z) on the same curve (β-VAE group means, the ELBO included, linear
interpolation: :func:`cmivae.reports.matched.interpolate`); a seed whose KL(z) is below
``--collapsed-below`` nats is reported as collapsed and left out of the mean, and so is one outside
the curve's KL(z) range. The mean difference over the remaining seeds comes with
``SE = sqrt(SE_seeds^2 + SE_curve^2)``: the spread of the per-seed differences and the curve's own SE
at the seeds' mean KL(z).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from cmivae.reports.collect import collect_runs, on_reference_curve
from cmivae.reports.matched import interpolate
from cmivae.reports.tables import COLLAPSED_NATS, aggregate, standard_error

DEFAULT_METRICS = ["aolr", "aolr_std", "aolr_c100", "aosvm", "mcas", "mcas_std", "recon", "mi_zs"]


def by_seed(roots: list[Path], method: str, gamma: float, metrics: list[str], collapsed_below: float,
            rows: list[Any] | None = None) -> list[dict[str, object]]:
    """One entry per (data set, model) holding runs of ``method`` at ``gamma``: its seeds
    (``seed``, ``run_id``, ``kl_z``, ``state`` in {"read", "collapsed", "outside"} and the
    per-metric ``diff`` against the curve) and, per metric, the mean difference over the seeds read
    with its SE. ``rows``: the runs under ``roots`` already read (:func:`collect_runs`), else read here."""
    rows = collect_runs(roots) if rows is None else rows
    groups = aggregate(rows)
    out: list[dict[str, object]] = []
    for dataset, model in sorted({(r.dataset, r.model) for r in rows if r.method == method}):
        beta = [g for g in groups if g.dataset == dataset and g.model == model and on_reference_curve(g.method)
                and "kl_z" in g.mean]
        runs = [r for r in rows if r.dataset == dataset and r.model == model and r.method == method
                and math.isclose(r.gamma, gamma) and r.evaluated and "kl_z" in r.metrics]
        if not runs:
            continue
        curves = {key: [(g.mean["kl_z"], g.mean[key], g.se.get(key, math.nan)) for g in beta if key in g.mean]
                  for key in metrics}  # (KL(z), value, SE) of the beta-VAE curve, per metric
        kls = [g.mean["kl_z"] for g in beta]
        seeds: list[dict[str, object]] = []
        for run in runs:
            kl = run.metrics["kl_z"]
            entry: dict[str, object] = {"seed": run.seed, "run_id": run.run_id, "kl_z": kl, "diff": {}}
            inside = bool(kls) and min(kls) <= kl <= max(kls)
            entry["state"] = "collapsed" if kl < collapsed_below else ("read" if inside else "outside")
            for key in metrics:
                at = interpolate(curves[key], kl)
                if key in run.metrics and at is not None:
                    entry["diff"][key] = run.metrics[key] - at[0]  # type: ignore[index]
            seeds.append(entry)
        read = [s for s in seeds if s["state"] == "read"]
        summary: dict[str, tuple[float, float, int]] = {}
        if read:
            mean_kl = statistics.fmean(float(s["kl_z"]) for s in read)  # type: ignore[arg-type]
            for key in metrics:
                diffs = [s["diff"][key] for s in read if key in s["diff"]]  # type: ignore[index,operator]
                at = interpolate(curves[key], mean_kl)
                if diffs and at is not None:
                    summary[key] = (statistics.fmean(diffs), math.hypot(standard_error(diffs), at[1]), len(diffs))
        out.append({"dataset": dataset, "model": model, "seeds": seeds, "summary": summary,
                    "curve": sorted((g.mean["kl_z"], g.method, g.gamma, g.n) for g in beta)})
    return out


def variants(roots: list[Path], gamma: float | None = None, rows: list[Any] | None = None
             ) -> list[tuple[str, float]]:
    """Every (method, γ) with an evaluated run under ``roots`` whose method is off the reference
    curve (the variants read against it), optionally only at ``gamma``; in report order. ``rows``: as
    :func:`by_seed`."""
    rows = collect_runs(roots) if rows is None else rows
    found = {(r.method, r.gamma) for r in rows if r.evaluated and not on_reference_curve(r.method)
             and (gamma is None or math.isclose(r.gamma, gamma))}
    return sorted(found, key=lambda mg: (mg[0].count("+"), mg[0], -mg[1]))


def summary_table(roots: list[Path], metrics: list[str], collapsed_below: float, gamma: float | None = None
                  ) -> list[str]:
    """Markdown lines: one row per variant (:func:`variants`) with its seeds read / collapsed / outside
    the curve, the mean KL(z) of the seeds read, and per metric the mean difference from the β-VAE
    curve at each seed's own KL(z) ± SE (:func:`by_seed`); "–" where no seed was read."""
    lines = ["| method | γ | data, model | seeds read / collapsed / outside | KL(z) | "
             + " | ".join(f"Δ {k}" for k in metrics) + " |",
             "|---|---:|---|---|---:|" + "---:|" * len(metrics)]
    rows = collect_runs(roots)  # read once for every variant
    for method, gamma_ in variants(roots, gamma, rows):
        for result in by_seed(roots, method, gamma_, metrics, collapsed_below, rows):
            seeds = result["seeds"]
            states = [s["state"] for s in seeds]  # type: ignore[union-attr]
            read = [float(s["kl_z"]) for s in seeds if s["state"] == "read"]  # type: ignore[union-attr,index,arg-type]
            summary = result["summary"]
            cells = [f"{summary[k][0]:+.4f} ± {summary[k][1]:.4f}" if k in summary else "–"  # type: ignore[operator,index]
                     for k in metrics]
            kl = f"{statistics.fmean(read):.1f}" if read else "–"
            lines.append(f"| {method} | {gamma_:g} | {result['dataset']}, {result['model']} | "
                         f"{states.count('read')} / {states.count('collapsed')} / {states.count('outside')} | "
                         f"{kl} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", type=Path, nargs="+", help="sweep or run directories (the β-VAE curve and the method)")
    parser.add_argument("--method", default="cmi", help="method key as the report writes it (cmi, cmi+critic_path=s), "
                                                          "or all: one summary row per variant and γ")
    parser.add_argument("--gamma", type=float, help="the method's γ (required unless --method all)")
    parser.add_argument("--collapsed-below", type=float, default=COLLAPSED_NATS, metavar="NATS",
                        help=f"a seed whose KL(z) is below this is reported as collapsed, not averaged "
                             f"(default {COLLAPSED_NATS:g})")
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    args = parser.parse_args(argv)
    for root in args.roots:
        if not root.exists():
            print(f"error: {root} does not exist; give sweep or run directories"
                  " (e.g. study/results/study-residual-long)",
                  file=sys.stderr)
            return 1
    if args.method == "all":
        lines = summary_table(args.roots, args.metrics, args.collapsed_below, args.gamma)
        if len(lines) == 2:
            print(f"error: no evaluated run off the reference curve under {', '.join(map(str, args.roots))}",
                  file=sys.stderr)
            return 1
        print("\n".join(lines))
        return 0
    if args.gamma is None:
        parser.error("--gamma is required unless --method all")
    results = by_seed(args.roots, args.method, args.gamma, args.metrics, args.collapsed_below)
    if not results:
        print(f"error: no evaluated run of method {args.method!r} at γ {args.gamma:g} under "
              f"{', '.join(map(str, args.roots))}", file=sys.stderr)
        return 1
    for result in results:
        seeds = result["seeds"]
        collapsed = sum(s["state"] == "collapsed" for s in seeds)  # type: ignore[union-attr]
        print(f"## {result['dataset']} {result['model']} {args.method} γ {args.gamma:g}: {len(seeds)} seeds, "  # type: ignore[arg-type]
              f"{collapsed} collapsed (KL(z) < {args.collapsed_below:g} nats)")
        curve = ", ".join(f"{m} γ {g:g} {kl:.1f} (n {n})" for kl, m, g, n in result["curve"])  # type: ignore[union-attr]
        print(f"β-VAE curve (KL(z) nats): {curve}\n")
        print("| seed | run | KL(z) | state | " + " | ".join(f"Δ {k}" for k in args.metrics) + " |")
        print("|---|---|---:|---|" + "---:|" * len(args.metrics))
        for s in seeds:  # type: ignore[union-attr]
            cells = [f"{s['diff'][k]:+.4f}" if k in s["diff"] else "–" for k in args.metrics]
            print(f"| {s['seed']} | {s['run_id']} | {s['kl_z']:.2f} | {s['state']} | " + " | ".join(cells) + " |")
        summary = result["summary"]
        cells = [f"{summary[k][0]:+.4f} ± {summary[k][1]:.4f}" if k in summary else "–" for k in args.metrics]  # type: ignore[operator,index]
        n = max((v[2] for v in summary.values()), default=0)  # type: ignore[union-attr]
        print(f"| mean ± SE | {n} read | | | " + " | ".join(cells) + " |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
