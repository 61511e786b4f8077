"""MI-VAE (Makhzani & Frey 2017; Zhao et al. 2019), paper appendix H, Eq. 26.

``W = -Recon - (1 - gamma) KL(z) - gamma E_q(z)[log D(z) / (1 - D(z))]``, where D(z)
is trained on q(z) (encoder samples, label 1) against p(z) (prior samples, label 0), so
its logit estimates log q(z)/p(z) (Eq. 24) and the last term estimates D_KL(q(z)||p(z)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from cmivae.budget import Footprint
from cmivae.models.outputs import VAEOutput
from cmivae.objectives.base import CriticParams, Objective, binary_critic_loss
from cmivae.objectives.critics import ZCritic
from cmivae.objectives.terms import LossTerms


@dataclass
class MIConfig(CriticParams):
    """MI-VAE's params: those of :class:`CriticParams`; D(z) is 400 wide (appendix I)."""

    default_hidden_dim: ClassVar[int] = 400

    def footprint(self, z_dim: int, s_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> Footprint:
        """The critic D(z)'s (:mod:`cmivae.budget`)."""
        return ZCritic.footprint(z_dim, self.critic_hidden_dim or self.default_hidden_dim)


class AdversarialMI(Objective):
    """MI-VAE objective of Eq. 26 with critic D(z) (appendix I)."""

    config_class = MIConfig
    label = "MI-VAE"
    report_rank = 2
    plot_color = "tab:green"
    plot_marker = "^"

    @classmethod
    def from_config(cls, config: Any, model: nn.Module) -> AdversarialMI:
        return cls(model.z_dim, gamma=config.gamma, alpha=config.alpha, hidden_dim=config.critic_hidden_dim)

    def __init__(self, z_dim: int, gamma: float = 0.0, alpha: float = 1.0, hidden_dim: int = 400) -> None:
        super().__init__(gamma=gamma, alpha=alpha)
        self.critic = ZCritic(z_dim, hidden_dim)

    def regularizer_terms(self, out: VAEOutput, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logit = self.critic(out.z)  # (B,), gradient flows to the encoder only
        return {"mi_penalty": self.gamma * logit}  # gamma x the estimate of D_KL(q(z) || p(z)) (Eq. 26)

    def critic_loss(self, out: VAEOutput, x: torch.Tensor | None = None) -> LossTerms:
        z_q = out.z.detach()
        z_p = out.prior_z.sample()  # (B, D)
        return binary_critic_loss(self.critic(z_q), self.critic(z_p))
