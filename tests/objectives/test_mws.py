"""The ``mws`` objective: the minibatch-weighted-sampling estimate of I(z; s) against a Monte-Carlo
I(z; s) on a Gaussian toy with a known answer, its bound log M, ~0 for independent z and s, the
deterministic-s kernel against the density form, DSAE's mean over steps, what it reduces to on the
whole PixelCNN map, its weight gamma * alpha, and a tiny run of each model family."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import distributions as dist

from cmivae.models.outputs import VAEOutput
from cmivae.objectives.mws import (
    MinibatchWeightedMI,
    gaussian_log_density_matrix,
    isotropic_log_kernel_matrix,
    mws_mutual_information,
)
from cmivae.registry import build_model, build_objective
from tests.helpers import TINY_PIXELCNN, tiny_config, tiny_images

D = 2
A, B, SZ, SS = 1.0, 1.0, 0.6, 0.8  # x ~ N(0, I_D), z | x ~ N(A x, SZ^2 I), s | x ~ N(B x, SS^2 I)


def closed_form_mi() -> float:
    """I(z; s) = -D/2 log(1 - rho^2), rho the correlation of z_d and s_d."""
    rho2 = (A * B) ** 2 / ((A * A + SZ * SZ) * (B * B + SS * SS))
    return -0.5 * D * math.log(1 - rho2)


def _toy(m: int, noise_z: float = SZ, noise_s: float = SS, coupled: bool = True):
    x = torch.randn(m, D)
    x_s = x if coupled else torch.randn(m, D)  # uncoupled: s depends on another x
    z, s = A * x + noise_z * torch.randn(m, D), B * x_s + noise_s * torch.randn(m, D)
    log_qz = gaussian_log_density_matrix(z, A * x, torch.full_like(x, noise_z))  # (M, M)
    log_qs = gaussian_log_density_matrix(s, B * x_s, torch.full_like(x, noise_s))  # (M, M)
    return log_qz, log_qs


def monte_carlo_mi(n: int = 200_000) -> float:
    """E[log p(z, s) - log p(z) - log p(s)] over samples of the toy's joint (exact densities)."""
    x = torch.randn(n, D)
    z, s = A * x + SZ * torch.randn(n, D), B * x + SS * torch.randn(n, D)
    var_z, var_s = A * A + SZ * SZ, B * B + SS * SS
    joint = dist.MultivariateNormal(torch.zeros(2), torch.tensor([[var_z, A * B], [A * B, var_s]]))
    log_ratio = joint.log_prob(torch.stack([z, s], dim=-1)) - dist.Normal(0.0, math.sqrt(var_z)).log_prob(z) \
        - dist.Normal(0.0, math.sqrt(var_s)).log_prob(s)  # (n, D)
    return float(log_ratio.sum(dim=-1).mean())


def _mean_mws(batches: int = 10, m: int = 1024, **toy) -> float:
    return sum(float(mws_mutual_information(*_toy(m, **toy)).mean()) for _ in range(batches)) / batches


def test_mws_matches_the_monte_carlo_mutual_information_of_a_gaussian_toy() -> None:
    torch.manual_seed(0)
    mc = monte_carlo_mi()
    assert mc == pytest.approx(closed_form_mi(), abs=0.01)  # 0.5946 vs 0.5948
    assert _mean_mws() == pytest.approx(mc, abs=0.05)  # measured 0.603 (M = 1024, 10 batches)


def test_mws_is_about_zero_for_independent_z_and_s_and_at_most_log_m() -> None:
    torch.manual_seed(0)
    # the self term j = i biases the plug-in estimate up by O(1/M): measured 0.023 at M = 512, 0.015 at 1024
    assert abs(_mean_mws(batches=5, m=1024, coupled=False)) < 0.03
    m = 64  # z and s both pin x down: the true I is large, the minibatch estimate saturates at log M
    saturated = mws_mutual_information(*_toy(m, noise_z=1e-3, noise_s=1e-3))
    assert bool((saturated <= math.log(m) + 1e-4).all())
    assert float(saturated.mean()) == pytest.approx(math.log(m), abs=0.05)


