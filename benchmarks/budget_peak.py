"""The memory estimate of :mod:`cmivae.budget` beside a real training step's peak memory (and FLOPs).

Usage: ``python -m benchmarks.budget_peak PRESET [--set KEY=VALUE ...] [--steps N]`` (e.g.
``python -m benchmarks.budget_peak dsae-sprites-cpu``). One torch thread. The preset is resolved, its
:func:`cmivae.budget.estimate` printed by part, then (in this process, which has done nothing else
since importing torch) the trainer is built and ``--steps`` training steps (critic updates included)
run on random uint8 or binary input of the preset's batch size; the peak resident memory they add
(``ru_maxrss`` after minus the resident memory before building) is printed beside the estimate. The
estimate is meant to be right to the factor that separates a run that fits from one that cannot;
this says by how much it is off for one preset. With ``--flops`` it also counts one step's FLOPs with
``torch.utils.flop_counter`` (matrix products and convolutions, forward and backward) beside
:mod:`benchmarks.flops`' count of the useful ones, for the video DSAE.
"""

from __future__ import annotations

import argparse
import resource

import torch

from benchmarks.timing import machine_line
from cmivae.budget import GIB, RUNTIME_BYTES, estimate
from cmivae.registry import MODELS, load_resolved
from cmivae.training.loop import build_trainer, train_step


def _resident_bytes() -> int:
    """This process's resident memory now (``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("preset", help="a preset (cmivae presets) or config file, e.g. dsae-sprites-cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    parser.add_argument("--steps", type=int, default=3, help="training steps run (default 3)")
    parser.add_argument("--flops", action="store_true", help="also count one step's FLOPs (video DSAE)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"machine: {machine_line()}")
    resolved = load_resolved(args.preset, args.set)
    config = resolved.config
    model_class = MODELS[config.model.name]
    if args.flops and config.model.name != "video_dsae":
        parser.error(f"--flops counts the video DSAE's useful FLOPs (benchmarks.flops); {args.preset} is a "
                     f"{config.model.name}: leave --flops out")
    guess = estimate(resolved, model_class)  # in the precision the trainer below resolves (run_precision)
    batch = config.train.batch_size
    kept = guess.model + guess.critic
    print(f"{args.preset} {' '.join(args.set)}: estimate {guess.describe()}")
    print(f"  runtime {RUNTIME_BYTES / GIB:.3f} GiB; parameters: {guess.parameter_bytes / GIB:.3f} GiB; activations "
          f"(model {guess.model.activations:.3g}, critic {guess.critic.activations:.3g} per example, "
          f"{kept.full_precision:.3g} of them fp32 under autocast) in {guess.precision} at batch {batch}: "
          f"{guess.activation_bytes / GIB:.3f} GiB")
    shape = tuple(model_class.input_shape_of(resolved.model))
    generator = torch.Generator().manual_seed(0)
    x = (torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, generator=generator) if len(shape) == 4
         else (torch.rand(batch, *shape, generator=generator) < 0.3).float())
    before = _resident_bytes()
    torch.manual_seed(0)
    trainer = build_trainer(resolved)
    on_device = trainer.to_device(x) if x.dtype != torch.uint8 else x
    for step in range(args.steps):
        train_step(trainer, on_device, step)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before  # ru_maxrss is in KiB on Linux
    print(f"  measured: peak resident memory added by building the trainer and {args.steps} steps: "
          f"{peak / GIB:.3f} GiB ({trainer.precision}); estimate / measured = {guess.bytes / peak:.2f}")
    if args.flops:
        from torch.utils.flop_counter import FlopCounterMode

        from benchmarks.flops import video_dsae_step_flops

        counter = FlopCounterMode(display=False)
        with counter:
            train_step(trainer, on_device, args.steps)
        objective = trainer.objective_config
        useful = video_dsae_step_flops(trainer.model.config, batch, critic_steps=objective.critic_steps,
                                       critic_hidden_dim=objective.critic_hidden_dim or 256).total_useful
        print(f"  FLOPs of one step: torch.utils.flop_counter {counter.get_total_flops() / 1e9:.2f} GFLOP, "
              f"benchmarks.flops (useful) {useful / 1e9:.2f} GFLOP")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
