"""objective.critic_path: which latents the model-side term of CMI-VAE (critic), of the
kernel objective (MMD) and of the MWS objective differentiates through, checked precisely on a tiny PixelCNN-VAE
(s = h_inject_after does not depend on z), and the critic diagnostics every adversarial
critic step logs."""

from __future__ import annotations

import pytest
import torch

from cmivae.infra.errors import ConfigError
from cmivae.objectives import CRITIC_PATHS
from cmivae.objectives.base import binary_critic_loss
from cmivae.registry import build_model, build_objective, load_resolved
from cmivae.runs.legacy import HASH_NEUTRAL_DEFAULTS, run_id
from tests.helpers import TINY_PIXELCNN

SMALL = {k: v for k, v in TINY_PIXELCNN.items() if k != "name"}  # 3 masked layers, s = output of layer 2


def _setup(path: str, gamma: float = 0.5, name: str = "cmi", critic: str = "paper", block: str = "plain",
           **params: object):
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", {**SMALL, "block": block})
    objective = build_objective(name, model, gamma=gamma, critic_hidden_dim=16, critic_path=path, critic=critic,
                                **params)
    objective.eval()  # batch-norm on running statistics: the same logit on every call
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    return model, objective, x


def _regularizer_grads(model, objective, x) -> dict[str, torch.Tensor | None]:
    """Gradient of the regularizer terms alone (sum over the batch) on every model parameter."""
    torch.manual_seed(1)  # the same z samples (and prior draws of the MMD) for every path
    out = model(x)
    from cmivae.objectives.base import frozen

    with frozen(objective.critic):
        term = sum(t.sum() for t in objective.regularizer_terms(out, x).values())  # every named term
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(term, list(params.values()), allow_unused=True)
    return dict(zip(params, grads, strict=True))


def _nonzero(grad: torch.Tensor | None) -> bool:
    return grad is not None and bool(grad.abs().sum() > 0)


def _below_s(name: str) -> bool:
    """Parameters of the decoder layers 1..inject_after (and their batch norms), the ones that produce s."""
    return any(name.startswith(f"decoder.{part}.{i}.") for i in range(SMALL["inject_after"])
               for part in ("layers", "norms"))


# (objective, critic, model.block, critic_input): the residual decoder's batch norms below s join the
# s-path. MWS on the whole map has no s-path gradient to speak of (its kernel's off-diagonal terms
# underflow: cmivae.objectives.mws), so it is checked on one position of the map.
VARIANTS = [("cmi", "paper", "plain", "map"), ("cmi", "mlp", "plain", "map"), ("cmi", "quadratic", "plain", "map"),
            ("cmi", "paper", "plain", "position"), ("cmi", "mlp", "plain", "patch"), ("mmd", "paper", "plain", "map"),
            ("mws", "paper", "plain", "position"), ("cmi", "paper", "residual", "map")]


def _inputs(critic_input: str) -> dict[str, str]:
    return {} if critic_input == "map" else {"critic_input": critic_input}


@pytest.mark.parametrize(("name", "critic", "block", "critic_input"), VARIANTS)
@pytest.mark.parametrize("path", CRITIC_PATHS)
def test_regularizer_terms_reach_exactly_the_parameters_of_its_path(path: str, name: str, critic: str,
                                                                block: str, critic_input: str) -> None:
    model, objective, x = _setup(path, name=name, critic=critic, block=block, **_inputs(critic_input))
    grads = _regularizer_grads(model, objective, x)
    encoder = [n for n in grads if n.startswith("encoder.")]
    below_s = [n for n in grads if _below_s(n)]
    rest = [n for n in grads if n not in encoder and n not in below_s]
    assert encoder and below_s and rest
    # The layers above s, z_to_maps and the output layer never see the critic term.
    assert not any(_nonzero(grads[n]) for n in rest)
    if path in ("both", "z"):
        assert all(_nonzero(grads[n]) for n in encoder if n.endswith("weight"))
    else:
        assert not any(_nonzero(grads[n]) for n in encoder), "path=s: no gradient to the encoder through z"
    if path in ("both", "s"):
        assert all(_nonzero(grads[n]) for n in below_s if n.endswith("weight"))
    else:
        assert not any(_nonzero(grads[n]) for n in below_s), "path=z: no gradient to the layers below s"


