"""Discriminators of appendix I, used by MI-VAE (Eq. 26) and CMI-VAE (Eq. 14).

Both output a *logit* ``log D / (1 - D)`` and never a probability, so the density ratio
of Eqs. 11 and 24 is read off directly and stays finite.

- :class:`ZCritic` D(z): MLP ``z -> 400 -> 1`` (appendix I, MI-VAE).
- :class:`ZSCritic` D(z, s): a convolutional encoder over s, mean-pooled to a D-dim
  embedding; the logit is the inner product with z (PixelCNN-VAE) or a learnable scale
  times the cosine similarity (DSAE). The encoder is Conv(256,4,2,1)-BN-ReLU-
  Conv(256,4,2,1)-BN-ReLU-Conv(D,4,2,1), 2-D for image features ``(B, C, H, W)`` and
  1-D over time for sequences ``(B, T, D_s)``; a flat ``(B, D_s)`` s gets an MLP.
  Appendix I lists the *data* shapes (28, 28, 1) and (20, 201) as its input; we feed the
  local latents s themselves, which is what D(z, s) is defined on.

Critic family (``objective.critic``). ``paper``: the logit above, linear in z. On negatives
z ~ N(0, I) a logit linear in z is symmetric about 0 whatever s is, so at most half of them
are classified right on average (accuracy <= 75 %), and it cannot represent the density
ratio q(z,s) / (p(z)q(s)), whose log is quadratic in z even for Gaussians
(log N(z; mu(s), S) - log N(z; 0, I)). ``mlp``: the paper's logit plus an MLP over
``[z, embedding of s]`` (:data:`MLP_WIDTH` wide, two ReLU hidden layers) that can represent
such a ratio; ``tests/objectives/test_critic_family.py`` checks it against the closed form.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cmivae.budget import Footprint, conv, linear

Similarity = Literal["dot", "cosine"]
CriticFamily = Literal["paper", "mlp"]
CRITIC_FAMILIES: tuple[str, ...] = ("paper", "mlp")
MLP_WIDTH = 256  # hidden width of the mlp critic's head over [z, embedding]


class ZCritic(nn.Module):
    """D(z) of MI-VAE: ``Linear(D, 400) - ReLU - Linear(400, 1)``, returns ``(B,)`` logits."""

    def __init__(self, z_dim: int, hidden_dim: int = 400) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    @staticmethod
    def footprint(z_dim: int, hidden_dim: int) -> Footprint:
        """Parameters (exact) and activation values per example (:mod:`cmivae.budget`)."""
        return Footprint(linear(z_dim, hidden_dim) + linear(hidden_dim, 1), 2 * hidden_dim + 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)  # (B, 1) -> (B,)


def _conv_encoder(conv: type[nn.Conv1d] | type[nn.Conv2d], bn: type[nn.Module], in_dim: int,
                  out_dim: int, hidden_dim: int) -> nn.Sequential:
    return nn.Sequential(
        conv(in_dim, hidden_dim, 4, 2, 1), bn(hidden_dim), nn.ReLU(),
        conv(hidden_dim, hidden_dim, 4, 2, 1), bn(hidden_dim), nn.ReLU(),
        conv(hidden_dim, out_dim, 4, 2, 1),
    )


class ZSCritic(nn.Module):
    """D(z, s) of CMI-VAE (appendix I).

    Args:
        z_dim: size D of z, and of the s embedding.
        s_shape: shape of one example's s without the batch axis: ``(C, H, W)``,
            ``(T, D_s)`` or ``(D_s,)``.
        similarity: ``"dot"`` (PixelCNN-VAE) or ``"cosine"`` with a learnable scale (DSAE).
        hidden_dim: channels of the two hidden convolutions (256 in the paper).
        family: ``paper`` (the logit of appendix I) or ``mlp`` (plus an MLP head over
            ``[z, embedding]``: ``Linear(2D, W) - ReLU - Linear(W, W) - ReLU - Linear(W, 1)``).
        head_width: W of the mlp head (:data:`MLP_WIDTH`).
    """

    def __init__(self, z_dim: int, s_shape: tuple[int, ...], similarity: Similarity = "dot",
                 hidden_dim: int = 256, family: CriticFamily = "paper", head_width: int = MLP_WIDTH) -> None:
        super().__init__()
        if similarity not in ("dot", "cosine"):
            raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
        if family not in CRITIC_FAMILIES:
            raise ValueError(f"critic family must be one of {', '.join(CRITIC_FAMILIES)}, got {family!r}")
        self.family = family
        self.head = nn.Sequential(nn.Linear(2 * z_dim, head_width), nn.ReLU(), nn.Linear(head_width, head_width),
                                  nn.ReLU(), nn.Linear(head_width, 1)) if family == "mlp" else None
        self.s_rank = len(s_shape)
        if self.s_rank == 3:
            self.encoder = _conv_encoder(nn.Conv2d, nn.BatchNorm2d, s_shape[0], z_dim, hidden_dim)
        elif self.s_rank == 2:
            self.encoder = _conv_encoder(nn.Conv1d, nn.BatchNorm1d, s_shape[1], z_dim, hidden_dim)
        elif self.s_rank == 1:
            self.encoder = nn.Sequential(nn.Linear(s_shape[0], hidden_dim), nn.ReLU(),
                                         nn.Linear(hidden_dim, z_dim))
        else:
            raise ValueError(f"s must be (C, H, W), (T, D_s) or (D_s,) per example, got {s_shape}")
        self.similarity = similarity
        # log of the learnable scale of the cosine logit; exp keeps it positive.
        self.log_scale = nn.Parameter(torch.tensor(2.0)) if similarity == "cosine" else None

    @staticmethod
    def footprint(z_dim: int, s_shape: tuple[int, ...], hidden_dim: int, similarity: str = "dot",
                  family: str = "paper", head_width: int = MLP_WIDTH) -> Footprint:
        """Parameters (exact) and activation values per example (:mod:`cmivae.budget`), from the
        sizes alone: the three stride-2 4-tap convolutions (two batch norms) over s, or the MLP."""
        params = (linear(2 * z_dim, head_width) + linear(head_width, head_width) + linear(head_width, 1)
                  if family == "mlp" else 0) + (1 if similarity == "cosine" else 0)
        acts = 3 * head_width if family == "mlp" else 0
        if len(s_shape) == 1:
            return Footprint(params + linear(s_shape[0], hidden_dim) + linear(hidden_dim, z_dim),
                             acts + s_shape[0] + 2 * hidden_dim + z_dim)
        channels, sizes = (s_shape[0], s_shape[1:]) if len(s_shape) == 3 else (s_shape[1], s_shape[:1])
        taps = 4 ** len(sizes)
        params += conv(channels, hidden_dim, taps) + conv(hidden_dim, hidden_dim, taps) + conv(hidden_dim, z_dim, taps)
        params += 2 * 2 * hidden_dim  # the two batch norms
        positions = [1, 1, 1]
        for size in sizes:
            positions = [p * (size >> (i + 1)) for i, p in enumerate(positions)]
        whole = 1
        for size in sizes:
            whole *= size
        acts += channels * whole + 3 * hidden_dim * (positions[0] + positions[1]) + z_dim * positions[2]
        return Footprint(params, acts)

    def embed(self, s: torch.Tensor) -> torch.Tensor:
        """Mean-pooled embedding of s, ``(B, D)``."""
        if self.s_rank == 3:
            # NCHW: oneDNN's strided bf16 convolutions are far slower in channels_last.
            h = self.encoder(s.contiguous())  # (B, C, H, W) -> (B, D, H', W')
            return h.mean(dim=(2, 3))  # (B, D)
        if self.s_rank == 2:
            h = self.encoder(s.transpose(1, 2))  # (B, T, D_s) -> (B, D_s, T) -> (B, D, T')
            return h.mean(dim=2)  # (B, D)
        return self.encoder(s)  # (B, D_s) -> (B, D)

    def score(self, embedding: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logit for pairs (embedding of s, z), ``(B,)``, in fp32."""
        embedding, z = embedding.float(), z.float()
        if self.similarity == "dot":
            logit = (embedding * z).sum(dim=-1)
        else:
            logit = self.log_scale.exp() * F.cosine_similarity(embedding, z, dim=-1)
        if self.head is not None:
            with torch.autocast(z.device.type, enabled=False):  # the head in fp32, like the paper's logit
                logit = logit + self.head(torch.cat([z, embedding], dim=-1)).squeeze(-1)  # (B, 2D) -> (B,)
        return logit

    def forward(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.score(self.embed(s), z)
