"""objective.alpha end to end: from the config through build_trainer to the weight of the
model-side term (gamma * alpha for cmi, gamma * alpha * kernel_scale for mmd), and into the run id."""

from __future__ import annotations

import pytest
import torch

from cmivae.config import load_config
from cmivae.runs.legacy import run_id
from cmivae.training.loop import build_trainer
from tests.helpers import TINY_PIXELCNN


def _config(name: str, alpha: float):
    raw = {"data": {"name": "fashion-mnist"}, "model": dict(TINY_PIXELCNN),
           "objective": {"name": name, "gamma": 0.5, "alpha": alpha, "critic_hidden_dim": 8, "kernel_scale": 10.0},
           "train": {"precision": "fp32", "device": "cpu"}}
    return load_config(raw)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_alpha_reaches_the_cmi_penalty(alpha: float) -> None:
    torch.manual_seed(0)
    trainer = build_trainer(_config("cmi", alpha))
    assert trainer.objective.alpha == alpha
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    out = trainer.model(x)
    trainer.objective.eval()
    logit = trainer.objective.critic(out.z, out.s).detach()
    terms = trainer.objective.loss(out, x).terms
    assert float(terms["cmi_penalty"]) == pytest.approx(0.5 * alpha * float(logit.mean()), rel=1e-5)


def test_alpha_reaches_the_mmd_term_and_changes_the_run_id() -> None:
    torch.manual_seed(0)
    trainer = build_trainer(_config("mmd", 2.0))
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    terms = trainer.objective.loss(trainer.model(x), x).terms
    assert float(terms["mmd_penalty"]) == pytest.approx(0.5 * 2.0 * 10.0 * float(terms["mmd2"]), rel=1e-5)
    assert run_id(_config("cmi", 2.0)) != run_id(_config("cmi", 1.0))
