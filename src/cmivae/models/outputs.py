"""The common currency between models, objectives and metrics.

Every model's ``forward(x)`` returns one :class:`VAEOutput`: distributions plus the
samples drawn from them. Objectives and metrics read only this, so they work on both
model families (paper, Sec. 2.1): the global latent ``z`` and the local latents ``s``.

Axis vocabulary used across the repository: ``B`` batch, ``T`` time steps, ``F``
frequency bins, ``C H W`` image, ``D`` latent size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import distributions as dist


@dataclass
class VAEOutput:
    """What a sequential VAE returns for a batch ``x``.

    Attributes:
        likelihood: p(x | z, s), an ``Independent`` distribution whose ``log_prob(x)``
            is ``(B,)`` (summed over every non-batch axis).
        posterior_z: q(z | x), batch shape ``(B,)``, event shape ``(D,)``.
        prior_z: p(z), same shapes as ``posterior_z``.
        z: a reparameterized sample of q(z | x), ``(B, D)``.
        s: the local latents. PixelCNN-VAE: the deterministic features of the layer
            before z is injected, ``(B, C, H, W)`` (appendix B). DSAE: a sample of
            q(s_{1:T} | x, z), ``(B, T, D)``.
        posterior_s: DSAE only: q(s_t | x, z, s_{t-1}), batch shape ``(B,)``, event
            shape ``(T, D)``. ``None`` for models with deterministic s.
        prior_s: DSAE only: p(s_t | s_{t-1}) evaluated along the posterior sample.
        s_mean: the mean of the local latents, used by metrics; equals ``s`` when s is
            deterministic.
    """

    likelihood: dist.Distribution
    posterior_z: dist.Distribution
    prior_z: dist.Distribution
    z: torch.Tensor
    s: torch.Tensor
    posterior_s: dist.Distribution | None = None
    prior_s: dist.Distribution | None = None
    s_mean: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.s_mean is None:
            self.s_mean = self.s
