"""Objectives: gamma = 0 gives the ELBO; the critic term; gradient isolation (STYLE #8)."""

import pytest
import torch

from cmivae.objectives import frozen
from cmivae.objectives.base import BASE_TERMS, Objective
from cmivae.registry import MODELS, OBJECTIVES, build_model, build_objective

SMALL = {"image_shape": (1, 8, 8), "z_dim": 4, "kernel_sizes": (5, 3, 3), "channels": 8, "inject_after": 2,
         "encoder_channels": (4,), "encoder_hidden": 16}


# From the registry, never a list: the objectives that weight KL(z) by beta = 1 - gamma, and those
# that train an adversarial critic (their own critic_loss).
KL_WEIGHTED = sorted(name for name, klass in OBJECTIVES.items() if klass.kl_weighted)
ADVERSARIAL = sorted(name for name, klass in OBJECTIVES.items() if klass.critic_loss is not Objective.critic_loss)


def _extra(terms) -> torch.Tensor:
    """The sum of the terms an objective's regularizer added to the loss, whatever their names."""
    assert not set(terms.added) & set(BASE_TERMS)
    return sum((terms.terms[k] for k in terms.added), torch.zeros(()))


def _setup(name: str, gamma: float = 0.5):
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", SMALL)
    objective = build_objective(name, model, gamma=gamma, critic_hidden_dim=16)
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    return model, objective, x


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_gamma_zero_reduces_to_the_elbo(name: str) -> None:
    model, objective, x = _setup(name, gamma=0.0)
    out = model(x)
    terms = objective.loss(out, x)
    assert torch.allclose(terms.total, terms.terms["neg_elbo"], atol=1e-5)
    assert float(_extra(terms)) == 0.0


@pytest.mark.parametrize("name", KL_WEIGHTED)
def test_beta_weights_kl_by_one_minus_gamma(name: str) -> None:
    model, objective, x = _setup(name, gamma=0.3)
    out = model(x)
    terms = objective.loss(out, x)
    expected = terms.terms["recon"] + 0.7 * terms.terms["kl_z"] + _extra(terms)
    assert torch.allclose(terms.total, expected, atol=1e-4)


def test_cmi_model_term_is_gamma_alpha_times_the_logit() -> None:
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", SMALL)
    objective = build_objective("cmi", model, gamma=0.4, alpha=2.0, critic_hidden_dim=16)
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    out = model(x)
    objective.eval()  # batch-norm with running statistics: the same logits on both calls
    logit = objective.critic(out.z, out.s)
    terms = objective.loss(out, x)
    assert torch.allclose(terms.terms["cmi_penalty"], 0.8 * logit.mean(), atol=1e-5)


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_critic_step_leaves_the_model_without_gradient(name: str) -> None:
    model, objective, x = _setup(name)
    out = model(x)
    objective.critic_loss(out).total.backward()
    assert all(p.grad is None for p in model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in objective.critic.parameters())


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_model_step_leaves_the_critic_without_gradient(name: str) -> None:
    model, objective, x = _setup(name)
    out = model(x)
    objective.loss(out, x).total.backward()
    assert all(p.grad is None for p in objective.critic.parameters())
    assert all(p.requires_grad for p in objective.critic.parameters()), "frozen() must restore requires_grad"
    # ... while the critic term does reach the encoder (z) and, for CMI, the layers below s.
    encoder_grad = sum(p.grad.abs().sum() for p in model.encoder.parameters())
    assert encoder_grad > 0
    if name == "cmi":
        assert model.decoder.layers[0].weight.grad.abs().sum() > 0


def test_regularizer_gradient_reaches_s_only_through_the_critic() -> None:
    """With gamma > 0 the CMI term changes the gradient of the layers that produce s."""
    grads = []
    for gamma in (0.0, 0.5):
        model, objective, x = _setup("cmi", gamma=gamma)
        torch.manual_seed(3)
        out = model(x)
        objective.loss(out, x).total.backward()
        grads.append(model.decoder.layers[0].weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


def test_frozen_restores_flags_after_an_exception() -> None:
    critic = torch.nn.Linear(2, 1)
    critic.bias.requires_grad_(False)
    with pytest.raises(RuntimeError), frozen(critic):
        assert not critic.weight.requires_grad
        raise RuntimeError
    assert critic.weight.requires_grad and not critic.bias.requires_grad


@pytest.mark.parametrize("dependent", [True, False])
def test_critic_separates_dependent_pairs_only(dependent: bool) -> None:
    """D(z, s) trained on q(z, s) vs p(z) q(s) detects a z that depends on s, and cannot
    beat chance when z is independent of s. (The inner-product logit of appendix I is
    linear in z, so it cannot model the quadratic part of a Gaussian ratio: ~0.75, not 1.)"""
    from cmivae.objectives.adversarial_cmi import AdversarialCMI
    from cmivae.objectives.base import binary_critic_loss

    torch.manual_seed(0)
    objective = AdversarialCMI(z_dim=2, s_shape=(2,), gamma=0.5, hidden_dim=32)
    opt = torch.optim.Adam(objective.critic.parameters(), lr=1e-2)
    accuracies = []
    for _ in range(300):
        s = torch.randn(256, 2)
        z = s + 0.1 * torch.randn(256, 2) if dependent else torch.randn(256, 2)
        emb = objective.critic.embed(s)
        terms = binary_critic_loss(objective.critic.score(emb, z), objective.critic.score(emb, torch.randn(256, 2)))
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        accuracies.append(float(terms.terms["critic_acc"]))
    final = sum(accuracies[-50:]) / 50
    assert final > 0.7 if dependent else final < 0.58


def test_registry_lists_known_names() -> None:
    with pytest.raises(ValueError, match=f"known objectives: {', '.join(sorted(OBJECTIVES))}"):
        build_objective("info", build_model("pixelcnn_vae", SMALL))
    assert "pixelcnn_vae" in MODELS
