"""CMI-VAE, the paper's method (Sec. 3.2, Eqs. 13-14).

``J = -Recon - KL(s) - (1 - gamma) KL(z) - gamma * alpha * I'(z; s)`` with
``I'(z; s) = E_q(z,s)[log D(z,s) / (1 - D(z,s))]`` (Eq. 12). D(z, s) is trained on pairs
from q(z, s) (label 1) against p(z) q(s) (label 0): z drawn from the prior paired with s
from the encoder, so the logit estimates log q(z,s) / (p(z) q(s)) (Eq. 11) and its mean
the upper bound D_KL(q(z,s) || p(z)q(s)) = I(z;s) + D_KL(q(z)||p(z)) of Eq. 10.

``critic_path`` picks which latents the model-side term ``gamma * alpha * logit(z, s)``
differentiates through (the value of the term is the same): ``both`` (the paper), ``z``
(s detached: only the encoder gets the term's gradient, through z) or ``s`` (z detached:
only the layers that produce s get it; for the PixelCNN-VAE, whose s = h_inject_after does
not depend on z, that is decoder layers 1..inject_after; for DSAE, whose s_t is inferred
from [x_t, z], the gradient through s still reaches z's encoder via s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from cmivae.fields import one_of
from cmivae.models.outputs import VAEOutput
from cmivae.objectives.base import CriticParams, Objective, binary_critic_loss
from cmivae.objectives.critics import CRITIC_FAMILIES, CriticFamily, Similarity, ZSCritic
from cmivae.objectives.terms import LossTerms

CriticPath = Literal["both", "z", "s"]
CRITIC_PATHS: tuple[str, ...] = ("both", "z", "s")


def check_critic_path(critic_path: str) -> CriticPath:
    """``critic_path`` if it is one of :data:`CRITIC_PATHS`, else ValueError."""
    if critic_path not in CRITIC_PATHS:
        raise ValueError(f"critic_path must be one of {', '.join(CRITIC_PATHS)}, got {critic_path!r}")
    return critic_path  # type: ignore[return-value]


def path_latents(out: VAEOutput, critic_path: CriticPath) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, s) of ``out`` with the latent outside ``critic_path`` detached: ``(B, D)``, ``(B, *s_shape)``."""
    z = out.z if critic_path in ("both", "z") else out.z.detach()
    s = out.s if critic_path in ("both", "s") else out.s.detach()
    return z, s


@dataclass
class CMIConfig(CriticParams):
    """CMI-VAE's params: those of :class:`CriticParams` plus the critic's similarity and path.

    Attributes:
        similarity: how D(z, s) scores z against the s embedding (appendix I): ``dot``
            (inner product, the PixelCNN-VAE's feature maps) or ``cosine`` (a learnable
            scale times the cosine similarity, DSAE's sequences); ``None`` resolves by the
            shape of s: ``dot`` for feature maps ``(C, H, W)``, ``cosine`` otherwise.
        critic_path: which latents the model-side critic term differentiates through
            (:data:`CRITIC_PATHS`, see the module docstring); ``both`` is the paper's.
        critic: the discriminator family (:data:`cmivae.objectives.critics.CRITIC_FAMILIES`):
            ``paper`` (appendix I, linear in z) or ``mlp`` (adds an MLP over ``[z, embedding]``).
    """

    default_hidden_dim: ClassVar[int] = 256

    similarity: str | None = None
    critic_path: str = "both"
    critic: str = "paper"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.similarity is not None:
            one_of("objective.similarity", self.similarity, ("dot", "cosine"))
        one_of("objective.critic_path", self.critic_path, CRITIC_PATHS)
        one_of("objective.critic", self.critic, CRITIC_FAMILIES)

    def complete(self, z_dim: int, s_shape: tuple[int, ...]) -> None:
        super().complete(z_dim, s_shape)
        if self.similarity is None:
            self.similarity = "dot" if len(s_shape) == 3 else "cosine"


class AdversarialCMI(Objective):
    """CMI-VAE objective (Eq. 14 for PixelCNN-VAE, Eq. 13 for DSAE)."""

    config_class = CMIConfig
    label = "CMI-VAE"

    @classmethod
    def from_config(cls, config: Any, model: nn.Module) -> AdversarialCMI:
        return cls(model.z_dim, tuple(model.s_shape), gamma=config.gamma, alpha=config.alpha,
                   similarity=config.similarity, hidden_dim=config.critic_hidden_dim, critic_path=config.critic_path,
                   critic=config.critic)

    def __init__(self, z_dim: int, s_shape: tuple[int, ...], gamma: float = 0.0, alpha: float = 1.0,
                 similarity: Similarity = "dot", hidden_dim: int = 256, critic_path: CriticPath = "both",
                 critic: CriticFamily = "paper") -> None:
        super().__init__(gamma=gamma, alpha=alpha)
        self.critic_path = check_critic_path(critic_path)
        self.critic = ZSCritic(z_dim, s_shape, similarity=similarity, hidden_dim=hidden_dim, family=critic)

    def critic_term(self, out: VAEOutput) -> dict[str, torch.Tensor]:
        z, s = path_latents(out, self.critic_path)
        logit = self.critic(z, s)  # (B,), gradient flows to the encoder (z) and/or the layers below s
        return {"cmi_penalty": self.gamma * self.alpha * logit}  # gamma alpha x the estimate of Eq. 10

    def critic_loss(self, out: VAEOutput) -> LossTerms:
        z_q, s = out.z.detach(), out.s.detach()
        z_p = out.prior_z.sample()  # (B, D), prior draws paired with the same s
        embedding = self.critic.embed(s)  # (B, D), shared by both halves
        return binary_critic_loss(self.critic.score(embedding, z_q), self.critic.score(embedding, z_p))
