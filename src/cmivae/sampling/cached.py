"""Cached sampling from the PixelCNN decoder in about the cost of one forward pass.

Ramachandran et al. (2017), "Fast generation for convolutional autoregressive models",
observe that naive sampling (:mod:`cmivae.sampling.naive`) recomputes, at every one of the
``H * W`` steps, activations that the new pixel cannot change. Here each step computes only
what it must, and the output equals naive sampling for the same uniforms (up to fp32
rounding of the logits, see below).

The decoder is a stack of masked convolutions (paper appendix B; :class:`MaskedConv2d`
stores the top ``h + 1 = k // 2 + 1`` kernel rows). Layer l's output at pixel (i, j) is

    bias + sum_{r < h} W_r * in[i - h + r, j - h : j + h]        (rows above: "above" term)
         + W_h[:taps] * in[i, j - h : j - h + taps]              (current row: "row" term)

with ``taps = h + 1`` (mask B) or ``h`` (mask A, first layer). Every activation at row i
depends on pixels of rows <= i only, so once row i - 1 is sampled all rows above are
final, and this sampler

1. once per row and layer, computes the above term for all W columns with one batched
   convolution over the layer's last h completed input rows (kept in a ring of row
   buffers; zeros above the image are the top padding), and
2. once per pixel and layer, adds the row term: a ``(B, taps * I) @ (taps * I, O)`` matmul
   over a window of the current input row, whose last column is the previous layer's
   output at (i, j) computed just before.

The z feature maps (appendix B: z linearly mapped to ``(4, H, W)`` and concatenated to the
input of every layer from ``inject_after`` on) are computed once and written into each
row buffer when its row starts. The work is that of one forward pass (slightly less: the
masked taps are skipped), in ``H`` convolutions and ``H * W`` small matmuls per layer.
Because the per-pixel ops are small, cores are used by sampling batch chunks in parallel
threads with one intra-op thread each (``num_workers``) rather than by intra-op threads.

A ``residual`` decoder (:data:`cmivae.models.pixelcnn_vae.BLOCKS`) is sampled in eval mode: its
batch norms are then per-channel affine maps of the running statistics, folded here into each
layer's weights and bias, and the skip adds the previous layer's output at (i, j), computed just
before, ahead of the ELU (:meth:`PixelCNNDecoder.activate`).

Exactness: the cached logits equal the decoder's logits of the final image (teacher
forcing) up to fp32 summation order (~1e-6); an image can only differ from naive sampling
if a uniform falls within that distance of its pixel's probability.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cmivae.models.pixelcnn_vae import PixelCNNDecoder
from cmivae.sampling.naive import draw_uniforms, pixelcnn_decoder


class CachedSamples(NamedTuple):
    """Images ``(B, C, H, W)`` in {0, 1} and the fp32 logits ``(B, C, H, W)`` they were drawn from."""

    images: torch.Tensor
    logits: torch.Tensor


@dataclass
class _LayerCache:
    """One masked layer's weights split into the above/row parts, and its input row buffers."""

    half: int  # h = k // 2: kernel rows above the current one, and columns either side
    taps: int  # current-row taps: h + 1 (mask B) or h (mask A)
    weight_above: torch.Tensor | None  # (O, I, h, k), channels_last; None when h = 0
    weight_row: torch.Tensor  # (taps * I, O)
    bias: torch.Tensor  # (O,)
    history: list[torch.Tensor]  # h completed input rows, oldest first, each (B, W + 2h, I)
    current: torch.Tensor  # the input row being sampled, (B, W + 2h, I)
    above: torch.Tensor | None = None  # bias + above term of the current row, (B, W, O)


