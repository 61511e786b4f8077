"""Adding a regularizer is one class plus one registry entry: a toy one, defined here and
registered in ``cmivae.registry.OBJECTIVES``, passes every contract check and trains
through the command line, with no other edit anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from cmivae import registry
from cmivae.cli import main
from cmivae.models.outputs import VAEOutput
from cmivae.objectives.base import CriticParams, Objective
from tests.contracts import checks


# ---- the one class (with its config dataclass) --------------------------------------------
@dataclass
class ToyConfig(CriticParams):
    """A toy adversarial regularizer: gamma times a critic's score of z, plus an L2 pull."""

    weight: float = 0.1


class ToyRegularizer(Objective):
    config_class = ToyConfig
    label = "Toy-VAE"  # what reports call it (written into config.json at train time)

    @classmethod
    def from_config(cls, config: Any, model: nn.Module) -> ToyRegularizer:
        return cls(model.z_dim, config.gamma, config.weight, config.critic_hidden_dim)

    def __init__(self, z_dim: int, gamma: float, weight: float, hidden_dim: int) -> None:
        super().__init__(gamma=gamma)
        self.weight = weight
        self.critic = nn.Sequential(nn.Linear(z_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    def regularizer_terms(self, out: VAEOutput, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"toy_critic_score": self.gamma * self.critic(out.z).squeeze(-1),  # each term named for what it is
                "l2_pull": self.weight * out.z.pow(2).sum(-1)}

    def critic_loss(self, out: VAEOutput, x: torch.Tensor | None = None) -> Any:
        from cmivae.objectives.base import binary_critic_loss

        real = self.critic(out.z.detach()).squeeze(-1)
        fake = self.critic(out.prior_z.sample()).squeeze(-1)
        return binary_critic_loss(real, fake)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(registry.OBJECTIVES, "toy", ToyRegularizer)  # ---- the one registry entry
    yield "toy"


@pytest.mark.parametrize("model", sorted(registry.MODELS))
def test_toy_regularizer_passes_every_contract_check(toy_registered: str, model: str) -> None:
    checks.check_forward_loss_backward(model, toy_registered)
    checks.check_resolved_config_rebuilds_the_run(model, toy_registered)
    checks.check_gradient_isolation(model, toy_registered)
    checks.check_train_step(model, toy_registered)


def test_toy_regularizer_trains_from_the_command_line(toy_registered: str, tmp_path, monkeypatch, capsys) -> None:
    from cmivae.training import loop
    from tests.helpers import tiny_images, tiny_raw

    real_fit = loop.fit
    monkeypatch.setattr(loop, "fit", lambda config, out, **kw: real_fit(config, out, **kw, data=tiny_images()))
    config = tmp_path / "toy.yaml"
    raw = tiny_raw("toy", gamma=0.3)
    raw["objective"]["weight"] = 0.05
    config.write_text(json.dumps(raw))
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--no-progress"]) == 0, capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())
    assert saved["resolved"]["objective"] == {"name": "toy", "gamma": 0.3, "alpha": 1.0, "critic_lr": 0.001,
                                              "critic_steps": 2, "critic_hidden_dim": 8, "weight": 0.05}
    assert saved["traits"]["objective_label"] == "Toy-VAE"
    # it declares no place in reports: the defaults (off the reference curve, after the declared ranks)
    assert {k: saved["traits"][k] for k in ("reference_curve", "uses_gamma", "report_rank", "plot_color")} == {
        "reference_curve": False, "uses_gamma": True, "report_rank": 10, "plot_color": ""}
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"critic_loss", "toy_critic_score", "l2_pull"} <= set(last["train"])
    epoch_line = [line for line in (out / "train.log").read_text().splitlines() if "epoch 2:" in line][0]
    assert "toy_critic_score" in epoch_line and "l2_pull" in epoch_line, epoch_line  # the log shows its named terms
    # the report reads the class's label from the run's files
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0, capsys.readouterr().err
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Toy-VAE" in report
    from cmivae.reports.plots import SPARE_COLORS, method_colors  # it declares no colour: figures give it a spare one

    assert method_colors(["cmi", "toy"], SPARE_COLORS) == {"cmi": "tab:red", "toy": SPARE_COLORS[0]}
    # an unknown param of the new objective is refused like any other
    assert main(["train", str(config), "--set", "objective.wieght=1", "--out", str(tmp_path / "x")]) == 2
    assert "objective.wieght of objective 'toy'" in capsys.readouterr().err
