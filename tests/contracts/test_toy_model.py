"""Adding a model family is one class (with its config dataclass) plus one registry entry
(and, test-side, its tiny params): a toy image VAE defined here passes the contract suite
with every registered objective, and the report gives it a table with no report edit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import distributions as dist
from torch import nn

from cmivae import registry
from cmivae.models.contract import Means
from cmivae.models.outputs import VAEOutput
from tests import helpers
from tests.contracts import checks


# ---- the one class (with its config dataclass) --------------------------------------------
@dataclass
class ToyVAEConfig:
    image_shape: tuple[int, int, int] = (1, 8, 8)
    z_dim: int = 3
    s_dim: int = 4


class ToyVAE(nn.Module):
    """An MLP VAE on binary images whose local s is a per-image feature vector ``(B, D_s)``."""

    config_class = ToyVAEConfig
    modality = "image"
    sampler = None
    capabilities: ClassVar[frozenset[str]] = frozenset()  # no sampler, no decode(z, s): mCAS is skipped
    label: ClassVar[str] = "Toy MLP-VAE"  # what reports call it (written into config.json at train time)

    def __init__(self, config: ToyVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or ToyVAEConfig()
        pixels = int(torch.tensor(self.config.image_shape).prod())
        self.encoder = nn.Linear(pixels, 2 * self.config.z_dim)
        self.local = nn.Linear(pixels, self.config.s_dim)
        self.decoder = nn.Linear(self.config.z_dim + self.config.s_dim, pixels)
        self.z_dim, self.s_shape = self.latent_shapes(self.config)
        self.input_shape = tuple(self.config.image_shape)

    @staticmethod
    def latent_shapes(config: ToyVAEConfig) -> tuple[int, tuple[int, ...]]:
        return config.z_dim, (config.s_dim,)

    def channels_last_module(self) -> None:
        return None

    def prior_z(self, batch_size: int, device: torch.device) -> dist.Distribution:
        zeros = torch.zeros(batch_size, self.z_dim, device=device)
        return dist.Independent(dist.Normal(zeros, torch.ones_like(zeros)), 1)

    def encode_z(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.float().flatten(1)).chunk(2, dim=-1)[0]  # (B, C*H*W) -> (B, D)

    def encode(self, x: torch.Tensor) -> Means:
        return Means(self.encode_z(x), torch.tanh(self.local(x.float().flatten(1))))  # (B, D), (B, D_s)

    def forward(self, x: torch.Tensor) -> VAEOutput:
        flat = x.float().flatten(1)  # (B, C, H, W) -> (B, C*H*W)
        mean, logvar = self.encoder(flat).chunk(2, dim=-1)  # 2 x (B, D)
        posterior = dist.Independent(dist.Normal(mean, (0.5 * logvar).exp()), 1)
        z = posterior.rsample()  # (B, D)
        s = torch.tanh(self.local(flat))  # (B, D_s)
        logits = self.decoder(torch.cat([z, s], dim=-1)).view(x.shape)  # (B, C*H*W) -> (B, C, H, W)
        likelihood = dist.Independent(dist.Bernoulli(logits=logits), 3)
        return VAEOutput(likelihood=likelihood, posterior_z=posterior, prior_z=self.prior_z(x.shape[0], x.device),
                         z=z, s=s)


@pytest.fixture
def toy_model_registered(monkeypatch):
    monkeypatch.setitem(registry.MODELS, "toy_vae", ToyVAE)  # ---- the one registry entry
    monkeypatch.setitem(helpers.TINY_MODELS, "toy_vae", {"name": "toy_vae"})  # test side: its tiny params
    yield "toy_vae"


@pytest.mark.parametrize("objective", sorted(registry.OBJECTIVES))
def test_toy_model_passes_every_contract_check(toy_model_registered: str, objective: str) -> None:
    checks.check_forward_loss_backward(toy_model_registered, objective)
    checks.check_resolved_config_rebuilds_the_run(toy_model_registered, objective)
    checks.check_train_step(toy_model_registered, objective)
    checks.check_capabilities(toy_model_registered)
    if registry.build(registry.resolve(helpers.tiny_config(objective, model=toy_model_registered)))[1].critic:
        checks.check_gradient_isolation(toy_model_registered, objective)


def test_toy_model_is_checked_against_the_data_modality(toy_model_registered: str) -> None:
    from cmivae.infra.errors import ConfigError

    raw = helpers.tiny_raw("beta", model=toy_model_registered)
    raw["data"]["name"] = "synthetic-speech"
    with pytest.raises(ConfigError, match="model 'toy_vae' is for image data"):
        registry.load_resolved(raw)


@pytest.fixture
def toy_run(toy_model_registered: str, tmp_path, monkeypatch):
    """A toy run trained by `cmivae train` (256 tiny images: enough per class for every probe),
    the data loader returning those images and a short I(z; s) critic."""
    import json

    import cmivae.data.registry
    from cmivae.cli import main
    from cmivae.metrics import evaluate

    data = helpers.tiny_images(n_train=256)
    from cmivae.training import loop

    for module in (cmivae.data.registry, loop):  # training and evaluation read these images
        monkeypatch.setattr(module, "load_dataset", lambda config: data)
    monkeypatch.setattr(evaluate, "MI_STEPS", 20)
    config = tmp_path / "toy.yaml"
    config.write_text(json.dumps(helpers.tiny_raw("beta", model=toy_model_registered, epochs=1)))
    run = tmp_path / "toy"
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    return run


def test_evaluate_skips_what_the_toy_cannot_do_and_says_why(toy_run, capsys) -> None:
    import json

    from cmivae import cli
    from cmivae.metric_names import VIDEO_METRIC_GROUPS

    assert cli.main(["evaluate", str(toy_run)]) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if line.startswith("[evaluate] skipped:")]
    assert [line.split(": ")[1].split()[0] for line in skipped] == ["mcas", "mcas_svm", "eer_z", "eer_s", "vc_mcas",
                                                                     *VIDEO_METRIC_GROUPS]  # no Sprites labels
    assert "mcas needs the model capability sample (the model declares none)" in skipped[0]
    assert "eer_z needs speaker labels (the data set has class)" in skipped[2]
    saved = json.loads((toy_run / "eval.json").read_text())
    assert {"elbo", "recon", "kl_z", "mi_zs", "aolr", "aosvm", "baseline"} <= set(saved)
    assert not {"mcas", "mcas_svm", "kl_s", "eer_z"} & set(saved)
    assert cli.main(["evaluate", str(toy_run)]) == 0  # the same request again: nothing is missing, no error
    # the report gives the family its class's label and a table of the keys its runs hold
    assert cli.main(["report", str(toy_run), "--out", str(toy_run.parent / "report")]) == 0
    report = (toy_run.parent / "report" / "report.md").read_text()
    assert "· Toy MLP-VAE" in report and "AoLR" in report


def test_a_requested_metric_the_toy_cannot_support_is_refused_before_any_work(toy_run, capsys, monkeypatch) -> None:
    from cmivae import cli
    from cmivae.metrics import evaluate

    monkeypatch.setattr(evaluate, "objective_means", lambda *a, **k: pytest.fail("a metric was computed"))
    assert cli.main(["evaluate", str(toy_run), "--metrics", "elbo", "mcas"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: mcas needs the model capability sample") and err.count("\n") == 1, err
    assert "--metrics elbo" in err
    assert not (toy_run / "eval.json").exists()
