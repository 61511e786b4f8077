"""CPU-seconds of one training step of a preset in two settings of one config key, on one thread.

Usage: ``python -m benchmarks.preset_step PRESET [OBJECTIVE] [--vary KEY=A,B] [--set KEY=VALUE ...]
[--rounds N]`` (e.g. ``python -m benchmarks.preset_step pixelcnn-mid beta`` for the decoder's memory
format, ``--vary model.block=plain,residual`` for the decoder's layers).

How long a run of a preset takes on *this* machine: the preset comments give times measured on the
machine they were written on, and a machine without bf16 kernels (AVX2 only: ``train.precision:
auto`` is fp32 there) is several times slower. One batch of 64 random binary images, the preset's
resolved precision, the two values of ``--vary`` (default ``train.channels_last=false,true``) timed
interleaved round by round (:func:`benchmarks.timing.interleaved`), ``--set`` overrides applied to
both; prints the median CPU-seconds per step (VAE update plus the objective's critic updates) of each
and their ratio from the same rounds. One torch thread, so the CPU time barely moves with the
machine's load.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.timing import interleaved, machine_line
from cmivae.config import load_config
from cmivae.training.loop import Trainer, build_trainer, train_step


def _step(preset: str, overrides: list[str]) -> tuple[Trainer, torch.Tensor]:
    torch.manual_seed(0)
    trainer = build_trainer(load_config(preset, overrides))
    shape = trainer.model.config.image_shape  # (C, H, W)
    x = (torch.rand(trainer.config.train.batch_size, *shape, generator=torch.Generator().manual_seed(1)) < 0.3)
    return trainer, trainer.to_device(x.float())  # (B, C, H, W), channels_last when the trainer uses it


def _vary(text: str) -> tuple[str, list[str]]:
    key, _, values = text.partition("=")
    choices = [v.strip() for v in values.split(",")]
    if not key or len(choices) != 2 or not all(choices):
        raise argparse.ArgumentTypeError(f"--vary takes KEY=A,B (two values of one config key), got {text!r}")
    return key, choices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("preset", help="an image preset (cmivae presets), e.g. pixelcnn-mid")
    parser.add_argument("objective", nargs="?", default="beta", help="elbo, beta, mi or cmi (default beta)")
    parser.add_argument("--vary", type=_vary, default=("train.channels_last", ["false", "true"]),
                        metavar="KEY=A,B", help="the config key whose two values are compared "
                        "(default train.channels_last=false,true)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for both variants (repeatable)")
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per variant (default 3)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"machine: {machine_line()}")
    key, values = args.vary
    variants, steps = {}, {}
    for value in values:
        trainer, x = _step(args.preset, [f"objective.name={args.objective}", *args.set, f"{key}={value}"])
        name = f"{key}={value}"
        steps[name] = 0

        def call(trainer: Trainer = trainer, x: torch.Tensor = x, name: str = name) -> None:
            steps[name] += 1
            train_step(trainer, x, steps[name])

        variants[name] = call
        print(f"{name}: precision {trainer.precision}, decoder channels_last {trainer.channels_last}")
    timings = interleaved(variants, rounds=args.rounds, warmup=2)
    for name, timing in timings.items():
        print(f"{args.preset} {args.objective} {name}: {timing.median_cpu:.2f} CPU-s per step "
              f"(wall {timing.median_wall:.2f} s), batch {trainer.config.train.batch_size}")
    a, b = (timings[f"{key}={v}"].median_cpu for v in values)
    print(f"{key}: {values[0]} / {values[1]} CPU time: {a / b:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