def _folded(decoder: PixelCNNDecoder, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer ``index``'s masked weight ``(O, I, h + 1, k)`` and bias ``(O,)`` with its eval-mode
    batch norm folded in (``residual``): ``BN(conv(x)) = conv'(x)`` with ``W' = W * a``,
    ``b' = (b - mean) * a + beta``, ``a = gamma / sqrt(var + eps)``; unchanged for ``plain``."""
    layer, norm = decoder.layers[index], decoder.norms[index]
    weight, bias = layer.masked_weight(), layer.bias
    if not isinstance(norm, nn.BatchNorm2d):
        return weight, bias
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (O,)
    return weight * scale[:, None, None, None], (bias - norm.running_mean) * scale + norm.bias


def _layer_caches(decoder: PixelCNNDecoder, batch: int, dtype: torch.dtype,
                  device: torch.device) -> list[_LayerCache]:
    width = decoder.config.image_shape[2]
    caches = []
    for index, layer in enumerate(decoder.layers):
        weight, bias = (t.to(dtype) for t in _folded(decoder, index))  # (O, I, h + 1, k), (O,)
        out_ch, in_ch, rows, _ = weight.shape
        half = rows - 1
        taps = half + 1 if layer.mask_type == "B" else half
        weight_above = weight[:, :, :half].contiguous(memory_format=torch.channels_last) if half else None
        # (O, I, taps) -> (taps, I, O) -> (taps * I, O): matches a (B, taps, I) window flattened to (B, taps * I)
        weight_row = weight[:, :, half, :taps].permute(2, 1, 0).reshape(taps * in_ch, out_ch).contiguous()
        row_shape = (batch, width + 2 * half, in_ch)
        caches.append(_LayerCache(
            half=half, taps=taps, weight_above=weight_above, weight_row=weight_row, bias=bias,
            history=[torch.zeros(row_shape, dtype=dtype, device=device) for _ in range(half)],
            current=torch.zeros(row_shape, dtype=dtype, device=device)))
    return caches


def _above_term(cache: _LayerCache, batch: int, width: int) -> torch.Tensor:
    """bias + the contribution of the h completed input rows above, ``(B, W, O)``."""
    if cache.weight_above is None:
        return cache.bias.expand(batch, width, cache.bias.shape[0])  # (O,) -> (B, W, O)
    rows = torch.stack(cache.history, dim=1)  # h x (B, W + 2h, I) -> (B, h, W + 2h, I)
    # (B, h, W + 2h, I) -> (B, I, h, W + 2h) channels_last view; the conv gives (B, O, 1, W), stored (B, 1, W, O)
    out = F.conv2d(rows.permute(0, 3, 1, 2), cache.weight_above, cache.bias)
    return out.permute(0, 2, 3, 1)[:, 0]  # (B, O, 1, W) -> (B, W, O)


@torch.no_grad()
def _sample_chunk(decoder: PixelCNNDecoder, z: torch.Tensor, u: torch.Tensor, dtype: torch.dtype,
                  single_threaded: bool = False) -> CachedSamples:
    """The cached sampler on one batch ``z`` ``(B, D)``, ``u`` ``(B, C, H, W)``."""
    if single_threaded:  # in a worker thread: its own OpenMP/MKL settings, one thread
        torch.set_num_threads(1)
    config = decoder.config
    _, height, width = config.image_shape
    batch, device = z.shape[0], z.device
    caches = _layer_caches(decoder, batch, dtype, device)
    z_maps = decoder.z_maps(z.to(decoder.out.weight.dtype)).to(dtype)  # (B, 4, H, W), computed once
    z_maps = z_maps.permute(0, 2, 3, 1)  # (B, 4, H, W) -> (B, H, W, 4)
    channels = config.channels
    out_weight = decoder.out.weight.to(dtype).flatten(1).t()  # (C, 64, 1, 1) -> (C, 64) -> (64, C)
    out_bias = decoder.out.bias.to(dtype)
    images = torch.zeros(u.shape, dtype=torch.float32, device=device)  # (B, C, H, W)
    logits = torch.zeros(u.shape, dtype=torch.float32, device=device)  # (B, C, H, W)
    first = caches[0]

    for i in range(height):
        for index, cache in enumerate(caches):
            if index >= config.inject_after:  # z channels follow the features: torch.cat([h, maps], dim=1)
                cache.current[:, cache.half:cache.half + width, channels:] = z_maps[:, i]  # (B, W, 4)
            cache.above = _above_term(cache, batch, width)  # (B, W, O)
        for j in range(width):
            h = None
            for index, cache in enumerate(caches):
                above = cache.above[:, j]  # (B, O)
                if cache.taps:
                    window = cache.current[:, j:j + cache.taps].reshape(batch, -1)  # (B, taps, I) -> (B, taps * I)
                    conv = torch.addmm(above, window, cache.weight_row)  # (B, O)
                else:  # a 1x1 mask-A layer sees no pixel of the current row
                    conv = above
                h = decoder.combine(index, conv, h)  # (B, O): the block's rule, BN folded into the weights
                if index + 1 < len(caches):
                    following = caches[index + 1]
                    following.current[:, following.half + j, :channels] = h
            logit = torch.addmm(out_bias, h, out_weight).float()  # (B, 64) @ (64, C) -> (B, C)
            pixel = (u[:, :, i, j] < torch.sigmoid(logit)).float()  # (B, C)
            logits[:, :, i, j] = logit
            images[:, :, i, j] = pixel
            first.current[:, first.half + j] = pixel.to(dtype)
        # Row i is final in every layer: it becomes the newest history row; the oldest row buffer is recycled.
        for cache in caches:
            cache.history.append(cache.current)
            cache.current = cache.history.pop(0).zero_()
    return CachedSamples(images=images, logits=logits)


def sample_cached_with_logits(model: nn.Module, z: torch.Tensor, uniforms: torch.Tensor | None = None, *,
                              generator: torch.Generator | None = None, compute_dtype: torch.dtype | None = None,
                              num_workers: int | None = None) -> CachedSamples:
    """:func:`sample_cached`, also returning the logits of every sampled pixel (teacher-forcing check)."""
    decoder = pixelcnn_decoder(model)
    if decoder.residual and decoder.training:
        raise ValueError("a residual PixelCNN decoder samples in eval mode (its batch norms use the running "
                         "statistics there); call model.eval() before sampling")
    u = draw_uniforms(decoder, z, uniforms, generator)  # (B, C, H, W)
    dtype = compute_dtype or decoder.out.weight.dtype
    if num_workers is None:  # CPU: batch chunks on parallel threads; CUDA: one stream of kernels, one chunk
        num_workers = 1 if z.device.type == "cuda" else torch.get_num_threads()
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    chunks = list(zip(z.chunk(num_workers), u.chunk(num_workers), strict=True))  # B / num_workers latents each
    if len(chunks) == 1:
        return _sample_chunk(decoder, z, u, dtype)
    # Each step is a few small ops per layer; with several intra-op threads every op ends in a
    # barrier, which on a loaded machine waits for a descheduled thread (measured 12x slower on
    # 2 shared cores). Workers on batch chunks, one thread each, need no barrier.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(len(chunks)) as pool:
            parts = list(pool.map(lambda chunk: _sample_chunk(decoder, *chunk, dtype, single_threaded=True), chunks))
    finally:
        torch.set_num_threads(previous)
    return CachedSamples(images=torch.cat([part.images for part in parts]),  # (B, C, H, W)
                         logits=torch.cat([part.logits for part in parts]))


def sample_cached(model: nn.Module, z: torch.Tensor, uniforms: torch.Tensor | None = None, *,
                  generator: torch.Generator | None = None, compute_dtype: torch.dtype | None = None,
                  num_workers: int | None = None) -> torch.Tensor:
    """Sample ``x ~ p(x | z)``, the images :func:`~cmivae.sampling.naive.sample_naive` gives, fast.

    Args:
        model: a ``PixelCNNVAE`` or its ``PixelCNNDecoder``.
        z: global latents ``(B, D)``; use a large B (e.g. 1000): the per-pixel work is batched.
        uniforms: ``(B, C * H * W)`` or ``(B, C, H, W)`` draws in [0, 1);
            see :func:`~cmivae.sampling.naive.draw_uniforms`.
        generator: draws the uniforms when they are not given.
        compute_dtype: dtype of the cached activations and weights (default: the model's);
            ``torch.bfloat16`` is faster on CPUs with bf16 units but no longer matches fp32
            naive sampling pixel for pixel.
        num_workers: threads sampling batch chunks in parallel, each with one torch
            intra-op thread (default ``torch.get_num_threads()`` on the CPU, 1 on CUDA; the
            thread count is restored afterwards). 1 runs in the calling thread with its
            thread settings.

    Returns:
        Binary images ``(B, C, H, W)`` (float32, values in {0, 1}).
    """
    return sample_cached_with_logits(model, z, uniforms, generator=generator, compute_dtype=compute_dtype,
                                     num_workers=num_workers).images
