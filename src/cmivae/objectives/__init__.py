"""Objectives: ELBO, beta-VAE, MI-VAE, CMI-VAE, its kernel (MMD) variant and the MWS I(z;s) penalty.

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
from cmivae.objectives.critic_inputs import CRITIC_INPUTS, CriticView
from cmivae.objectives.critics import CRITIC_FAMILIES, CriticFamily
from cmivae.objectives.kernel_mmd import KernelMMD, MMDConfig
from cmivae.objectives.mws import MinibatchWeightedMI, MWSConfig
from cmivae.objectives.terms import LossTerms

__all__ = ["CRITIC_FAMILIES", "CRITIC_INPUTS", "CRITIC_PATHS", "ELBO", "AdversarialCMI", "AdversarialMI", "BetaVAE",
           "CMIConfig", "CriticFamily", "CriticParams", "CriticPath", "CriticView", "KernelMMD", "LossTerms",
           "MIConfig", "MMDConfig", "MWSConfig", "MinibatchWeightedMI", "Objective", "ObjectiveParams", "frozen"]
