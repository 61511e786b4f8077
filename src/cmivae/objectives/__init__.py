"""Objectives: ELBO, beta-VAE, MI-VAE and CMI-VAE, one registry.

``build_objective(name, model, gamma, alpha)`` creates one for a model; the model
tells the critic what its z and s look like (``model.z_dim``, ``model.s_shape``,
``model.critic_similarity``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from cmivae.objectives.adversarial_cmi import CRITIC_PATHS, AdversarialCMI, CriticPath
from cmivae.objectives.adversarial_mi import AdversarialMI
from cmivae.objectives.base import Objective, frozen
from cmivae.objectives.beta_vae import ELBO, BetaVAE
from cmivae.objectives.terms import LossTerms

OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "elbo": lambda model, gamma, alpha, **_: ELBO(gamma=gamma, alpha=alpha),
    "beta": lambda model, gamma, alpha, **_: BetaVAE(gamma=gamma, alpha=alpha),
    "mi": lambda model, gamma, alpha, critic_hidden_dim=400: AdversarialMI(
        model.z_dim, gamma=gamma, alpha=alpha, hidden_dim=critic_hidden_dim),
    "cmi": lambda model, gamma, alpha, critic_hidden_dim=256, critic_path="both", **_: AdversarialCMI(
        model.z_dim, tuple(model.s_shape), gamma=gamma, alpha=alpha, similarity=model.critic_similarity,
        hidden_dim=critic_hidden_dim, critic_path=critic_path),
}


def build_objective(name: str, model: nn.Module, gamma: float = 0.0, alpha: float = 1.0,
                    critic_hidden_dim: int | None = None, critic_path: CriticPath = "both") -> Objective:
    """Create the objective ``name`` for ``model``; unknown names list the known ones.

    ``critic_hidden_dim`` overrides the paper's critic width (appendix I: 400 for D(z),
    256 for D(z, s)); ``critic_path`` (CMI-VAE only) picks the latents the model-side
    critic term differentiates through (:data:`CRITIC_PATHS`).
    """
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known objectives: {', '.join(sorted(OBJECTIVES))}")
    extra: dict[str, object] = {} if critic_hidden_dim is None else {"critic_hidden_dim": critic_hidden_dim}
    if critic_path != "both":
        extra["critic_path"] = critic_path
    return OBJECTIVES[name](model, gamma, alpha, **extra)


__all__ = ["CRITIC_PATHS", "OBJECTIVES", "LossTerms", "Objective", "build_objective", "frozen"]
