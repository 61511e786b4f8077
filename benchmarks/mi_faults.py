"""Issue 31 item 19: the page faults of the Î(z; s) estimate, before and after the reused gather buffer.

``python -m benchmarks.mi_faults``: the estimator of :mod:`cmivae.metrics.mutual_information`
on paper-size PixelCNN feature maps (s of ``64 x 28 x 28``, random z and s: the cost does
not depend on the values) with ``reuse_buffers=False`` (a fresh ``s[rows]`` per critic
batch, the code before the fix) and ``True`` (one reused buffer), each in a fresh
subprocess on one thread (``OMP_NUM_THREADS=1``, so that neither sees the other's heap).
For each it prints the CPU seconds (user and system) and the minor page faults of the
estimate alone, from ``resource.getrusage(RUSAGE_SELF)`` before and after the call, per
critic step, and the estimate (the same number both ways). The default size takes about
a minute of CPU in all (both variants); ``--pairs``/``--steps`` scale it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys


def measure(pairs: int, steps: int, channels: int, reuse: bool) -> dict[str, float]:
    """CPU seconds, minor faults and the estimate of one Î(z; s) call in this process."""
    import torch

    from cmivae.metrics.mutual_information import estimate_mutual_information

    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(pairs, 32, generator=generator)  # (N, D)
    s = torch.randn(pairs, channels, 28, 28, generator=generator)  # (N, C, H, W)
    s[:, 0] += z[:, :1, None]  # (N, 28, 28) + (N, 1, 1): some information, so the critic has work to do
    before = resource.getrusage(resource.RUSAGE_SELF)
    estimate = estimate_mutual_information(z, s, seed=0, num_steps=steps, eval_every=max(1, steps // 4),
                                           reuse_buffers=reuse)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime,
            "minor_faults": float(after.ru_minflt - before.ru_minflt), "estimate": estimate,
            "peak_rss_mb": after.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mi_faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1500, help="(z, s) pairs (a fifth held out); evaluate uses 3000")
    parser.add_argument("--steps", type=int, default=40, help="critic steps (evaluate uses 500)")
    parser.add_argument("--channels", type=int, default=64, help="channels of s (the paper's PixelCNN: 64)")
    parser.add_argument("--one", choices=["before", "after"], help=argparse.SUPPRESS)  # the subprocess's part
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.pairs, args.steps, args.channels, reuse=args.one == "after")))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = {}
    for variant in ("before", "after"):
        command = [sys.executable, "-m", "benchmarks.mi_faults", "--one", variant, "--pairs", str(args.pairs),
                   "--steps", str(args.steps), "--channels", str(args.channels)]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        rows[variant] = json.loads(out.strip().splitlines()[-1])
    print(f"I(z;s) estimate, s of {args.channels}x28x28, {args.pairs} pairs, {args.steps} critic steps, one thread")
    print(f"{'variant':<8} {'user s':>8} {'sys s':>8} {'CPU s':>8} {'minor faults':>13} {'per step*':>12} "
          f"{'peak RSS MB':>12} {'estimate':>10}")
    for variant, r in rows.items():
        cpu = r["user_s"] + r["sys_s"]
        print(f"{variant:<8} {r['user_s']:8.2f} {r['sys_s']:8.2f} {cpu:8.2f} {r['minor_faults']:13.0f} "
              f"{r['minor_faults'] / args.steps:12.0f} {r['peak_rss_mb']:12.0f} {r['estimate']:10.4f}")
    print("* all faults of the estimate over its steps, setup (standardizing s) included")
    b, a = rows["before"], rows["after"]
    print(f"CPU seconds {(b['user_s'] + b['sys_s']) / (a['user_s'] + a['sys_s']):.2f}x lower, minor faults "
          f"{b['minor_faults'] / max(a['minor_faults'], 1):.1f}x fewer; estimates differ by "
          f"{abs(b['estimate'] - a['estimate']):.2g} nats")


if __name__ == "__main__":
    main()
