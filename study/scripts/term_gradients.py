"""How hard each loss term pushes the layers that produce s: gradient norms at a trained checkpoint.

Usage: ``python study/scripts/term_gradients.py RUN_DIR [RUN_DIR ...] [--batches 8] [--batch-size 64]``
(PixelCNN-VAE runs with ``best.pt``; any objective: the critic term is measured only where the run
has a critic).

For each run, on ``--batches`` batches of its training images with the model in train mode (batch norm
on batch statistics, as in a training step; nothing is updated), it differentiates two per-batch means
separately:

- ``recon``: the reconstruction term -log p(x|z, s) (Eqs. 2-3);
- ``critic``: the model-side critic term gamma * alpha * logit D(z, s) of Eq. 14 through the **s-path only**
  (z detached: :func:`cmivae.objectives.adversarial_cmi.path_latents`), i.e. what ``critic_path: s`` adds to
  the loss.

and prints how much of s is alive (``s_nonzero``: the fraction of s's entries that are not 0, which a
ReLU decoder can drive to 0 everywhere; ``s_varying``: the fraction of its units, channel x pixel, that vary
across the batch) and, for the decoder's s-layers (``decoder.layers[:inject_after]`` and their norms, the only
parameters the s-path reaches), the norm of each gradient, their ratio critic/recon, and the cosine
between them; and the same three at s itself (the activation ``(B, 64, H, W)``), which does not depend
on how the layers are parametrized. A ratio near 0 says the critic term is too weak against
reconstruction to reshape s; a cosine near -1 says it can only act by hurting reconstruction.
Batches are fixed by a seed, so every run is measured on the same images. A diagnostic, not a metric:
nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from cmivae.data.registry import load_dataset
from cmivae.objectives.adversarial_cmi import path_latents
from cmivae.objectives.terms import reconstruction
from cmivae.runs.trained import open_trained


def _flat(grads: list[torch.Tensor | None], params: list[torch.Tensor]) -> torch.Tensor:
    """Concatenated gradients ``(P,)``; zeros where a parameter got none."""
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten().float() for g, p in zip(grads, params,
                                                                                                     strict=True)])


def _stats(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float, float, float]:
    """(|a|, |b|, |b| / |a|, cos(a, b)) of two flat gradients."""
    na, nb = float(a.norm()), float(b.norm())
    cos = float(torch.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else float("nan")
    return na, nb, (nb / na if na > 0 else float("nan")), cos


def measure(run_dir: Path, batches: int, batch_size: int, seed: int = 0,
            images: torch.Tensor | None = None) -> dict[str, float]:
    """Mean over batches of the layer- and activation-level statistics of the module docstring.

    ``images`` ``(N, C, H, W)``: the images to draw batches from (default: the run's training images)."""
    run = open_trained(run_dir, device="cpu")
    model, objective = run.model, run.objective
    decoder = model.decoder
    inject = decoder.config.inject_after
    params = [p for module in (*decoder.layers[:inject], *decoder.norms[:inject]) for p in module.parameters()]
    if images is None:
        images = load_dataset(run.config.data).train_x
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(images.shape[0], generator=generator)[:batches * batch_size]
    model.train()  # batch norm on batch statistics, as in a training step (the critic's too)
    objective.train()
    has_critic = getattr(objective, "critic", None) is not None
    totals: dict[str, float] = {}
    torch.manual_seed(seed)
    for k in range(batches):
        x = run.to_device(images[rows[k * batch_size:(k + 1) * batch_size]].float())  # (B, 1, 28, 28)
        out = model(x)
        recon = reconstruction(out, x).mean()
        layer_recon = _flat(torch.autograd.grad(recon, params, retain_graph=True, allow_unused=True), params)
        s_recon = torch.autograd.grad(recon, out.s, retain_graph=True)[0].flatten().float()
        units = out.s.detach().float().flatten(1)  # (B, C, H, W) -> (B, C*H*W)
        values = {"recon_layers": float(layer_recon.norm()), "recon_s": float(s_recon.norm()),
                  "s_nonzero": float((units != 0).float().mean()),
                  "s_varying": float((units.std(dim=0) > 1e-6).float().mean())}
        if has_critic:
            z, s = path_latents(out, "s")
            term = (objective.gamma * objective.alpha * objective.critic(z, s)).mean()
            layer_critic = _flat(torch.autograd.grad(term, params, retain_graph=True, allow_unused=True), params)
            s_critic = torch.autograd.grad(term, out.s)[0].flatten().float()
            _, nb, ratio, cos = _stats(layer_recon, layer_critic)
            values.update(critic_layers=nb, ratio_layers=ratio, cos_layers=cos)
            _, nb, ratio, cos = _stats(s_recon, s_critic)
            logit = float(term.detach()) / (objective.gamma * objective.alpha)
            values.update(critic_s=nb, ratio_s=ratio, cos_s=cos, logit=logit)
        for name, value in values.items():
            totals[name] = totals.get(name, 0.0) + value / batches
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="PixelCNN-VAE run directories (config.json, best.pt)")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    columns = ("s_nonzero", "s_varying", "recon_layers", "critic_layers", "ratio_layers", "cos_layers", "recon_s",
               "critic_s", "ratio_s", "cos_s", "logit")
    print("run\t" + "\t".join(columns))
    for run_dir in args.runs:
        values = measure(run_dir, args.batches, args.batch_size)
        print(f"{run_dir}\t" + "\t".join(f"{values[c]:.4g}" if c in values else "-" for c in columns), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
