"""CPU-seconds of one training step of a preset, in both decoder memory formats, on one thread.

Usage: ``python -m benchmarks.preset_step PRESET [OBJECTIVE] [--rounds N]``
(e.g. ``python -m benchmarks.preset_step pixelcnn-mid beta``).

How long a run of a preset takes on *this* machine: the preset comments give times measured on the
machine they were written on, and a machine without bf16 kernels (AVX2 only: ``train.precision:
auto`` is fp32 there) is several times slower. One batch of 64 random binary images, the preset's
resolved precision, ``train.channels_last`` false and true timed interleaved round by round
(:func:`benchmarks.timing.interleaved`); prints the median CPU-seconds per step (VAE update plus
the objective's critic updates) of each and their ratio from the same rounds. One torch thread, so
the CPU time barely moves with the machine's load.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.timing import interleaved, machine_line
from cmivae.config import load_config
from cmivae.training.loop import Trainer, build_trainer, train_step


def _step(preset: str, objective: str, channels_last: bool) -> tuple[Trainer, torch.Tensor]:
    torch.manual_seed(0)
    trainer = build_trainer(load_config(preset, [f"objective.name={objective}",
                                                 f"train.channels_last={str(channels_last).lower()}"]))
    shape = trainer.model.config.image_shape  # (C, H, W)
    x = (torch.rand(trainer.config.train.batch_size, *shape, generator=torch.Generator().manual_seed(1)) < 0.3)
    return trainer, trainer.to_device(x.float())  # (B, C, H, W), channels_last when the trainer uses it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("preset", help="an image preset (cmivae presets), e.g. pixelcnn-mid")
    parser.add_argument("objective", nargs="?", default="beta", help="elbo, beta, mi or cmi (default beta)")
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per variant (default 3)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"machine: {machine_line()}")
    variants, steps = {}, {}
    for channels_last in (False, True):
        trainer, x = _step(args.preset, args.objective, channels_last)
        name = f"channels_last={channels_last}"
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
    a, b = (timings[f"channels_last={v}"].median_cpu for v in (False, True))
    print(f"contiguous / channels_last CPU time: {a / b:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
