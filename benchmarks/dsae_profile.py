"""Issue 16 probe: where the DSAE CMI-VAE training step spends its CPU time.

``python -m benchmarks.dsae_profile``: the paper's DSAE (``dsae-paper``), one CMI-VAE step
(two critic updates, then the VAE update) at B = 256, T = 20, F = 201 under bf16 autocast on
the calling threads, profiled by ``torch.profiler`` over a few steps after a warm-up. Prints
the self CPU time of each operator group as a share of the step: oneDNN's LSTM kernels
(forward and backward, the three ``nn.LSTM`` of the model), matrix products, the critic's
convolutions and batch norms, and the rest (element-wise work, copies, Adam). The shares,
not the absolute times, are what it is for: the profiler adds overhead to every operator.
"""

from __future__ import annotations

import argparse

import torch

GROUPS = {  # operator name -> group; anything else is "element-wise, copies, optimizer, other"
    "aten::mkldnn_rnn_layer": "LSTM (oneDNN), forward",
    "aten::mkldnn_rnn_layer_backward": "LSTM (oneDNN), backward",
    "aten::mm": "matrix products", "aten::addmm": "matrix products", "aten::bmm": "matrix products",
    "aten::mkldnn_convolution": "critic convolutions and batch norm",
    "aten::convolution_backward": "critic convolutions and batch norm",
    "aten::native_batch_norm": "critic convolutions and batch norm",
    "aten::native_batch_norm_backward": "critic convolutions and batch norm",
}
OTHER = "element-wise, copies, optimizer, other"


def profile_shares(batch_size: int = 256, steps: int = 2) -> dict[str, float]:
    """Share of the profiled self CPU time per operator group (the values sum to 1)."""
    from torch.profiler import ProfilerActivity, profile

    from cmivae.config import load_config
    from cmivae.training.loop import build_trainer, train_step

    torch.manual_seed(0)
    trainer = build_trainer(load_config("dsae-paper", [f"train.batch_size={batch_size}", "train.precision=bf16"]))
    config = trainer.model.config
    x = torch.randn(batch_size, config.num_steps, config.x_dim, generator=torch.Generator().manual_seed(0))
    for _ in range(2):  # warm-up: oneDNN primitives, autocast caches, Adam state
        train_step(trainer, x, 0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step(trainer, x, 0)
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        group = GROUPS.get(event.key, OTHER)
        totals[group] = totals.get(group, 0.0) + event.self_cpu_time_total
    whole = sum(totals.values())
    return {group: time / whole for group, time in sorted(totals.items(), key=lambda kv: -kv[1])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2, help="profiled steps after 2 warm-up steps")
    args = parser.parse_args(argv)
    print(f"DSAE CMI-VAE step (dsae-paper, B={args.batch_size}, bf16), {torch.get_num_threads()} thread(s): "
          "share of self CPU time")
    for group, share in profile_shares(args.batch_size, args.steps).items():
        print(f"  {100 * share:5.1f} %  {group}")


if __name__ == "__main__":
    main()
