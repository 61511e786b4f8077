"""Helpers of ``scripts/gpu_check.sh``: the step cap of its timed training, and its summary.

``python -m benchmarks.gpu_check steps --bench BENCH.json --seconds S --runs N`` prints how
many paper-preset steps each of N concurrent runs can take in S seconds, from the
``steps`` benchmark's measured CMI-VAE rate (a fallback rate when it is missing).

``python -m benchmarks.gpu_check summary OUT`` reads what the check wrote under ``OUT``
(``bench.json``, ``cuda-tests.txt``, ``runs/*/{metrics.jsonl,results.json,eval.json}``,
``runs/*/evaluate.log``, ``phases.tsv``) and writes ``OUT/summary.md``: every number with
where it came from, and each target of issue 14 marked reached or not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

BATCH = 64  # the paper preset's batch size
FALLBACK_IMAGES_PER_SECOND = 1000.0  # when the benchmark did not run: a cautious guess, so training ends in time
# A concurrent run gets about this share of one GPU's single-process rate (small kernels overlap; to be measured).
CONCURRENT_SHARE = 0.6
TARGETS = {  # issue 14
    "train": ("paper-preset CMI-VAE training step", ">= 5000 images/s"),
    "sampling": ("cached sampling of the 1000 mCAS images", "< 2 s"),
    "evaluate": ("one full `cmivae evaluate` (image run)", "< 60 s"),
}


def _bench_rows(out: Path) -> list[dict[str, str]]:
    path = out / "bench.json"
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text())["rows"])
    except (ValueError, KeyError):
        return []


def _value(rows: list[dict[str, str]], benchmark: str, measurement: str) -> float | None:
    for row in rows:
        if row["benchmark"] == benchmark and row["measurement"] == measurement:
            match = re.match(r"[-+]?\d+(\.\d+)?", row["value"])
            return float(match.group(0)) if match else None
    return None


def step_cap(bench: Path, seconds: float, runs: int) -> int:
    """Steps of each of ``runs`` concurrent paper-preset runs that fit in ``seconds``."""
    rows = _bench_rows(bench.parent) if bench.name == "bench.json" else []
    rate = _value(rows, "steps", "pixelcnn-paper cmi, images/s") or FALLBACK_IMAGES_PER_SECOND
    share = 1.0 if runs == 1 else CONCURRENT_SHARE
    return max(1, int(rate * share * seconds / BATCH))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _mark(value: float | None, good: bool) -> str:
    if value is None:
        return "not measured"
    return "reached" if good else "NOT reached"


def summary(out: Path, dry_run: bool = False) -> str:
    """The Markdown summary of one check (see the module docstring)."""
    lines = ["# GPU check", ""]
    if dry_run:
        lines += ["**Dry run on the CPU** (`scripts/gpu_check.sh --dry-run`): the plumbing, not a measurement; "
                  "the training is 3 steps of `pixelcnn-cpu` on a subset, the CUDA tests skip.", ""]
    env = out / "env.txt"
    if env.exists():
        lines += ["## Machine", "", "```", env.read_text().strip(), "```", ""]
    phases = out / "phases.tsv"
    if phases.exists():
        lines += ["## Phases", "", "| phase | exit | seconds |", "|---|---:|---:|"]
        for line in phases.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                lines.append(f"| {parts[0]} | {parts[1]} | {parts[2]} |")
        lines.append("")
    tests = out / "cuda-tests.txt"
    if tests.exists():
        tail = [line for line in tests.read_text().splitlines() if re.search(r"passed|failed|skipped|error", line)]
        lines += ["## CUDA tests (`pytest -m cuda`)", "", "```", *(tail[-15:] or ["(no result line)"]), "```", ""]

    rows = _bench_rows(out)
    if rows:
        lines += ["## Benchmarks (`python -m benchmarks --device ...`)", "",
                  "| benchmark | measurement | value | note |", "|---|---|---:|---|"]
        lines += [f"| {r['benchmark']} | {r['measurement']} | {r['value']} | {r['note']} |" for r in rows]
        lines.append("")

    train_rate = _value(rows, "steps", "pixelcnn-paper cmi, images/s")
    sampling = _value(rows, "sampling", "cached, 1000 images, s")
    evaluate_seconds: float | None = None
    runs = sorted(p for p in (out / "runs").glob("*") if p.is_dir()) if (out / "runs").is_dir() else []
    if runs:
        lines += ["## Paper-preset training and evaluation", "",
                  "| run | epochs (last complete?) | steps | images/s (last epoch) | test elbo | kl_z | eval s | "
                  "sampling s | mi_zs | aolr | mcas |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for run in runs:
            history = _jsonl(run / "metrics.jsonl")
            results, evaluation = _json(run / "results.json"), _json(run / "eval.json")
            log = (run / "evaluate.log").read_text() if (run / "evaluate.log").exists() else ""
            sampled = re.search(r"sampled 1000 images in ([\d.]+)s", log)
            last = history[-1] if history else {}

            def number(values: dict[str, Any], key: str, digits: int = 2) -> str:
                value = values.get(key)
                return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"

            lines.append(
                f"| {run.name} | {len(history)} ({last.get('epoch_complete', '-')}) | {last.get('step', '-')} | "
                f"{number(last, 'images_per_second', 0)} | {number(results, 'elbo')} | {number(results, 'kl_z')} | "
                f"{number(evaluation, 'eval_seconds', 1)} | {sampled.group(1) if sampled else '-'} | "
                f"{number(evaluation, 'mi_zs', 3)} | {number(evaluation, 'aolr', 3)} | "
                f"{number(evaluation, 'mcas', 3)} |")
            if run.name.startswith("cmi") and "eval_seconds" in evaluation:
                evaluate_seconds = float(evaluation["eval_seconds"])
        lines.append("")

    lines += ["## Targets (issue 14)", "", "| target | wanted | measured | |", "|---|---|---:|---|"]
    for key, measured, good in (
            ("train", train_rate, train_rate is not None and train_rate >= 5000),
            ("sampling", sampling, sampling is not None and sampling < 2),
            ("evaluate", evaluate_seconds, evaluate_seconds is not None and evaluate_seconds < 60)):
        what, wanted = TARGETS[key]
        shown = "-" if measured is None else f"{measured:.1f}"
        lines.append(f"| {what} | {wanted} | {shown} | {_mark(measured, good)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("steps", help="print the step cap of each timed training run")
    p.add_argument("--bench", type=Path, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--runs", type=int, default=1)
    p = sub.add_parser("summary", help="write OUT/summary.md")
    p.add_argument("out", type=Path)
    p.add_argument("--dry-run", action="store_true", help="mark the summary as a CPU dry run")
    args = parser.parse_args(argv)
    if args.command == "steps":
        print(step_cap(args.bench, args.seconds, args.runs))
        return 0
    text = summary(args.out, dry_run=args.dry_run)
    (args.out / "summary.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
