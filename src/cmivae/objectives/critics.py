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
such a ratio; ``quadratic``: the paper's logit plus an s-dependent offset b(s) and diagonal
z^2 terms, ``logit = e(s) . z + b(s) + sum_d c_d(s) z_d^2`` (b an MLP over ``[e, e^2]``, :data:`MLP_WIDTH`
wide; c a linear map of e, zero at initialization, so training starts from the paper's critic). For
Gaussian q(z|s) = N(mu(s), diag sigma^2(s)) against p(z) = N(0, I) the log density ratio is exactly of
this form (e = mu / sigma^2, c = 1/2 - 1 / (2 sigma^2), b = -|mu / sigma|^2 / 2 - sum log sigma);
``tests/objectives/test_critic_family.py`` checks mlp and quadratic against the closed form.

The input the critic encodes is chosen by ``objective.critic_input``
(:mod:`cmivae.objectives.critic_inputs`): a local view of s is a flat vector ``(F,)`` encoded by the
MLP path, with a learned position embedding concatenated (``positions`` > 0).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cmivae.budget import Footprint, conv, linear
from cmivae.objectives.critic_inputs import POSITION_DIM

Similarity = Literal["dot", "cosine"]
CriticFamily = Literal["paper", "mlp", "quadratic"]
CRITIC_FAMILIES: tuple[str, ...] = ("paper", "mlp", "quadratic")
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
        family: ``paper`` (the logit of appendix I), ``mlp`` (plus an MLP head over
            ``[z, embedding]``: ``Linear(2D, W) - ReLU - Linear(W, W) - ReLU - Linear(W, 1)``) or
            ``quadratic`` (plus ``b(s) = Linear(2D, W) - ReLU - Linear(W, 1)`` of ``[e, e^2]`` and
            ``sum_d c_d(s) z_d^2`` with ``c = Linear(D, D)`` of it).
        head_width: W of the mlp / quadratic heads (:data:`MLP_WIDTH`).
        positions: number of positions of a local critic input (0: none); the MLP encoder of a
            flat s then sees ``[s_t, e(t)]`` with a learned embedding e of :data:`POSITION_DIM`.
    """

    def __init__(self, z_dim: int, s_shape: tuple[int, ...], similarity: Similarity = "dot",
                 hidden_dim: int = 256, family: CriticFamily = "paper", head_width: int = MLP_WIDTH,
                 positions: int = 0) -> None:
        super().__init__()
        if similarity not in ("dot", "cosine"):
            raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
        if family not in CRITIC_FAMILIES:
            raise ValueError(f"critic family must be one of {', '.join(CRITIC_FAMILIES)}, got {family!r}")
        self.family = family
        self.head = nn.Sequential(nn.Linear(2 * z_dim, head_width), nn.ReLU(), nn.Linear(head_width, head_width),
                                  nn.ReLU(), nn.Linear(head_width, 1)) if family == "mlp" else None
        self.offset = nn.Sequential(nn.Linear(2 * z_dim, head_width), nn.ReLU(),
                                    nn.Linear(head_width, 1)) if family == "quadratic" else None
        self.square = nn.Linear(z_dim, z_dim) if family == "quadratic" else None
        if self.square is not None:  # start at the paper's critic: no z^2 terms
            nn.init.zeros_(self.square.weight)
            nn.init.zeros_(self.square.bias)
        self.s_rank = len(s_shape)
        if positions and self.s_rank != 1:
            raise ValueError(f"a position embedding needs a flat local s (F,), got {s_shape}")
        self.position = nn.Embedding(positions, POSITION_DIM) if positions else None
        if self.s_rank == 3:
            self.encoder = _conv_encoder(nn.Conv2d, nn.BatchNorm2d, s_shape[0], z_dim, hidden_dim)
        elif self.s_rank == 2:
            self.encoder = _conv_encoder(nn.Conv1d, nn.BatchNorm1d, s_shape[1], z_dim, hidden_dim)
        elif self.s_rank == 1:
            in_dim = s_shape[0] + (POSITION_DIM if positions else 0)
            self.encoder = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(),
                                         nn.Linear(hidden_dim, z_dim))
        else:
            raise ValueError(f"s must be (C, H, W), (T, D_s) or (D_s,) per example, got {s_shape}")
        self.similarity = similarity
        # log of the learnable scale of the cosine logit; exp keeps it positive.
        self.log_scale = nn.Parameter(torch.tensor(2.0)) if similarity == "cosine" else None

    @staticmethod
    def footprint(z_dim: int, s_shape: tuple[int, ...], hidden_dim: int, similarity: str = "dot",
                  family: str = "paper", head_width: int = MLP_WIDTH, positions: int = 0) -> Footprint:
        """Parameters (exact) and activation values per example (:mod:`cmivae.budget`), from the
        sizes alone (the arguments of ``__init__``): the three stride-2 4-tap convolutions (two
        batch norms) over s, or the MLP over a flat s; the family's head."""
        params = (1 if similarity == "cosine" else 0) + (positions * POSITION_DIM if positions else 0)
        acts = 0
        if family == "mlp":
            params += linear(2 * z_dim, head_width) + linear(head_width, head_width) + linear(head_width, 1)
            acts += 3 * head_width
        elif family == "quadratic":
            params += linear(2 * z_dim, head_width) + linear(head_width, 1) + linear(z_dim, z_dim)
            acts += 2 * head_width + 3 * z_dim
        if len(s_shape) == 1:
            width = s_shape[0] + (POSITION_DIM if positions else 0)
            return Footprint(params + linear(width, hidden_dim) + linear(hidden_dim, z_dim),
                             acts + width + 2 * hidden_dim + z_dim)
        channels, sizes = (s_shape[0], s_shape[1:]) if len(s_shape) == 3 else (s_shape[1], s_shape[:1])
        taps = 4 ** len(sizes)
        params += conv(channels, hidden_dim, taps) + conv(hidden_dim, hidden_dim, taps) + conv(hidden_dim, z_dim, taps)
        params += 2 * 2 * hidden_dim  # the two batch norms
        after = [1, 1, 1]  # positions after each stride-2 convolution
        for size in sizes:
            after = [p * (size >> (i + 1)) for i, p in enumerate(after)]
        whole = 1
        for size in sizes:
            whole *= size
        acts += channels * whole + 3 * hidden_dim * (after[0] + after[1]) + z_dim * after[2]
        return Footprint(params, acts)

    def embed(self, s: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Mean-pooled embedding of s, ``(B, D)``; ``index`` ``(B,)``: the positions of a local s."""
        if self.s_rank == 3:
            # NCHW: oneDNN's strided bf16 convolutions are far slower in channels_last.
            h = self.encoder(s.contiguous())  # (B, C, H, W) -> (B, D, H', W')
            return h.mean(dim=(2, 3))  # (B, D)
        if self.s_rank == 2:
            h = self.encoder(s.transpose(1, 2))  # (B, T, D_s) -> (B, D_s, T) -> (B, D, T')
            return h.mean(dim=2)  # (B, D)
        if self.position is not None:
            if index is None:
                raise ValueError("this critic embeds a local s with its position: pass index (B,)")
            s = torch.cat([s, self.position(index).to(s.dtype)], dim=-1)  # (B, F) + (B, P) -> (B, F + P)
        return self.encoder(s)  # (B, F) -> (B, D)

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
        if self.offset is not None and self.square is not None:
            with torch.autocast(z.device.type, enabled=False):
                offset = self.offset(torch.cat([embedding, embedding.pow(2)], dim=-1)).squeeze(-1)  # (B, 2D) -> (B,)
                logit = logit + offset + (self.square(embedding) * z.pow(2)).sum(dim=-1)
        return logit

    def forward(self, z: torch.Tensor, s: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(self.embed(s, index), z)
