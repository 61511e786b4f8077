"""The contract checks every (model, objective) pair of the registries must pass.

:mod:`tests.contracts.test_contracts` runs them over ``MODELS x OBJECTIVES``; a new model or
objective registered in :mod:`cmivae.registry` is covered with no edit here (a model also
needs its tiny params in ``tests/helpers.TINY_MODELS``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import torch

from cmivae.models.contract import Means, VAEModel
from cmivae.models.outputs import VAEOutput
from cmivae.registry import build, objective_config, resolve
from cmivae.training import loop
from tests.helpers import tiny_batch, tiny_config


def variant_config(model_name: str, objective_name: str, params: dict[str, Any] | None = None):
    """The tiny config of ``model_name`` x ``objective_name`` with extra objective ``params``
    (a critic family, a critic input)."""
    config = tiny_config(objective_name, gamma=0.5, model=model_name)
    config.objective.params.update(params or {})
    return config


def built(model_name: str, objective_name: str, seed: int = 0, params: dict[str, Any] | None = None):
    torch.manual_seed(seed)
    resolved = resolve(variant_config(model_name, objective_name, params))
    model, objective = build(resolved)
    return resolved, model, objective


def check_forward_loss_backward(model_name: str, objective_name: str, params: dict[str, Any] | None = None) -> None:
    """forward -> VAEOutput of the declared shapes, loss -> finite LossTerms, backward -> model gradients."""
    resolved, model, objective = built(model_name, objective_name, params=params)
    assert isinstance(model, VAEModel)
    x = tiny_batch(model)
    out = model(x)
    assert isinstance(out, VAEOutput)
    assert out.z.shape == (x.shape[0], model.z_dim)
    assert tuple(out.s.shape) == (x.shape[0], *model.s_shape)
    with torch.no_grad():
        means = model.encode(x)
        assert isinstance(means, Means) and means.z.shape == out.z.shape and means.s.shape == out.s.shape
        assert torch.allclose(model.encode_z(x), means.z)
    terms = objective.loss(out, x)
    assert terms.total.dim() == 0 and torch.isfinite(terms.total)
    assert {"recon", "kl_z", "neg_elbo"} <= set(terms.terms)
    terms.total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    if objective.critic is not None:
        critic_terms = objective.critic_loss(model(x), x)
        assert torch.isfinite(critic_terms.total) and "critic_loss" in critic_terms.terms


def check_resolved_config_rebuilds_the_run(model_name: str, objective_name: str,
                                           params: dict[str, Any] | None = None) -> None:
    """The resolved configs (config.json["resolved"]) are plain JSON holding every default, and
    rebuild an objective config equal to the one resolved."""
    resolved, model, objective = built(model_name, objective_name, params=params)
    saved = json.loads(json.dumps(resolved.to_dict()))
    assert saved["model"]["name"] == model_name and saved["objective"]["name"] == objective_name
    fields = {f.name for f in dataclasses.fields(resolved.objective)}
    assert set(saved["objective"]) - {"name"} == fields
    assert all(value is not None for key, value in saved["objective"].items()), "every default resolved"
    rebuilt = {k: v for k, v in saved["objective"].items() if k != "name"}
    assert objective_config(objective_name, rebuilt, model.z_dim, model.s_shape) == resolved.objective


def check_gradient_isolation(model_name: str, objective_name: str, params: dict[str, Any] | None = None) -> None:
    """STYLE #8: the critic step puts no gradient on the model, the model step none on the critic."""
    _, model, objective = built(model_name, objective_name, params=params)
    assert objective.critic is not None
    x = tiny_batch(model)
    objective.critic_loss(model(x), x).total.backward()
    assert all(p.grad is None for p in model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in objective.critic.parameters())
    objective.critic.zero_grad(set_to_none=True)
    objective.loss(model(x), x).total.backward()
    assert all(p.grad is None for p in objective.critic.parameters())
    assert all(p.requires_grad for p in objective.critic.parameters()), "frozen() must restore requires_grad"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def check_train_step(model_name: str, objective_name: str, params: dict[str, Any] | None = None) -> None:
    """One step of the training loop (critic updates then the VAE update) logs finite terms."""
    trainer = loop.build_trainer(variant_config(model_name, objective_name, params))
    x = trainer.to_device(tiny_batch(trainer.model))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    logged, problem = loop.train_step(trainer, x, step=0)
    assert problem is None and logged and all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))


def check_capabilities(model_name: str) -> None:
    """Each declared capability keeps its promise (:mod:`cmivae.models.capabilities`): ``sample``
    names a registered sampler, ``decode(z, s)`` gives ``(B, *input_shape)``, ``sample_prior_s`` gives
    ``(B, *s_shape)``, ``local_sequence`` means s is ``(B, T, D_s)`` with a posterior and a prior."""
    from cmivae.models.capabilities import CAPABILITIES, DECODE, LOCAL_SEQUENCE, PRIOR_S, SAMPLE
    from cmivae.models.contract import Decoder, PriorSSampler, declared_capabilities
    from cmivae.registry import SAMPLERS

    _, model, _ = built(model_name, "beta")
    declared = declared_capabilities(model)
    assert declared <= set(CAPABILITIES), declared - set(CAPABILITIES)
    assert (SAMPLE in declared) == (model.sampler is not None), "a sampler is declared by SAMPLE and only then"
    if SAMPLE in declared:
        assert model.sampler in SAMPLERS
    x = tiny_batch(model, batch_size=3)
    out = model(x)
    if DECODE in declared:
        assert isinstance(model, Decoder)
        with torch.no_grad():
            decoded = model.decode(out.z, out.s)  # (B, D), (B, *s_shape) -> (B, *input_shape)
        assert tuple(decoded.shape) == (3, *model.input_shape)
    if PRIOR_S in declared:
        assert isinstance(model, PriorSSampler)
        drawn = model.sample_prior_s(3, torch.device("cpu"))
        assert tuple(drawn.shape) == (3, *model.s_shape) and torch.isfinite(drawn).all()
    if LOCAL_SEQUENCE in declared:
        assert len(model.s_shape) == 2 and out.posterior_s is not None and out.prior_s is not None
