"""Controlled-generation samples and their image grid (paper Sec. 5.3 mCAS, appendix K.3, Figure 5).

Figure 5 shows, per row, a real image x_i and 10 images sampled from the decoder
``p(x | z_i)`` with the same ``z_i`` "extracted from x" in the first column. mCAS uses the same
construction: "we encoded each x_i into z_i, and decoded z_i to obtain 10 images". Here
z_i is the mean of q(z | x_i) (``PixelCNNVAE.encode``, the representation the paper also
probes for AoLR), so the spread of the samples comes from the decoder alone. Samples are
drawn with the cached sampler (:mod:`cmivae.sampling.cached`, Ramachandran et al. 2017).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from cmivae.infra.atomic import atomic_write_bytes
from cmivae.sampling.samplers import sampler_of

GAP_COLOR = (0.5, 0.5, 0.5)
SEPARATOR_COLOR = (0.85, 0.1, 0.1)


@torch.no_grad()
def decode_samples(model: nn.Module, x_real: torch.Tensor, num_samples: int = 10, seed: int = 0,
                   batch_size: int = 1000, method: str | None = None) -> torch.Tensor:
    """Encode each real image to the mean of q(z | x) and decode it ``num_samples`` times.

    Args:
        model: a model with an image sampler (``model.sampler``, e.g. the PixelCNN-VAE's
            ``cached``); ``encode`` gives the posterior mean.
        x_real: real images ``(R, C, H, W)`` in {0, 1} (float or uint8).
        num_samples: K, samples per real image (10 in the paper).
        seed: seeds the uniforms of all ``R * K`` samples, drawn at once, so the result does
            not depend on ``batch_size``.
        batch_size: latents sampled together; large batches amortize the per-pixel work.
        method: a key of :data:`cmivae.sampling.samplers.SAMPLERS` (default ``model.sampler``).

    Returns:
        Samples ``(R, K, C, H, W)`` (float, values in {0, 1}).
    """
    if x_real.dim() != 4:
        raise ValueError(f"x_real must be a batch of images (R, C, H, W), got shape {tuple(x_real.shape)}")
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"num_samples and batch_size must be >= 1, got {num_samples} and {batch_size}")
    draw = sampler_of(model, method)
    device = next(model.parameters()).device
    z = model.encode_z(x_real.to(device))  # (R, D), mean of q(z | x)
    z = z.repeat_interleave(num_samples, dim=0)  # (R, D) -> (R * K, D), each z_i K times in a row
    generator = torch.Generator(device=device).manual_seed(seed)
    c, h, w = x_real.shape[1:]
    uniforms = torch.rand(z.shape[0], c, h, w, generator=generator, device=device)  # (R * K, C, H, W)
    images = torch.cat([draw(model, z[start:start + batch_size], uniforms[start:start + batch_size])
                        for start in range(0, z.shape[0], batch_size)])  # (R * K, C, H, W)
    return images.view(x_real.shape[0], num_samples, c, h, w)  # (R * K, C, H, W) -> (R, K, C, H, W)


def _to_rgb(images: np.ndarray) -> np.ndarray:
    """``(..., C, H, W)`` in [0, 1] with C in {1, 3} -> ``(..., H, W, 3)`` (ink = 1 = white)."""
    images = np.clip(images, 0.0, 1.0)
    if images.shape[-3] == 1:
        images = np.repeat(images, 3, axis=-3)  # (..., 1, H, W) -> (..., 3, H, W)
    return np.moveaxis(images, -3, -1)  # (..., 3, H, W) -> (..., H, W, 3)


def grid_image(real: torch.Tensor | np.ndarray, samples: torch.Tensor | np.ndarray, scale: int = 2, gap: int = 2,
               separator: int = 2) -> np.ndarray:
    """The Figure-5 grid as an RGB array ``(height, width, 3)`` in [0, 1].

    Each image is enlarged ``scale`` times (nearest neighbour); cells are ``gap`` pixels
    apart and from the border; a ``separator``-pixel red line, with a gap on each side,
    splits the real column from the K sample columns:
    ``width = (K + 1) * W * scale + (K + 3) * gap + separator``,
    ``height = R * H * scale + (R + 1) * gap``.
    """
    real = np.asarray(real, dtype=np.float32)
    samples = np.asarray(samples, dtype=np.float32)
    if real.ndim != 4 or samples.ndim != 5 or samples.shape[0] != real.shape[0] or samples.shape[2:] != real.shape[1:]:
        raise ValueError(f"expected real (R, C, H, W) and samples (R, K, C, H, W) with equal R, C, H, W; got "
                         f"{real.shape} and {samples.shape}")
    if real.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got C = {real.shape[1]}")
    if min(scale, gap, separator) < 0 or scale < 1:
        raise ValueError(f"scale must be >= 1 and gap, separator >= 0, got {scale}, {gap}, {separator}")
    rows, num_samples, _, h, w = samples.shape
    cell_h, cell_w = h * scale, w * scale
    real_rgb = _to_rgb(real).repeat(scale, axis=1).repeat(scale, axis=2)  # (R, H, W, 3) -> (R, sH, sW, 3)
    samples_rgb = _to_rgb(samples).repeat(scale, axis=2).repeat(scale, axis=3)  # (R, K, sH, sW, 3)
    width = (num_samples + 1) * cell_w + (num_samples + 3) * gap + separator
    height = rows * cell_h + (rows + 1) * gap
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = GAP_COLOR
    line = gap + cell_w + gap  # first column of the separator line
    canvas[:, line:line + separator] = SEPARATOR_COLOR
    for r in range(rows):
        top = gap + r * (cell_h + gap)
        canvas[top:top + cell_h, gap:gap + cell_w] = real_rgb[r]
        for k in range(num_samples):
            left = line + separator + gap + k * (cell_w + gap)
            canvas[top:top + cell_h, left:left + cell_w] = samples_rgb[r, k]
    return canvas


def save_sample_grid(path: str | Path, real: torch.Tensor | np.ndarray, samples: torch.Tensor | np.ndarray,
                     title: str | None = None, *, scale: int = 2, gap: int = 2, separator: int = 2,
                     title_height: int = 24) -> Path:
    """Write the Figure-5 PNG: row r is ``real[r]``, a red separator, then ``samples[r, :K]``.

    Args:
        path: the PNG to (atomically) write; parent folders are created.
        real: real images ``(R, C, H, W)`` in [0, 1].
        samples: samples ``(R, K, C, H, W)`` decoded from each real image's z.
        title: optional caption, drawn in a ``title_height``-pixel white band above the grid.
        scale, gap, separator: layout in pixels, see :func:`grid_image`.

    Returns:
        ``path``. The PNG has exactly the size of :func:`grid_image` (plus the title band).
    """
    if isinstance(real, torch.Tensor):
        real = real.detach().float().cpu().numpy()
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().float().cpu().numpy()
    canvas = grid_image(real, samples, scale=scale, gap=gap, separator=separator)  # (height, width, 3)
    band = title_height if title else 0
    dpi = 100
    figure = Figure(figsize=(canvas.shape[1] / dpi, (canvas.shape[0] + band) / dpi), dpi=dpi, facecolor="white")
    figure.figimage(canvas, xo=0, yo=0, origin="upper")  # pixel-exact, no resampling
    if title:
        figure.text(0.5, 1.0 - 0.5 * band / (canvas.shape[0] + band), title, ha="center", va="center",
                    fontsize=0.5 * band * 72 / dpi)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path