def test_the_kernel_of_a_deterministic_s_is_the_fixed_width_density() -> None:
    torch.manual_seed(0)
    z_mean, s = torch.randn(9, 3), torch.randn(9, 5)
    log_qz = gaussian_log_density_matrix(z_mean + 0.5 * torch.randn(9, 3), z_mean, torch.full((9, 3), 0.5))
    width = torch.tensor(0.7)
    density = gaussian_log_density_matrix(s, s, torch.full((9, 5), 0.7))
    assert torch.allclose(mws_mutual_information(log_qz, isotropic_log_kernel_matrix(s, width)),
                          mws_mutual_information(log_qz, density), atol=1e-5)


def _gaussian(mean: torch.Tensor, std: float, event_dims: int) -> dist.Independent:
    return dist.Independent(dist.Normal(mean, torch.full_like(mean, std)), event_dims)


def test_dsae_form_is_the_mean_over_steps_of_each_steps_estimate() -> None:
    torch.manual_seed(0)
    m, t = 256, 2
    x = torch.randn(m, D)
    z = A * x + SZ * torch.randn(m, D)
    s_mean = torch.stack([B * x, torch.randn(m, D)], dim=1)  # (M, T, D): step 0 shares x with z, step 1 not
    s = s_mean + SS * torch.randn(m, t, D)
    out = VAEOutput(likelihood=_gaussian(torch.zeros(m, 1), 1.0, 1), posterior_z=_gaussian(A * x, SZ, 1),
                    prior_z=_gaussian(torch.zeros(m, D), 1.0, 1), z=z, s=s, posterior_s=_gaussian(s_mean, SS, 2))
    estimate = MinibatchWeightedMI((t, D)).estimate(out)  # (M,)
    log_qz = gaussian_log_density_matrix(z, A * x, torch.full_like(x, SZ))
    steps = [mws_mutual_information(log_qz, gaussian_log_density_matrix(s[:, k], s_mean[:, k],
                                                                         torch.full_like(x, SS))) for k in range(t)]
    assert torch.allclose(estimate, 0.5 * (steps[0] + steps[1]), atol=1e-5)
    assert float(steps[0].mean()) > 0.3 > abs(float(steps[1].mean()))


def test_on_the_whole_pixelcnn_map_mws_is_the_minibatch_rate_estimate() -> None:
    """s = the whole map pins x down, so I_MWS(z; s) is the minibatch estimate of I(x; z) (mws docstring)."""
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", {k: v for k, v in TINY_PIXELCNN.items() if k != "name"})
    objective = build_objective("mws", model, gamma=0.5)
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    with torch.no_grad():
        out = model(x)
        mean, std = out.posterior_z.base_dist.loc, out.posterior_z.base_dist.scale
        log_qz = gaussian_log_density_matrix(out.z, mean, std)  # (B, B)
        rate = log_qz.diagonal() - torch.logsumexp(log_qz, dim=1) + math.log(16)
        assert torch.allclose(objective.estimate(out), rate, atol=1e-4)


@pytest.mark.parametrize("critic_input", ["map", "position", "patch"])
def test_term_is_gamma_alpha_times_the_estimate_and_there_is_no_critic(critic_input: str) -> None:
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", {k: v for k, v in TINY_PIXELCNN.items() if k != "name"})
    objective = build_objective("mws", model, gamma=0.4, alpha=2.0, critic_input=critic_input)
    assert objective.critic is None
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    terms = objective.loss(model(x), x).terms
    assert float(terms["mws_penalty"]) == pytest.approx(0.4 * 2.0 * float(terms["mws_mi"]), rel=1e-5, abs=1e-7)
    assert float(terms["mws_mi"]) <= math.log(6) + 1e-4


def test_a_tiny_mws_run_trains_and_logs_the_estimate(tmp_path) -> None:
    """(DSAE's train step with mws is in the contract suite, tests/contracts.)"""
    from cmivae.training.loop import fit

    fit(tiny_config("mws", gamma=0.5), tmp_path / "run", progress=False, data=tiny_images())
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records
    for record in records:
        assert math.isfinite(record["train"]["mws_mi"]) and "mws_mi" in record["val"]
        assert not any(key.startswith("critic_acc") for key in record["train"])
