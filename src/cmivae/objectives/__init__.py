"""Objectives: ELBO, beta-VAE, MI-VAE and CMI-VAE, one registry.

``build_objective(name, model, gamma, alpha)`` creates one for a model; the model
tells the critic what its z and s look like (``model.z_dim``, ``model.s_shape``,
``model.critic_similarity``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from cmivae.objectives.adversarial_cmi import AdversarialCMI
from cmivae.objectives.adversarial_mi import AdversarialMI
from cmivae.objectives.base import Objective, frozen
from cmivae.objectives.beta_vae import ELBO, BetaVAE
from cmivae.objectives.terms import LossTerms

OBJECTIVES: dict[str, Callable[[nn.Module, float, float], Objective]] = {
    "elbo": lambda model, gamma, alpha: ELBO(gamma=gamma, alpha=alpha),
    "beta": lambda model, gamma, alpha: BetaVAE(gamma=gamma, alpha=alpha),
    "mi": lambda model, gamma, alpha: AdversarialMI(model.z_dim, gamma=gamma, alpha=alpha),
    "cmi": lambda model, gamma, alpha: AdversarialCMI(
        model.z_dim, tuple(model.s_shape), gamma=gamma, alpha=alpha, similarity=model.critic_similarity),
}


def build_objective(name: str, model: nn.Module, gamma: float = 0.0, alpha: float = 1.0) -> Objective:
    """Create the objective ``name`` for ``model``; unknown names list the known ones."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known objectives: {', '.join(sorted(OBJECTIVES))}")
    return OBJECTIVES[name](model, gamma, alpha)


__all__ = ["OBJECTIVES", "LossTerms", "Objective", "build_objective", "frozen"]
