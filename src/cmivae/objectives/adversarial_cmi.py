"""CMI-VAE, the paper's method (Sec. 3.2, Eqs. 13-14).

``J = -Recon - KL(s) - (1 - gamma) KL(z) - gamma * alpha * I'(z; s)`` with
``I'(z; s) = E_q(z,s)[log D(z,s) / (1 - D(z,s))]`` (Eq. 12). D(z, s) is trained on pairs
from q(z, s) (label 1) against p(z) q(s) (label 0): z drawn from the prior paired with s
from the encoder, so the logit estimates log q(z,s) / (p(z) q(s)) (Eq. 11) and its mean
the upper bound D_KL(q(z,s) || p(z)q(s)) = I(z;s) + D_KL(q(z)||p(z)) of Eq. 10.

``critic_input`` picks what the critic sees as s (:mod:`cmivae.objectives.critic_inputs`): the
whole map (the paper), one position s_t, a k x k patch (DSAE: a window of k steps), or x itself
(the literal appendix-I reading; only the z-path exists). For a local s the same random positions
serve the positives and the negatives of a critic step; the model step draws its own.

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

from cmivae.budget import Footprint
from cmivae.fields import one_of
from cmivae.models.outputs import VAEOutput
from cmivae.objectives.base import CriticParams, Objective, binary_critic_loss
from cmivae.objectives.critic_inputs import CriticView, check_critic_input
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
            ``paper`` (appendix I, linear in z), ``mlp`` (adds an MLP over ``[z, embedding]``) or
            ``quadratic`` (adds an offset b(s) and diagonal z^2 terms).
        critic_input: what the critic sees as s
            (:data:`cmivae.objectives.critic_inputs.CRITIC_INPUTS`): ``map`` (the paper),
            ``position``, ``patch`` or ``x``.
        critic_patch: the side k of the ``patch`` input (DSAE: k time steps).
    """

    default_hidden_dim: ClassVar[int] = 256

    similarity: str | None = None
    critic_path: str = "both"
    critic: str = "paper"
    critic_input: str = "map"
    critic_patch: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.similarity is not None:
            one_of("objective.similarity", self.similarity, ("dot", "cosine"))
        one_of("objective.critic_path", self.critic_path, CRITIC_PATHS)
        one_of("objective.critic", self.critic, CRITIC_FAMILIES)
        check_critic_input(self.critic_input, self.critic_path, self.critic_patch)

    def complete(self, z_dim: int, s_shape: tuple[int, ...]) -> None:
        super().complete(z_dim, s_shape)
        check_critic_input(self.critic_input, self.critic_path, self.critic_patch, s_shape)
        if self.similarity is None:
            self.similarity = "dot" if len(s_shape) == 3 else "cosine"

    def footprint(self, z_dim: int, s_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> Footprint:
        """The critic D(z, s)'s, on the view of s it encodes (:mod:`cmivae.budget`)."""
        view = CriticView(self.critic_input, tuple(s_shape), tuple(x_shape), self.critic_patch)
        return ZSCritic.footprint(z_dim, view.shape, self.critic_hidden_dim or self.default_hidden_dim,
                                  self.similarity or "dot", self.critic, positions=view.positions)


class AdversarialCMI(Objective):
    """CMI-VAE objective (Eq. 14 for PixelCNN-VAE, Eq. 13 for DSAE)."""

    config_class = CMIConfig
    label = "CMI-VAE"
    report_rank = 3
    plot_color = "tab:red"
    plot_marker = "D"

    @classmethod
    def from_config(cls, config: Any, model: nn.Module) -> AdversarialCMI:
        return cls(model.z_dim, tuple(model.s_shape), gamma=config.gamma, alpha=config.alpha,
                   similarity=config.similarity, hidden_dim=config.critic_hidden_dim, critic_path=config.critic_path,
                   critic=config.critic, critic_input=config.critic_input, critic_patch=config.critic_patch,
                   x_shape=tuple(model.input_shape))

    def __init__(self, z_dim: int, s_shape: tuple[int, ...], gamma: float = 0.0, alpha: float = 1.0,
                 similarity: Similarity = "dot", hidden_dim: int = 256, critic_path: CriticPath = "both",
                 critic: CriticFamily = "paper", critic_input: str = "map", critic_patch: int = 3,
                 x_shape: tuple[int, ...] | None = None) -> None:
        super().__init__(gamma=gamma, alpha=alpha)
        self.critic_path = check_critic_path(critic_path)
        if critic_input == "x" and x_shape is None:
            raise ValueError("critic_input=x needs the model's x_shape (model.input_shape)")
        check_critic_input(critic_input, critic_path, critic_patch, s_shape)
        self.view = CriticView(critic_input, tuple(s_shape), tuple(x_shape or ()), critic_patch)
        self.critic = ZSCritic(z_dim, self.view.shape, similarity=similarity, hidden_dim=hidden_dim, family=critic,
                               positions=self.view.positions)

    def regularizer_terms(self, out: VAEOutput, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z, s = path_latents(out, self.critic_path)
        index = self.view.draw(z.shape[0], z.device)  # (B,) positions of a local s, else None
        logit = self.critic(z, self.view.select(s, x, index), index)  # (B,), gradient to the encoder (z) and/or s
        return {"cmi_penalty": self.gamma * self.alpha * logit}  # gamma alpha x the estimate of Eq. 10

    def critic_loss(self, out: VAEOutput, x: torch.Tensor | None = None) -> LossTerms:
        z_q, s = out.z.detach(), out.s.detach()
        z_p = out.prior_z.sample()  # (B, D), prior draws paired with the same s
        index = self.view.draw(z_q.shape[0], z_q.device)  # the same positions for both halves
        embedding = self.critic.embed(self.view.select(s, x, index), index)  # (B, D), shared by both halves
        return binary_critic_loss(self.critic.score(embedding, z_q), self.critic.score(embedding, z_p))
