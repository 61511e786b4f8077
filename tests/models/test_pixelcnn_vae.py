"""PixelCNN-VAE: causality of the masked stack, the cropped kernel, shapes, the KL."""

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as dist

from cmivae.models.layers import MaskedConv2d, causal_mask
from cmivae.objectives.terms import kl_z
from cmivae.registry import build_model

SMALL = {"image_shape": (1, 8, 8), "z_dim": 4, "kernel_sizes": (7, 5, 5, 3), "channels": 8, "inject_after": 2,
         "encoder_channels": (4, 8), "encoder_hidden": 16}


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("k", [3, 5, 7])
def test_cropped_kernel_equals_full_masked_kernel(mask_type: str, k: int) -> None:
    conv = MaskedConv2d(3, 5, k, mask_type)
    x = torch.randn(2, 3, 9, 9)
    full = F.conv2d(x, conv.full_kernel(), conv.bias, padding=k // 2)
    assert torch.allclose(conv(x), full, atol=1e-5)
    assert torch.equal(conv.full_kernel()[:, :, k // 2 + 1:], torch.zeros_like(conv.full_kernel()[:, :, k // 2 + 1:]))


def test_mask_a_excludes_centre_and_b_includes_it() -> None:
    a, b = causal_mask(5, "A", rows=5), causal_mask(5, "B", rows=5)
    assert a[2, 2] == 0 and b[2, 2] == 1
    assert a[:2].all() and not a[3:].any() and a[2, :2].all() and not a[2, 3:].any()


@pytest.mark.parametrize("params", [SMALL, {**SMALL, "inject_after": 1}, {"channels": 8, "encoder_hidden": 16},
                                    {**SMALL, "block": "residual"}],
                         ids=["small", "inject-1", "paper-kernels", "residual"])
def test_decoder_is_causal(params: dict) -> None:
    """The logit at pixel t has zero gradient with respect to pixels >= t (a residual decoder in
    eval mode: its batch norms then use the running statistics, not the batch's)."""
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", params).double().eval()
    _, h, w = model.config.image_shape
    x = (torch.rand(1, 1, h, w) > 0.5).double().requires_grad_()
    z = torch.randn(1, model.z_dim, dtype=torch.double)
    logits, _ = model.decoder(x, z)
    flat_logits = logits.view(-1)  # (1, 1, H, W) -> (H*W,)
    sees_past = 0
    for t in [0, 1, w - 1, w, h * w // 2, h * w - 1]:
        grad = torch.autograd.grad(flat_logits[t], x, retain_graph=True)[0].view(-1)  # (H*W,)
        assert torch.all(grad[t:] == 0), f"pixel {t} sees pixels >= itself"
        sees_past += int(grad[:t].abs().sum() > 0)
    assert sees_past >= 3, "the decoder should depend on past pixels"


def test_s_is_causal_features_of_the_injection_layer() -> None:
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", SMALL).double()
    x = (torch.rand(2, 1, 8, 8) > 0.5).double()
    out = model(x)
    assert out.s.shape == (2, *model.s_shape) == (2, 8, 8, 8)
    # s does not depend on z (it is computed before the injection).
    _, s_other = model.decoder(x, torch.randn(2, model.z_dim, dtype=torch.double))
    assert torch.equal(out.s, s_other)


def test_output_contract() -> None:
    model = build_model("pixelcnn_vae", SMALL)
    x = (torch.rand(3, 1, 8, 8) > 0.5).float()
    out = model(x)
    assert out.likelihood.log_prob(x).shape == (3,)
    assert out.posterior_z.batch_shape == (3,) and out.posterior_z.event_shape == (4,)
    assert out.z.shape == (3, 4)
    assert out.likelihood.log_prob(x).max() <= 0


def test_analytic_kl_matches_monte_carlo() -> None:
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", SMALL)
    x = (torch.rand(4, 1, 8, 8) > 0.5).float()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.mul_(3.0)  # a posterior far from the prior
        out = model(x)
        q, p = out.posterior_z, out.prior_z
        samples = q.sample((20000,))  # (S, B, D)
        mc = (q.log_prob(samples) - p.log_prob(samples)).mean(0)  # (B,)
    analytic = kl_z(out)
    assert torch.allclose(analytic, mc, rtol=0.05, atol=0.05), (analytic, mc)
    assert torch.allclose(analytic, dist.kl_divergence(q, p))


def test_bf16_autocast_forward_is_close_to_fp32() -> None:
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", SMALL)
    x = (torch.rand(4, 1, 8, 8) > 0.5).float()
    torch.manual_seed(1)
    ref = model(x).likelihood.log_prob(x)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = model(x).likelihood.log_prob(x)
    assert fast.dtype == torch.float32
    assert torch.allclose(ref, fast, rtol=0.02, atol=0.5)


def test_residual_block_is_batch_norm_skip_and_elu() -> None:
    """``block: residual``: h_1 = ELU(BN(conv_1 x)), h_l = ELU(BN(conv_l in_l) + h_{l-1}); training
    updates the batch norms' running statistics; ``plain`` has no batch norm and no new parameter."""
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", {**SMALL, "block": "residual"}).double()
    decoder = model.decoder
    x = (torch.rand(4, 1, 8, 8) > 0.5).double()
    z = torch.randn(4, model.z_dim, dtype=torch.double)
    logits, s = decoder(x, z)
    h = F.elu(decoder.norms[0](decoder.layers[0](x)))
    for i in range(1, len(decoder.layers)):
        inputs = torch.cat([h, decoder.z_maps(z)], dim=1) if i >= model.config.inject_after else h
        h = F.elu(decoder.norms[i](decoder.layers[i](inputs)) + h)
        if i + 1 == model.config.inject_after:
            torch.testing.assert_close(s, h)
    torch.testing.assert_close(logits, decoder.out(h))
    assert all(float(norm.running_mean.abs().sum()) > 0 for norm in decoder.norms)  # train mode moved them
    plain = build_model("pixelcnn_vae", SMALL)
    assert all(isinstance(norm, torch.nn.Identity) for norm in plain.decoder.norms)
    extra = {name for name, _ in model.named_parameters()} - {name for name, _ in plain.named_parameters()}
    assert extra and all(name.startswith("decoder.norms.") for name in extra)


def test_invalid_configs_are_rejected_with_a_reason() -> None:
    from cmivae.infra.errors import ConfigError

    with pytest.raises(ConfigError, match="inject_after"):
        build_model("pixelcnn_vae", {"kernel_sizes": (7, 5), "inject_after": 2})
    with pytest.raises(ConfigError, match="odd"):
        build_model("pixelcnn_vae", {"kernel_sizes": (4, 5)})
    with pytest.raises(ConfigError, match="first layer"):
        build_model("pixelcnn_vae", {"kernel_sizes": (1, 3, 3)})
    with pytest.raises(ConfigError, match="known keys"):
        build_model("pixelcnn_vae", {"zdim": 3})
    with pytest.raises(ConfigError, match="known models"):
        build_model("pixelcnn", {})
    with pytest.raises(ConfigError, match="model.block must be plain or residual, got 'gated'"):
        build_model("pixelcnn_vae", {"block": "gated"})


def test_encode_gives_z_and_the_local_features_s_of_forward() -> None:
    model = build_model("pixelcnn_vae", SMALL)
    x = (torch.rand(3, 1, 8, 8) < 0.5).float()
    with torch.no_grad():
        means, out = model.encode(x), model(x)
    assert torch.equal(means.z, model.encode_z(x)) and means.z.shape == (3, 4)
    assert torch.allclose(means.s, out.s)  # s = h_inject_after does not depend on z
