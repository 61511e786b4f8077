"""The kernel objective (``mmd``): the estimator against a brute-force sum, ~0 where q(z,s) =
p(z)q(s) and clearly positive where z depends on s or q(z) != p(z); its weight gamma * alpha *
kernel_scale; no critic, so no alternation; a tiny run trains and logs mmd2. (critic_path
isolation for mmd is in test_critic_paths.py.)"""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from cmivae.objectives.kernel_mmd import mmd_squared, pool_s
from cmivae.registry import build_model, build_objective
from tests.helpers import TINY_PIXELCNN, tiny_config, tiny_images


def _brute_force(z: torch.Tensor, z_prior: torch.Tensor, u: torch.Tensor) -> float:
    b = z.shape[0]
    both = torch.cat([z, z_prior])
    h_z = torch.tensor([float(((a - c) ** 2).sum()) for a, c in itertools.permutations(both, 2)]).median()
    h_u = torch.tensor([float(((a - c) ** 2).sum()) for a, c in itertools.permutations(u, 2)]).median()

    def k(z1, u1, z2, u2) -> float:
        return math.exp(-float(((z1 - z2) ** 2).sum()) / h_z) * math.exp(-float(((u1 - u2) ** 2).sum()) / h_u)

    total = 0.0
    for i, j in itertools.permutations(range(b), 2):
        total += k(z[i], u[i], z[j], u[j]) + k(z_prior[i], u[i], z_prior[j], u[j]) \
            - k(z[i], u[i], z_prior[j], u[j]) - k(z_prior[i], u[i], z[j], u[j])
    return total / (b * (b - 1))


def test_estimator_is_the_u_statistic_of_the_docstring() -> None:
    torch.manual_seed(0)
    z, z_prior, u = torch.randn(7, 3) + 0.5, torch.randn(7, 3), torch.randn(7, 2)
    assert float(mmd_squared(z, z_prior, u)) == pytest.approx(_brute_force(z, z_prior, u), rel=1e-5)


def _mean_mmd(dependent: bool, shifted: bool, batches: int = 40, b: int = 128) -> float:
    torch.manual_seed(0)
    values = []
    for _ in range(batches):
        u = torch.randn(b, 2)
        z = 0.9 * u + 0.3 * torch.randn(b, 2) if dependent else torch.randn(b, 2)
        z = z + 1.0 if shifted else z
        values.append(float(mmd_squared(z, torch.randn(b, 2), u)))
    return sum(values) / len(values)


def test_zero_only_when_z_is_independent_of_s_and_follows_the_prior() -> None:
    null = _mean_mmd(dependent=False, shifted=False)
    assert abs(null) < 0.01  # unbiased: ~0 on average
    assert _mean_mmd(dependent=True, shifted=False) > 0.05  # I(z; s) > 0
    assert _mean_mmd(dependent=False, shifted=True) > 0.05  # D_KL(q(z) || p(z)) > 0


def test_pool_s_shapes() -> None:
    assert pool_s(torch.ones(4, 3, 5, 5)).shape == (4, 3)
    assert pool_s(torch.ones(4, 6, 2)).shape == (4, 2)
    assert pool_s(torch.ones(4, 2)).shape == (4, 2)


def test_term_is_gamma_alpha_scale_times_mmd2_and_there_is_no_critic() -> None:
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", {k: v for k, v in TINY_PIXELCNN.items() if k != "name"})
    objective = build_objective("mmd", model, gamma=0.4, alpha=2.0, kernel_scale=10.0)
    assert objective.critic is None
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    terms = objective.loss(model(x), x).terms
    assert float(terms["mmd_penalty"]) == pytest.approx(0.4 * 2.0 * 10.0 * float(terms["mmd2"]), rel=1e-5)


def test_a_tiny_mmd_run_trains_without_a_critic_step(tmp_path) -> None:
    from cmivae.training.loop import fit

    fit(tiny_config("mmd", gamma=0.5), tmp_path / "run", progress=False, data=tiny_images())
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        assert "mmd2" in record["train"] and "mmd2" in record["val"]
        assert not any(key.startswith("critic_acc") for key in record["train"])
