"""Objectives: ELBO, beta-VAE, MI-VAE, CMI-VAE and its kernel (MMD) variant.

Each objective class has a ``config_class`` dataclass (its params: gamma, alpha, critic
width/steps/lr, similarity, ...) and ``from_config(config, model)``; the registry
(:data:`cmivae.registry.OBJECTIVES`, :func:`cmivae.registry.build_objective`) maps names
to classes. The model tells the critic what its z and s look like (``model.z_dim``,
``model.s_shape``).
"""

from __future__ import annotations

from cmivae.objectives.adversarial_cmi import CRITIC_PATHS, AdversarialCMI, CMIConfig, CriticPath
from cmivae.objectives.adversarial_mi import AdversarialMI, MIConfig
from cmivae.objectives.base import CriticParams, Objective, ObjectiveParams, frozen
from cmivae.objectives.beta_vae import ELBO, BetaVAE
from cmivae.objectives.critics import CRITIC_FAMILIES, CriticFamily
from cmivae.objectives.kernel_mmd import KernelMMD, MMDConfig
from cmivae.objectives.terms import LossTerms

__all__ = ["CRITIC_FAMILIES", "CRITIC_PATHS", "ELBO", "AdversarialCMI", "AdversarialMI", "BetaVAE", "CMIConfig",
           "CriticFamily", "CriticParams", "CriticPath", "KernelMMD", "LossTerms", "MIConfig", "MMDConfig", "Objective",
           "ObjectiveParams", "frozen"]
