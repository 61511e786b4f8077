"""Sampling x ~ p(x | z) from the PixelCNN-VAE decoder (paper Sec. 5.3 mCAS, appendix K.3).

Two samplers with one signature ``(model, z, uniforms=None, *, generator=None) -> (B, C, H, W)``
that give the same images for the same draws: ``"naive"`` re-runs the decoder once per pixel
(the reference), ``"cached"`` reuses activations across steps (Ramachandran et al. 2017) and
costs about one forward pass.
"""

from __future__ import annotations

from cmivae.sampling.cached import CachedSamples, sample_cached, sample_cached_with_logits
from cmivae.sampling.grid import decode_samples, save_sample_grid
from cmivae.sampling.naive import draw_uniforms, sample_naive
from cmivae.sampling.samplers import SAMPLERS, Sampler, sample, sampler_of

__all__ = ["SAMPLERS", "CachedSamples", "Sampler", "decode_samples", "draw_uniforms", "sample", "sample_cached",
           "sample_cached_with_logits", "sample_naive", "sampler_of", "save_sample_grid"]