@pytest.mark.parametrize(("name", "critic", "block", "critic_input"), VARIANTS)
def test_paths_add_up_to_both(name: str, critic: str, block: str, critic_input: str) -> None:
    """The term is a function of (z, s): its gradient with both paths open is the sum of the
    z-path and the s-path gradients (on the tiny model, to float precision)."""
    grads = {path: _regularizer_grads(*_setup(path, name=name, critic=critic, block=block, **_inputs(critic_input)))
             for path in CRITIC_PATHS}
    for name, both in grads["both"].items():
        parts = [g for g in (grads["z"][name], grads["s"][name]) if g is not None]
        if both is None:
            assert not parts
            continue
        assert torch.allclose(both, sum(parts), atol=1e-5), name


@pytest.mark.parametrize("path", CRITIC_PATHS)
def test_path_changes_the_gradient_not_the_value(path: str) -> None:
    model, objective, x = _setup(path)
    out = model(x)
    reference = build_objective("cmi", model, gamma=0.5, critic_hidden_dim=16)
    reference.load_state_dict(objective.state_dict())
    reference.eval()
    assert torch.allclose(objective.loss(out, x).total, reference.loss(out, x).total)


@pytest.mark.parametrize("critic", ["paper", "mlp"])
@pytest.mark.parametrize("path", CRITIC_PATHS)
def test_critic_step_sees_no_model_gradient_and_model_step_no_critic_gradient(path: str, critic: str) -> None:
    model, objective, x = _setup(path, critic=critic)
    objective.train()
    out = model(x)
    objective.critic_loss(out).total.backward()
    assert all(p.grad is None for p in model.parameters())
    assert any(_nonzero(p.grad) for p in objective.critic.parameters())
    objective.critic.zero_grad(set_to_none=True)
    objective.loss(model(x), x).total.backward()
    assert all(p.grad is None for p in objective.critic.parameters())


def load_config(source: str, overrides: list[str] | None = None):
    return load_resolved(source, overrides).config


def test_critic_path_config_is_validated_and_hash_neutral() -> None:
    assert HASH_NEUTRAL_DEFAULTS[("objective", "critic_path")] == "both"
    default = load_config("pixelcnn-cpu")
    explicit = load_config("pixelcnn-cpu", ["objective.critic_path=both"])
    assert run_id(default) == run_id(explicit)
    assert run_id(load_config("pixelcnn-cpu", ["objective.critic_path=s"])) != run_id(default)
    with pytest.raises(ConfigError, match="critic_path must be both, z or s"):
        load_config("pixelcnn-cpu", ["objective.critic_path=x"])
    with pytest.raises(ConfigError, match="applies to the cmi, mmd and mws objectives only"):
        load_config("pixelcnn-cpu", ["objective.name=beta", "objective.critic_path=s"])
    for key, default in (("critic", "paper"), ("kernel_scale", 100.0)):
        assert HASH_NEUTRAL_DEFAULTS[("objective", key)] == default
        explicit = load_config("pixelcnn-cpu", [f"objective.{key}={default}"])
        assert run_id(explicit) == run_id(load_config("pixelcnn-cpu"))
    with pytest.raises(ConfigError, match="objective.critic must be paper, mlp or quadratic"):
        load_config("pixelcnn-cpu", ["objective.critic=deep"])
    with pytest.raises(ConfigError, match="critic=mlp applies to the cmi objective only"):
        load_config("pixelcnn-cpu", ["objective.name=mi", "objective.critic=mlp"])


def test_critic_diagnostics_separate_positives_and_negatives() -> None:
    real = torch.tensor([2.0, 1.0, -1.0, 3.0])  # 3 of 4 positives right
    fake = torch.tensor([-2.0, 1.0])  # 1 of 2 negatives right
    terms = binary_critic_loss(real, fake).as_floats()
    assert terms["critic_acc_pos"] == pytest.approx(0.75)
    assert terms["critic_acc_neg"] == pytest.approx(0.5)
    assert terms["critic_acc"] == pytest.approx(0.625)
    assert terms["critic_logit_pos"] == pytest.approx(1.25)
    assert terms["critic_logit_neg"] == pytest.approx(-0.5)


def test_training_logs_critic_diagnostics_per_epoch(tmp_path) -> None:
    import json

    from cmivae.training.loop import fit
    from tests.helpers import tiny_config, tiny_images

    fit(tiny_config("cmi"), tmp_path / "run", progress=False, data=tiny_images())
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        train = record["train"]
        for key in ("critic_acc_pos", "critic_acc_neg", "critic_logit_pos", "critic_logit_neg"):
            assert key in train, key
        assert train["critic_acc"] == pytest.approx(0.5 * (train["critic_acc_pos"] + train["critic_acc_neg"]))
