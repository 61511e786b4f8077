"""Objectives: ELBO, beta-VAE, MI-VAE, CMI-VAE and its kernel (MMD) variant, one registry.

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
from cmivae.objectives.critics import CRITIC_FAMILIES, CriticFamily
from cmivae.objectives.kernel_mmd import KernelMMD
from cmivae.objectives.terms import LossTerms

OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "elbo": lambda model, gamma, alpha, **_: ELBO(gamma=gamma, alpha=alpha),
    "beta": lambda model, gamma, alpha, **_: BetaVAE(gamma=gamma, alpha=alpha),
    "mi": lambda model, gamma, alpha, critic_hidden_dim=400, **_: AdversarialMI(
        model.z_dim, gamma=gamma, alpha=alpha, hidden_dim=critic_hidden_dim),
    "cmi": lambda model, gamma, alpha, critic_hidden_dim=256, critic_path="both", critic="paper", **_: AdversarialCMI(
        model.z_dim, tuple(model.s_shape), gamma=gamma, alpha=alpha, similarity=model.critic_similarity,
        hidden_dim=critic_hidden_dim, critic_path=critic_path, critic=critic),
    "mmd": lambda model, gamma, alpha, kernel_scale=100.0, critic_path="both", **_: KernelMMD(
        gamma=gamma, alpha=alpha, kernel_scale=kernel_scale, critic_path=critic_path),
}


def build_objective(name: str, model: nn.Module, gamma: float = 0.0, alpha: float = 1.0,
                    critic_hidden_dim: int | None = None, critic_path: CriticPath = "both",
                    critic: CriticFamily = "paper", kernel_scale: float = 100.0) -> Objective:
    """Create the objective ``name`` for ``model``; unknown names list the known ones.

    ``critic_hidden_dim`` overrides the paper's critic width (appendix I: 400 for D(z),
    256 for D(z, s)); ``critic_path`` (cmi, mmd) picks the latents the model-side term
    differentiates through (:data:`CRITIC_PATHS`); ``critic`` (cmi) the discriminator family
    (:data:`CRITIC_FAMILIES`); ``kernel_scale`` (mmd) the factor on MMD^2.
    """
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known objectives: {', '.join(sorted(OBJECTIVES))}")
    extra: dict[str, object] = {} if critic_hidden_dim is None else {"critic_hidden_dim": critic_hidden_dim}
    return OBJECTIVES[name](model, gamma, alpha, critic_path=critic_path, critic=critic, kernel_scale=kernel_scale,
                            **extra)


__all__ = ["CRITIC_FAMILIES", "CRITIC_PATHS", "OBJECTIVES", "LossTerms", "Objective", "build_objective", "frozen"]
