"""The field's estimator of I(z; s): minibatch-weighted sampling (MWS, Chen et al. 2018), as
minimized by S3VAE, C-DSVAE and SPYL, as its own objective ``mws``: beta-VAE plus a gamma-weighted
I(z; s) penalty, the non-adversarial counterpart of CMI-VAE's critic (Eq. 14) and of ``mmd``:

    J = -Recon - KL(s) - (1 - gamma) KL(z) - gamma * alpha * I_MWS(z; s)

Unlike the critic's mean logit, which estimates D_KL(q(z,s) || p(z)q(s)) = I(z;s) + D_KL(q(z)||p(z))
(Eq. 10), MWS estimates I(z; s) alone. Per batch of M examples with z_i ~ q(z|x_i), s_i ~ q(s|x_i),
the aggregate posteriors are the minibatch mixtures q(z_i) ~ (1/M) sum_j q(z_i | x_j) (and the same
for s and for (z, s), with q(z, s | x_j) = q(z|x_j) q(s|x_j)):

    I_MWS = mean_i [ LSE_j (a_ij + b_ij) - LSE_j a_ij - LSE_j b_ij + log M ],
    a_ij = log q(z_i | x_j),  b_ij = log q(s_i | x_j).

The field's code writes each of the three aggregate terms with Chen et al.'s weights,
``LSE_j(.) - log(N M)`` with N the data set size, which adds the constant log N to I_MWS: the
same gradients, but a value that is not in nats of I(z; s). We report the form above, which is a
minibatch plug-in estimate: it cannot exceed log M (the self term j = i bounds it), so like every
estimate from M pairs it saturates near log M nats. C-DSVAE also clips the estimate at 0 with a
ReLU; with the log N offset that clip never acts, so we do not clip (a batch can read slightly < 0).

What s is, per model family:

- **DSAE** (q(s_t | x, z, s_{<t}) Gaussian): the field's per-step form, the mean over t of
  I_MWS(z; s_t), with b_ij(t) = log N(s_{i,t}; mu_{j,t}, sigma_{j,t}^2) read from example j's
  posterior along its own sample path (as C-DSVAE does; q(s_t|.) depends on s_{t-1}, so this is
  the field's approximation). ``objective.critic_input`` must be ``map`` (every step).
- **PixelCNN-VAE** (s deterministic given x): q(s | x) is a point mass and I(z; s) is not
  defined by densities. We give s a fixed-width Gaussian, q(s | x_j) = N(s(x_j), w^2 I), with w =
  ``objective.mws_s_width`` times the batch's RMS spread of s (detached; the root of the mean over
  features of the per-feature batch variance), i.e. we estimate I(z; s + noise). s is the view
  ``objective.critic_input`` picks (:mod:`cmivae.objectives.critic_inputs`): ``map`` (the whole
  map flattened), ``position`` or ``patch`` (one position per batch, shared by every example so
  that q(s_i | x_j) compares the same position of the map). What follows: for a width small
  against the distances between examples' s (any width, for the high-dimensional map) b_ij ~ -inf
  off the diagonal, and I_MWS reduces to ``log q(z_i|x_i) - LSE_j log q(z_i|x_j) + log M``,
  the minibatch estimate of I(x; z), the rate that beta-VAE already penalizes: on the whole map
  ``mws`` is beta-VAE with a saturating extra rate penalty. Only a local, low-dimensional s whose
  value recurs across examples (``position``) gives the term room to differ from I(x; z).

``objective.critic_path`` applies as for ``cmi`` (z-path: the s side detached; s-path: the z side
detached). There is no critic and no alternation. Logged: ``mws_mi`` (I_MWS, nats, batch mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cmivae.fields import one_of, positive
from cmivae.infra.errors import ConfigError
from cmivae.models.outputs import VAEOutput
from cmivae.objectives.adversarial_cmi import CRITIC_PATHS, CriticPath, check_critic_path
from cmivae.objectives.base import Objective, ObjectiveParams
from cmivae.objectives.critic_inputs import CriticView, check_critic_input
from cmivae.objectives.terms import LossTerms


def gaussian_log_density_matrix(sample: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``[..., i, j] = sum_f log N(sample[..., i, f]; mean[..., j, f], std[..., j, f]^2)``.

    Args:
        sample, mean, std: ``(..., M, F)``.

    Returns:
        ``(..., M, M)``, fp32.
    """
    sample, mean, std = sample.float(), mean.float(), std.float()
    scaled = (sample.unsqueeze(-2) - mean.unsqueeze(-3)) / std.unsqueeze(-3)  # (..., M, 1, F) - (..., 1, M, F)
    return (-0.5 * scaled.pow(2) - std.log().unsqueeze(-3) - 0.5 * math.log(2 * math.pi)).sum(dim=-1)


