"""Sampling x ~ p(x | z) from the PixelCNN-VAE decoder (paper Sec. 5.3 mCAS, appendix K.3).

Two samplers with one signature ``(model, z, uniforms=None, *, generator=None) -> (B, C, H, W)``
that give the same images for the same draws: ``"naive"`` re-runs the decoder once per pixel
(the reference), ``"cached"`` reuses activations across steps (Ramachandran et al. 2017) and
costs about one forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cmivae.sampling.cached import CachedSamples, sample_cached, sample_cached_with_logits
from cmivae.sampling.grid import decode_samples, save_sample_grid
from cmivae.sampling.naive import draw_uniforms, sample_naive

Sampler = Callable[..., torch.Tensor]

SAMPLERS: dict[str, Sampler] = {
    "naive": sample_naive,
    "cached": sample_cached,
}


def sample(model: nn.Module, z: torch.Tensor, *, uniforms: torch.Tensor | None = None,
           generator: torch.Generator | None = None, method: str = "cached") -> torch.Tensor:
    """Binary images ``(B, C, H, W)`` drawn from ``p(x | z)`` for latents ``z`` ``(B, D)``
    with sampler ``method`` (a key of :data:`SAMPLERS`)."""
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampling method {method!r}; known methods: {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[method](model, z, uniforms, generator=generator)


__all__ = ["SAMPLERS", "CachedSamples", "decode_samples", "draw_uniforms", "sample", "sample_cached",
           "sample_cached_with_logits", "sample_naive", "save_sample_grid"]
