"""``python -m benchmarks``: every benchmark of :data:`benchmarks.suites.BENCHMARKS`, printed
as one table of ratios measured in the same run.

Examples::

    python -m benchmarks                       # all of them (a few minutes)
    python -m benchmarks --quick --only ceilings
    python -m benchmarks --write --runs runs/img runs/speech   # and update BENCHMARKS.md
    python -m benchmarks --device cuda --runs runs/img          # the same suites on a GPU
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--runs", nargs="+", metavar="RUN",
                        help="finished run directories (an image run and/or a speech run) timed by `evaluate`")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N: where every suite runs (same suites on both)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON (scripts/gpu_check.sh)")
    parser.add_argument("--compile", nargs="?", const="default", choices=["default", "reduce-overhead", "max-autotune"],
                        help="also time the pixelcnn step under torch.compile (mode; default 'default')")
    parser.add_argument("--threads", default="auto",
                        help=f"intra-op threads, or 'auto' (default): torch's {torch.get_num_threads()} when the "
                             "machine is idle, fewer when the load average shows other processes on its cores")
    return parser.parse_args(argv)


def _device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            print(f"error: --device {name} but no CUDA device is visible; use --device cpu (or run on a GPU machine)",
                  file=sys.stderr)
            raise SystemExit(2)
        device = torch.device(name)
        return torch.device("cuda", device.index if device.index is not None else torch.cuda.current_device())
    print(f"error: --device must be cpu, cuda or cuda:N, got {name!r}", file=sys.stderr)
    raise SystemExit(2)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> tuple[str, str]:
    """(value, note) of the suite's peak memory: tensors on the GPU, or this process's peak RSS."""
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB", "peak GPU memory allocated by tensors"
    import resource

    return (f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB",
            "peak resident memory of the process so far (CPU)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads == "auto":
        torch.set_num_threads(auto_threads())
    elif args.threads.isdigit() and int(args.threads) >= 1:
        torch.set_num_threads(int(args.threads))
    else:
        raise SystemExit(f"--threads must be 'auto' or a positive integer, got {args.threads!r}")
    device = _device(args.device)
    opts = Options(quick=args.quick, runs=tuple(args.runs) if args.runs else None, device=device,
                   compile_mode=args.compile)
    names = args.only or list(BENCHMARKS)
    machine, load_before, start = machine_line(device), load_average(), time.monotonic()
    print(f"machine: {machine}\nload average: {load_before}", flush=True)
    rows: list[Row] = []
    for name in names:
        began = time.monotonic()
        print(f"[{name}] running ...", flush=True)
        reset_peak_memory(device)
        new = BENCHMARKS[name](opts)
        new.append(Row(name, "peak memory", *peak_memory(device)))
        for row in new:
            print(f"[{name}] {row.measurement}: {row.value}  {row.note}", flush=True)
        print(f"[{name}] {time.monotonic() - began:.0f} s", flush=True)
        rows += new
    seconds, load_after = time.monotonic() - start, load_average()
    print(f"\nload average at the end: {load_after}\n")
    print(markdown_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "device": str(device), "seconds": seconds,
                                               "rows": [vars(row) for row in rows]}, indent=1))
    if args.write:
        given = argv if argv is not None else sys.argv[1:]
        command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in given)
        write_results(BENCHMARKS_MD, results_block(rows, command.strip(), machine, load_before, load_after, seconds))
        print(f"\nwrote {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
