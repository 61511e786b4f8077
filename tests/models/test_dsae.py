"""Contract tests of the DSAE full model (paper Eq. 2, appendix G.1) on tiny configs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as dist

from cmivae.models.dsae import DSAE, DSAEConfig
from cmivae.objectives.terms import kl_s, kl_z
from cmivae.registry import OBJECTIVES, build_objective

B, T, F, D, D_S = 4, 8, 6, 4, 3  # T = 8 is the shortest sequence the CMI critic's three stride-2 convs accept


def tiny_config(**overrides: object) -> DSAEConfig:
    params = dict(x_dim=F, num_steps=T, z_dim=D, s_dim=D_S, hidden_dim=8, rnn_dim=8, prior_dim=8,
                  decoder_hidden_dim=8, num_decoder_layers=1)
    params.update(overrides)
    return DSAEConfig(**params)


@pytest.fixture
def model() -> DSAE:
    return DSAE(tiny_config())


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(B, T, F)


def test_output_shapes(model: DSAE, x: torch.Tensor) -> None:
    out = model(x)
    assert out.z.shape == (B, D)
    assert out.s.shape == (B, T, D_S)
    assert out.s_mean.shape == (B, T, D_S)
    for distribution, event in [(out.posterior_z, (D,)), (out.prior_z, (D,)), (out.posterior_s, (T, D_S)),
                                (out.prior_s, (T, D_S)), (out.likelihood, (T, F))]:
        assert isinstance(distribution, dist.Independent)
        assert distribution.batch_shape == (B,)
        assert distribution.event_shape == event
    assert out.likelihood.log_prob(x).shape == (B,)
    assert out.likelihood.mean.shape == (B, T, F)
    assert model.z_dim == D and model.s_shape == (T, D_S) and model.modality == "speech"


def test_accepts_any_sequence_length(model: DSAE) -> None:
    out = model(torch.randn(2, 3, F))
    assert out.s.shape == (2, 3, D_S)
    assert out.likelihood.log_prob(torch.randn(2, 3, F)).shape == (2,)


def test_kl_z_analytic_matches_monte_carlo(model: DSAE, x: torch.Tensor) -> None:
    with torch.no_grad():
        out = model(x)
        z = out.posterior_z.sample((20000,))  # (N, B, D)
        monte_carlo = (out.posterior_z.log_prob(z) - out.prior_z.log_prob(z)).mean(0)  # (B,)
        analytic = kl_z(out)
    assert analytic.shape == (B,)
    torch.testing.assert_close(analytic, monte_carlo, atol=0.05, rtol=0.05)


def test_kl_s_is_the_per_step_gaussian_kl_along_the_sample(model: DSAE, x: torch.Tensor) -> None:
    with torch.no_grad():
        out = model(x)
        q, p = out.posterior_s.base_dist, out.prior_s.base_dist
        per_step = torch.log(p.scale / q.scale) + (q.scale**2 + (q.loc - p.loc) ** 2) / (2 * p.scale**2) - 0.5
        expected = per_step.sum(dim=(1, 2))  # (B, T, D_s) -> (B,)
        # the prior's parameters are those of the LSTM run over the shifted posterior sample
        p_again = model.compute_prior_s(out.s).base_dist
        ks = kl_s(out)
    assert ks.shape == (B,)
    assert torch.isfinite(ks).all() and (ks >= 0).all()
    torch.testing.assert_close(ks, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(p_again.loc, p.loc)


def test_prior_is_causal(model: DSAE) -> None:
    s = torch.randn(2, T, D_S, requires_grad=True)
    prior = model.compute_prior_s(s).base_dist
    for t in range(T):
        (grad,) = torch.autograd.grad(prior.loc[:, t].sum() + prior.scale[:, t].sum(), s, retain_graph=True)
        assert torch.all(grad[:, t:] == 0), f"p(s_{t} | .) depends on s at steps >= {t}"
        if t > 0:
            assert grad[:, :t].abs().sum() > 0, f"p(s_{t} | .) ignores s_<{t}"


def test_encode_decode(model: DSAE, x: torch.Tensor) -> None:
    z, s = model.encode(x)
    assert z.shape == (B, D) and s.shape == (B, T, D_S)
    z_again, s_again = model.encode(x)
    torch.testing.assert_close(z, z_again)  # posterior means: deterministic
    torch.testing.assert_close(s, s_again)
    torch.testing.assert_close(z, model(x).posterior_z.mean)
    converted = model.decode(z.flip(0), s)  # voice conversion: swap z between sequences (appendix J)
    assert converted.shape == (B, T, F) and converted.dtype == torch.float32
    with pytest.raises(ValueError, match="decode expects"):
        model.decode(z, s[:2])


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_objective_runs_forward_and_backward(model: DSAE, x: torch.Tensor, name: str) -> None:
    objective = build_objective(name, model, gamma=0.5)
    out = model(x)
    loss = objective.loss(out, x)
    assert all(math.isfinite(v) for v in loss.as_floats().values()), loss.as_floats()
    loss.total.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.decoder.logvar.grad.abs().sum() > 0  # the decoder variance is learned
    if name in ("mi", "cmi"):
        critic_loss = objective.critic_loss(model(x))
        assert all(math.isfinite(v) for v in critic_loss.as_floats().values())
        critic_loss.total.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in objective.critic.parameters())


@pytest.mark.parametrize("name", ["beta", "mi", "cmi"])
def test_gamma_zero_is_the_elbo(model: DSAE, x: torch.Tensor, name: str) -> None:
    out = model(x)
    elbo = build_objective("elbo", model).loss(out, x)
    loss = build_objective(name, model, gamma=0.0).loss(out, x)
    torch.testing.assert_close(loss.total, elbo.total)
    torch.testing.assert_close(loss.total, elbo.terms["neg_elbo"])


def test_beta_vae_training_reduces_loss() -> None:
    # each sequence is a per-sequence offset (the global factor) plus a shared time pattern and noise
    offsets = 2.0 * torch.randn(32, 1, 1)  # (N, 1, 1)
    pattern = torch.sin(torch.linspace(0, 3, T))[None, :, None]  # (1, T, 1)
    data = offsets + pattern + 0.1 * torch.randn(32, T, F)  # (N, T, F)
    model = DSAE(tiny_config(hidden_dim=16, rnn_dim=16, prior_dim=16, decoder_hidden_dim=16))
    objective = build_objective("beta", model, gamma=0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = objective.loss(model(data), data).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses


def test_bf16_autocast_forward_is_finite(model: DSAE, x: torch.Tensor) -> None:
    objective = build_objective("cmi", model, gamma=0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = objective.loss(out, x)
    for distribution in (out.posterior_z, out.posterior_s, out.prior_s, out.likelihood):
        assert distribution.base_dist.loc.dtype == torch.float32
        assert distribution.base_dist.scale.dtype == torch.float32
    assert torch.isfinite(loss.total)
    loss.total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("overrides, match", [
    ({"z_dim": 0}, "model.z_dim must be a positive integer"),
    ({"hidden_dim": 2.5}, "model.hidden_dim must be a positive integer"),
    ({"num_decoder_layers": -1}, "model.num_decoder_layers"),
    ({"decoder_logvar_init": float("nan")}, "model.decoder_logvar_init"),
])
def test_config_errors_name_the_field(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_config(**overrides)


def test_wrong_input_shape_is_explained(model: DSAE) -> None:
    with pytest.raises(ValueError, match="model.x_dim"):
        model(torch.randn(B, T, F + 1))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cell_loop_matches_the_reference_loop_on_a_seeded_batch(precision: str) -> None:
    """The unbound-gates cell loop (issue 16) computes what the indexed loop did, values and
    gradients: bit-identical in fp32, within 1e-6 under bf16 autocast (same ops, same order)."""
    from benchmarks.reference import ReferenceDynamicEncoder
    from cmivae.models.dsae import DSAEConfig, DynamicEncoder

    torch.manual_seed(0)
    encoder = DynamicEncoder(DSAEConfig(x_dim=12, z_dim=4, s_dim=3, hidden_dim=8, rnn_dim=6))
    reference = ReferenceDynamicEncoder.from_encoder(encoder)
    x, z = torch.randn(5, 7, 12), torch.randn(5, 4)

    def run(module: torch.nn.Module) -> list[torch.Tensor]:
        encoder.zero_grad()
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            outs = module(x, z, sample=True)
        sum(o.float().pow(2).sum() for o in outs).backward()
        return [o.detach().float() for o in outs] + [p.grad.clone() for p in encoder.parameters()]

    for new, old in zip(run(encoder), run(reference), strict=True):
        if precision == "fp32":
            assert torch.equal(new, old)
        else:
            torch.testing.assert_close(new, old, rtol=1e-6, atol=1e-6)
