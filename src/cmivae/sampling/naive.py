"""Naive ancestral sampling from the PixelCNN decoder: the reference the fast sampler must match.

The decoder factorizes ``p(x | z) = prod_t p(x_t | z, x_<t)`` over pixels in raster order
(paper Sec. 2.1, appendix B). Sampling draws pixel t only after pixels < t: this module
re-runs the whole decoder on the current canvas once per pixel (``H * W`` full forward
passes, 784 for MNIST) and keeps the logit of pixel t. It is the specification of
:func:`cmivae.sampling.cached.sample_cached` (Ramachandran et al. 2017, "Fast generation for
convolutional autoregressive models"), which must return the same images for the same draws.

Randomness is explicit: pixel ``(c, i, j)`` of image b is ``uniforms[b, c, i, j] < sigmoid(logit)``
(inverse-CDF sampling of a Bernoulli), so two samplers given the same uniforms (or the same
``torch.Generator`` state, see :func:`draw_uniforms`) are comparable pixel for pixel.
"""

from __future__ import annotations

import torch
from torch import nn

from cmivae.models.pixelcnn_vae import PixelCNNDecoder


def pixelcnn_decoder(model: nn.Module) -> PixelCNNDecoder:
    """The :class:`PixelCNNDecoder` of ``model`` (a ``PixelCNNVAE``) or ``model`` itself."""
    if isinstance(model, PixelCNNDecoder):
        return model
    decoder = getattr(model, "decoder", None)
    if isinstance(decoder, PixelCNNDecoder):
        return decoder
    raise TypeError(f"autoregressive sampling needs a PixelCNNVAE or a PixelCNNDecoder, got {type(model).__name__}; "
                    "the DSAE decodes all frames at once and needs no sampler")


def check_latents(decoder: PixelCNNDecoder, z: torch.Tensor) -> None:
    """Raise a ``ValueError`` unless ``z`` is a ``(B, D)`` batch of the decoder's latent size."""
    z_dim = decoder.config.z_dim
    if z.dim() != 2 or z.shape[1] != z_dim or z.shape[0] == 0:
        raise ValueError(f"z must have shape (B, {z_dim}) with B >= 1, got {tuple(z.shape)}")


def draw_uniforms(decoder: PixelCNNDecoder, z: torch.Tensor, uniforms: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The ``(B, C, H, W)`` uniforms in [0, 1) deciding every pixel, given or drawn from ``generator``.

    ``uniforms`` may be ``(B, C, H, W)`` or flattened ``(B, C * H * W)`` (``(B, H * W)`` in
    raster order for binary images, C = 1). Give either ``uniforms`` or ``generator`` (or
    neither: the global torch RNG is used).
    """
    check_latents(decoder, z)
    c, h, w = decoder.config.image_shape
    batch = z.shape[0]
    if uniforms is None:
        return torch.rand(batch, c, h, w, generator=generator, device=z.device)  # (B, C, H, W)
    if generator is not None:
        raise ValueError("give either uniforms or a generator, not both")
    if tuple(uniforms.shape) not in ((batch, c * h * w), (batch, c, h, w)):
        raise ValueError(f"uniforms must have shape ({batch}, {c * h * w}) or ({batch}, {c}, {h}, {w}) "
                         f"(one draw per pixel of each of the B = {batch} latents), got {tuple(uniforms.shape)}")
    return uniforms.to(device=z.device, dtype=torch.float32).reshape(batch, c, h, w)  # (B, CHW) -> (B, C, H, W)


@torch.no_grad()
def sample_naive(model: nn.Module, z: torch.Tensor, uniforms: torch.Tensor | None = None, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample ``x ~ p(x | z)`` by running the decoder once per pixel (slow; the reference).

    Args:
        model: a ``PixelCNNVAE`` or its ``PixelCNNDecoder``.
        z: global latents ``(B, D)``.
        uniforms: ``(B, C * H * W)`` or ``(B, C, H, W)`` draws in [0, 1); see :func:`draw_uniforms`.
        generator: draws the uniforms when they are not given.

    Returns:
        Binary images ``(B, C, H, W)`` (float, values in {0, 1}).
    """
    decoder = pixelcnn_decoder(model)
    u = draw_uniforms(decoder, z, uniforms, generator)  # (B, C, H, W)
    dtype = decoder.out.weight.dtype
    z = z.to(dtype)
    _, height, width = decoder.config.image_shape
    canvas = torch.zeros(u.shape, dtype=dtype, device=z.device)  # (B, C, H, W), pixels >= t still 0
    for i in range(height):
        for j in range(width):
            logits, _ = decoder(canvas, z)  # (B, C, H, W); only pixel (i, j) is used
            probs = torch.sigmoid(logits[:, :, i, j].float())  # (B, C)
            canvas[:, :, i, j] = (u[:, :, i, j] < probs).to(dtype)
    return canvas
