"""``python -m benchmarks``: every benchmark of :data:`benchmarks.suites.BENCHMARKS`, printed
as one table of ratios measured in the same run.

Examples::

    python -m benchmarks                       # all of them (a few minutes)
    python -m benchmarks --quick --only ceilings
    python -m benchmarks --write --runs runs/img runs/speech   # and update BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from benchmarks.report import markdown_table, results_block, write_results
from benchmarks.suites import BENCHMARKS, Options, Row
from benchmarks.timing import auto_threads, load_average, machine_line

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and smaller batches: a smoke check, not a measurement")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--write", action="store_true", help=f"update the results block of {BENCHMARKS_MD.name}")
    parser.add_argument("--runs", nargs=2, metavar=("IMAGE_RUN", "SPEECH_RUN"),
                        help="finished run directories timed by the `evaluate` benchmark")
    parser.add_argument("--threads", default="auto",
                        help=f"intra-op threads, or 'auto' (default): torch's {torch.get_num_threads()} when the "
                             "machine is idle, fewer when the load average shows other processes on its cores")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads == "auto":
        torch.set_num_threads(auto_threads())
    elif args.threads.isdigit() and int(args.threads) >= 1:
        torch.set_num_threads(int(args.threads))
    else:
        raise SystemExit(f"--threads must be 'auto' or a positive integer, got {args.threads!r}")
    opts = Options(quick=args.quick, runs=tuple(args.runs) if args.runs else None)
    names = args.only or list(BENCHMARKS)
    machine, load_before, start = machine_line(), load_average(), time.monotonic()
    print(f"machine: {machine}\nload average: {load_before}", flush=True)
    rows: list[Row] = []
    for name in names:
        began = time.monotonic()
        print(f"[{name}] running ...", flush=True)
        new = BENCHMARKS[name](opts)
        for row in new:
            print(f"[{name}] {row.measurement}: {row.value}  {row.note}", flush=True)
        print(f"[{name}] {time.monotonic() - began:.0f} s", flush=True)
        rows += new
    seconds, load_after = time.monotonic() - start, load_average()
    print(f"\nload average at the end: {load_after}\n")
    print(markdown_table(rows))
    if args.write:
        given = argv if argv is not None else sys.argv[1:]
        command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in given)
        write_results(BENCHMARKS_MD, results_block(rows, command.strip(), machine, load_before, load_after, seconds))
        print(f"\nwrote {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
