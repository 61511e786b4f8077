"""The sampler registry: name -> function ``(model, z, uniforms=None, *, generator=None) -> (B, C, H, W)``.

A model names its sampler in its ``sampler`` attribute (``"cached"`` for the PixelCNN-VAE;
``None`` for a model that has no image sampler); :func:`cmivae.sampling.grid.decode_samples`
dispatches on it, never on the model's type.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cmivae.infra.errors import ConfigError
from cmivae.sampling.cached import sample_cached
from cmivae.sampling.naive import sample_naive

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


def sampler_of(model: nn.Module, method: str | None = None) -> Sampler:
    """The sampler ``method`` or, by default, the one the model names (``model.sampler``)."""
    method = method or getattr(model, "sampler", None)
    if method is None:
        raise ConfigError(f"model {type(model).__name__} has no image sampler (its `sampler` is None); "
                          f"`cmivae sample` and mCAS need a model that draws images, e.g. pixelcnn_vae")
    if method not in SAMPLERS:
        raise ConfigError(f"unknown sampler {method!r}; known samplers: {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[method]