def isotropic_log_kernel_matrix(sample: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """``[i, j] = -|s_i - s_j|^2 / (2 w^2)``: log N(s_i; s_j, w^2 I) up to a constant that cancels in
    :func:`mws_mutual_information`; ``sample`` ``(M, F)`` -> ``(M, M)`` (no ``(M, M, F)`` tensor)."""
    sample = sample.float()
    return -torch.cdist(sample, sample).pow(2) / (2 * width.float().pow(2))


def mws_mutual_information(log_qz: torch.Tensor, log_qs: torch.Tensor) -> torch.Tensor:
    """Per-example MWS estimate of I(z; s) (module docstring), ``(..., M)``.

    Args:
        log_qz: ``(M, M)``, ``[i, j] = log q(z_i | x_j)``.
        log_qs: ``(..., M, M)``, ``[i, j] = log q(s_i | x_j)`` (a leading axis: one per time step).
    """
    m = log_qz.shape[-1]
    if m < 2:
        raise ValueError(f"MWS needs at least 2 examples per batch, got {m}")
    log_qz = log_qz.expand_as(log_qs)
    return (torch.logsumexp(log_qz + log_qs, dim=-1) - torch.logsumexp(log_qz, dim=-1)
            - torch.logsumexp(log_qs, dim=-1) + math.log(m))


def batch_spread(s: torch.Tensor) -> torch.Tensor:
    """RMS over features of the per-feature batch standard deviation of ``s`` ``(M, F)``, detached, > 0."""
    return s.detach().float().var(dim=0, unbiased=False).mean().sqrt().clamp_min(1e-6)


def _normal_params(distribution: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(loc, scale) of an ``Independent(Normal)`` posterior."""
    base = getattr(distribution, "base_dist", distribution)
    return base.loc, base.scale


@dataclass
class MWSConfig(ObjectiveParams):
    """The ``mws`` objective's params: gamma, alpha, and

    Attributes:
        critic_path: which latents the term differentiates through, as for ``cmi``.
        critic_input: the view of s (``map``, ``position``, ``patch``; not ``x``); DSAE: ``map`` only.
        critic_patch: k of the ``patch`` view.
        mws_s_width: the width w of the Gaussian given to a deterministic s (PixelCNN-VAE), in units
            of the batch's RMS spread of s.
    """

    critic_path: str = "both"
    critic_input: str = "map"
    critic_patch: int = 3
    mws_s_width: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of("objective.critic_path", self.critic_path, CRITIC_PATHS)
        positive("objective.mws_s_width", self.mws_s_width)
        check_critic_input(self.critic_input, self.critic_path, self.critic_patch, objective="mws")
        if self.critic_input == "x":
            raise ConfigError("objective.critic_input=x is not an s for objective mws (I(z; x) is the rate "
                              "beta-VAE already penalizes); use map, position or patch")

    def complete(self, z_dim: int, s_shape: tuple[int, ...]) -> None:
        check_critic_input(self.critic_input, self.critic_path, self.critic_patch, s_shape, objective="mws")
        if len(s_shape) == 2 and self.critic_input != "map":
            raise ConfigError(f"objective mws on a sequence model uses every s_t with its posterior density "
                              f"(the mean over t of I(z; s_t)); objective.critic_input={self.critic_input} does "
                              f"not apply: use objective.critic_input=map")


class MinibatchWeightedMI(Objective):
    """beta-VAE plus ``gamma * alpha * I_MWS(z; s)`` (module docstring)."""

    config_class = MWSConfig
    label = "MWS I(z;s)"

    @classmethod
    def from_config(cls, config: Any, model: nn.Module) -> MinibatchWeightedMI:
        return cls(tuple(model.s_shape), gamma=config.gamma, alpha=config.alpha, critic_path=config.critic_path,
                   critic_input=config.critic_input, critic_patch=config.critic_patch, s_width=config.mws_s_width)

    def __init__(self, s_shape: tuple[int, ...], gamma: float = 0.0, alpha: float = 1.0,
                 critic_path: CriticPath = "both", critic_input: str = "map", critic_patch: int = 3,
                 s_width: float = 1.0) -> None:
        super().__init__(gamma=gamma, alpha=alpha)
        if not s_width > 0:
            raise ValueError(f"s_width must be positive, got {s_width}")
        if critic_input == "x":
            raise ValueError("critic_input=x is not an s for mws")
        self.critic_path = check_critic_path(critic_path)
        check_critic_input(critic_input, critic_path, critic_patch, s_shape, objective="mws")
        self.view = CriticView(critic_input, tuple(s_shape), (), critic_patch)
        self.s_width = float(s_width)
        self._mi = torch.zeros(())

    def estimate(self, out: VAEOutput) -> torch.Tensor:
        """Per-example I_MWS(z; s), ``(B,)``, differentiable along ``critic_path``; in fp32 under any autocast
        (differences of log-sum-exps of log densities lose every digit in bf16)."""
        with torch.autocast(out.z.device.type, enabled=False):
            return self._estimate(out)

    def _estimate(self, out: VAEOutput) -> torch.Tensor:
        keep_z, keep_s = self.critic_path in ("both", "z"), self.critic_path in ("both", "s")
        z_mean, z_std = _normal_params(out.posterior_z)  # (B, D) each
        z, z_mean, z_std = ((t if keep_z else t.detach()) for t in (out.z, z_mean, z_std))
        log_qz = gaussian_log_density_matrix(z, z_mean, z_std)  # (B, B)
        s = out.s if keep_s else out.s.detach()
        if out.posterior_s is not None:  # DSAE: q(s_t | .) Gaussian, one (B, B) matrix per step
            if self.view.kind != "map":
                raise ValueError(f"mws on a model with stochastic s uses every s_t; critic_input={self.view.kind}")
            s_mean, s_std = _normal_params(out.posterior_s)  # (B, T, D_s) each
            s_mean, s_std = ((t if keep_s else t.detach()) for t in (s_mean, s_std))
            steps = [t.transpose(0, 1) for t in (s, s_mean, s_std)]  # (B, T, D_s) -> (T, B, D_s)
            log_qs = gaussian_log_density_matrix(*steps)  # (T, B, B)
            return mws_mutual_information(log_qz, log_qs).mean(dim=0)  # (T, B) -> (B,)
        index = self.view.draw(1, s.device)  # one position for the whole batch, or None
        b = s.shape[0]
        local = self.view.select(s, None, None if index is None else index.expand(b)).reshape(b, -1).float()  # (B, F)
        log_qs = isotropic_log_kernel_matrix(local, self.s_width * batch_spread(local))  # (B, B)
        return mws_mutual_information(log_qz, log_qs)  # (B,)

    def regularizer_terms(self, out: VAEOutput, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        mi = self.estimate(out)
        self._mi = mi.mean().detach()
        return {"mws_penalty": self.gamma * self.alpha * mi}  # gamma alpha x the MWS estimate of I(z; s)

    def loss(self, out: VAEOutput, x: torch.Tensor) -> LossTerms:
        """The base loss, plus the batch's ``mws_mi`` (nats) as a logged term."""
        terms = super().loss(out, x)
        terms.terms["mws_mi"] = self._mi
        return terms
