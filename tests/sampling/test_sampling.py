"""Cached PixelCNN sampling (Ramachandran et al. 2017) against the naive reference, and the
Figure-5 sample grid (paper Sec. 5.3, appendix K.3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from matplotlib import image as mpimg

from cmivae.models.pixelcnn_vae import PixelCNNVAE, PixelCNNVAEConfig
from cmivae.registry import MODELS, build_model
from cmivae.sampling import (
    SAMPLERS,
    decode_samples,
    sample,
    sample_cached,
    sample_cached_with_logits,
    sample_naive,
    save_sample_grid,
)
from tests.helpers import TINY_MODELS, tiny_batch

B = 3


def spread_model(**overrides: object) -> PixelCNNVAE:
    """A small PixelCNN-VAE whose random weights act like trained ones: activations keep their
    scale through the ReLU layers and the logits have std ~3 and depend on the context, so a
    cache that feeds a layer the wrong pixels changes the samples."""
    params: dict[str, object] = dict(channels=8, z_channels=2, z_dim=4)
    params.update(overrides)
    model = PixelCNNVAE(PixelCNNVAEConfig(**params))
    decoder = model.decoder
    with torch.no_grad():
        for layer, norm in zip(decoder.layers, decoder.norms, strict=True):
            fan_in = layer.weight.shape[1] * int(layer.mask.sum())
            layer.weight.normal_(0.0, 1.3 * (2.0 / fan_in) ** 0.5)
            layer.bias.normal_(0.0, 0.1)
            if isinstance(norm, torch.nn.BatchNorm2d):  # residual: running statistics and affine map of a trained net
                norm.running_mean.normal_(0.0, 0.2)
                norm.running_var.uniform_(0.5, 2.0)
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.normal_(0.0, 0.2)
        model.eval()
        decoder.z_to_maps.weight.normal_(0.0, decoder.config.z_dim ** -0.5)
        x = (torch.rand(16, *decoder.config.image_shape) < 0.5).float()
        logits, _ = decoder(x, torch.randn(16, decoder.config.z_dim))
        decoder.out.weight.mul_(3.0 / logits.std())
    return model


CONFIGS = {
    "paper-kernels-28x28": dict(),  # 7x7 x5, 5x5 x4, 3x3 x4, z after layer 6
    "inject-after-1-8x8": dict(image_shape=(1, 8, 8), kernel_sizes=(5, 3, 3), inject_after=1),
    "1x1-layer-6x10-two-channels": dict(image_shape=(2, 6, 10), kernel_sizes=(3, 1, 7, 5), inject_after=2),
    "wide-kernels-small-image": dict(image_shape=(1, 5, 4), kernel_sizes=(7, 9, 3), inject_after=2),
    "residual-paper-kernels-28x28": dict(block="residual"),  # batch norms folded, skips, ELU
    "residual-1x1-layer-6x10-two-channels": dict(image_shape=(2, 6, 10), kernel_sizes=(3, 1, 7, 5), inject_after=2,
                                                 block="residual"),
}


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_cached_equals_naive_pixel_for_pixel(overrides: dict[str, object]) -> None:
    model = spread_model(**overrides)
    c, h, w = model.config.image_shape
    z = torch.randn(B, model.config.z_dim)
    uniforms = torch.rand(B, c * h * w)

    expected = sample_naive(model, z, uniforms)
    cached = sample_cached_with_logits(model, z, uniforms)

    assert cached.images.shape == (B, c, h, w)
    assert torch.equal(cached.images, expected)
    # Every cached logit is the decoder's logit of the final image (teacher forcing), so each
    # layer's cache fed it the right pixels; the images are neither trivial nor context-free.
    logits, _ = model.decoder(expected, z)
    torch.testing.assert_close(cached.logits, logits, rtol=0, atol=1e-4)
    assert 0.05 < expected.mean().item() < 0.95
    blank_logits, _ = model.decoder(torch.zeros_like(expected), z)
    assert (logits - blank_logits).abs().mean() > 0.3


def test_a_residual_decoder_in_training_mode_is_not_sampled() -> None:
    model = spread_model(block="residual").train()  # batch statistics: not the density sampling draws from
    with pytest.raises(ValueError, match=r"call model.eval\(\) before sampling"):
        sample_cached(model, torch.randn(B, model.config.z_dim))


def test_generator_and_uniform_layouts_give_the_same_images() -> None:
    model = spread_model(image_shape=(1, 6, 6), kernel_sizes=(5, 3, 3), inject_after=1)
    z = torch.randn(B, 4)
    by_method = {name: sample(model, z, generator=torch.Generator().manual_seed(7), method=name) for name in SAMPLERS}
    assert torch.equal(by_method["naive"], by_method["cached"])
    uniforms = torch.rand(B, 1, 6, 6, generator=torch.Generator().manual_seed(7))
    assert torch.equal(sample_cached(model, z, uniforms), by_method["cached"])
    assert torch.equal(sample_cached(model, z, uniforms.flatten(1)), by_method["cached"])
    assert torch.equal(sample_cached(model.decoder, z, uniforms), by_method["cached"])
    # batch chunks in worker threads (B = 3 -> chunks of 2 and 1) give the same images
    assert torch.equal(sample_cached(model, z, uniforms, num_workers=2), by_method["cached"])
    assert torch.get_num_threads() == 1  # the conftest setting is restored


def test_bad_inputs_are_named() -> None:
    model = spread_model(image_shape=(1, 4, 4), kernel_sizes=(3, 3), inject_after=1)
    z = torch.randn(B, 4)
    with pytest.raises(ValueError, match="unknown sampling method 'fast'; known methods: cached, naive"):
        sample(model, z, method="fast")
    with pytest.raises(ValueError, match=r"uniforms must have shape \(3, 16\)"):
        sample_cached(model, z, torch.rand(B, 15))
    with pytest.raises(ValueError, match="either uniforms or a generator"):
        sample_cached(model, z, torch.rand(B, 16), generator=torch.Generator())
    with pytest.raises(ValueError, match=r"z must have shape \(B, 4\)"):
        sample_cached(model, torch.randn(B, 5))
    with pytest.raises(ValueError, match="num_workers must be >= 1"):
        sample_cached(model, z, num_workers=0)
    with pytest.raises(TypeError, match="PixelCNNVAE or a PixelCNNDecoder"):
        sample_cached(torch.nn.Linear(4, 4), z)


def test_bf16_cache_samples_binary_images_close_to_fp32() -> None:
    model = spread_model(image_shape=(1, 8, 8), kernel_sizes=(5, 3, 3), inject_after=1)
    z, uniforms = torch.randn(8, 4), torch.rand(8, 64)
    images = sample_cached(model, z, uniforms, compute_dtype=torch.bfloat16)
    assert images.dtype == torch.float32 and set(images.unique().tolist()) <= {0.0, 1.0}
    assert (images == sample_cached(model, z, uniforms)).float().mean() > 0.8


def test_decode_samples_shapes_and_batch_independence() -> None:
    model = spread_model(image_shape=(1, 6, 6), kernel_sizes=(5, 3, 3), inject_after=1)
    x_real = (torch.rand(3, 1, 6, 6) < 0.5).to(torch.uint8)
    samples = decode_samples(model, x_real, num_samples=4, seed=1)
    assert samples.shape == (3, 4, 1, 6, 6)
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(decode_samples(model, x_real, num_samples=4, seed=1, batch_size=5), samples)
    assert not torch.equal(decode_samples(model, x_real, num_samples=4, seed=2), samples)


@pytest.mark.parametrize("title", [None, "CMI-VAE, gamma = 0.3"])
def test_sample_grid_png_has_the_layout_size(tmp_path: Path, title: str | None) -> None:
    rows, num_samples, h, w = 3, 4, 8, 6
    real = torch.rand(rows, 1, h, w)
    samples = (torch.rand(rows, num_samples, 1, h, w) < 0.5).float()
    path = save_sample_grid(tmp_path / "grid" / "samples.png", real, samples, title=title, scale=2, gap=2,
                            separator=3, title_height=20)
    png = mpimg.imread(path)
    width = (num_samples + 1) * w * 2 + (num_samples + 3) * 2 + 3
    height = rows * h * 2 + (rows + 1) * 2 + (20 if title else 0)
    assert png.shape[:2] == (height, width)
    # the separator column right after the real column is red on every grid row
    separator = png[-2 - h * 2:, 2 + w * 2 + 2, :3]
    assert (separator[:, 0] > 0.7).all() and (separator[:, 1] < 0.3).all()
    with pytest.raises(ValueError, match="equal R, C, H, W"):
        save_sample_grid(tmp_path / "bad.png", real, samples[:2])


# Every (model, sampler) pair the registries hold: each sampler is tested on the models that name it.
NAMED = sorted((name, klass.sampler) for name, klass in MODELS.items() if klass.sampler is not None)


def test_every_named_sampler_is_registered_and_declared() -> None:
    from cmivae.models.capabilities import SAMPLE

    assert all(sampler in SAMPLERS for _, sampler in NAMED)
    assert {name for name, _ in NAMED} == {name for name, k in MODELS.items() if SAMPLE in k.capabilities}


@pytest.mark.parametrize(("model_name", "sampler"), NAMED, ids=[f"{m}-{s}" for m, s in NAMED])
def test_the_sampler_a_model_names_draws_its_inputs(model_name: str, sampler: str) -> None:
    """x ~ p(x | z) through decode_samples with the model's own sampler: ``(R, K, *input_shape)``,
    binary, the same images for the same seed and other ones for another seed."""
    torch.manual_seed(0)
    model = build_model(model_name, {k: v for k, v in TINY_MODELS[model_name].items() if k != "name"}).eval()
    real = tiny_batch(model, batch_size=2)
    drawn = decode_samples(model, real, num_samples=3, seed=4)
    assert tuple(drawn.shape) == (2, 3, *model.input_shape)
    assert set(drawn.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(drawn, decode_samples(model, real, num_samples=3, seed=4))
    assert torch.equal(drawn, decode_samples(model, real, num_samples=3, seed=4, method=sampler))
    assert not torch.equal(drawn, decode_samples(model, real, num_samples=3, seed=5))
