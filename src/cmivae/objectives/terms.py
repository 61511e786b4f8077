"""Pure, per-example loss terms shared by every objective.

Each function returns a ``(B,)`` tensor; objectives weight and add them, and the
batch is reduced in one place (:meth:`cmivae.objectives.base.Objective.loss`, which
returns a :class:`LossTerms` of batch means). Signs follow the paper:
Recon = -E_q[log p(x|z,s)], KL(z) = D_KL(q(z|x) || p(z)), KL(s) = sum_t D_KL(q(s_t|.) ||
p(s_t|s_{t-1})) (Eq. 2), all in nats, not divided by the number of time steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import distributions as dist

from cmivae.models.outputs import VAEOutput


def reconstruction(out: VAEOutput, x: torch.Tensor) -> torch.Tensor:
    """Recon term of Eqs. 2-3: ``-log p(x | z, s)`` per example, ``(B,)``, in fp32."""
    return -out.likelihood.log_prob(x).float()


def kl_z(out: VAEOutput) -> torch.Tensor:
    """KL(z) of Eqs. 2-3: analytic ``D_KL(q(z|x) || p(z))`` per example, ``(B,)``."""
    return dist.kl_divergence(out.posterior_z, out.prior_z).float()


def kl_s(out: VAEOutput) -> torch.Tensor:
    """KL(s) of Eq. 2, summed over t, ``(B,)``; zeros for models with deterministic s."""
    if out.posterior_s is None or out.prior_s is None:
        return torch.zeros(out.z.shape[0], device=out.z.device)
    return dist.kl_divergence(out.posterior_s, out.prior_s).float()


@dataclass
class LossTerms:
    """Named scalar terms of one step plus the scalar that is minimized.

    ``total`` is what the optimizer minimizes; ``terms`` holds every logged term
    (already batch-reduced, detached floats are taken by :meth:`as_floats`); ``added`` names
    the regularizer's terms among them (the ones summed into ``total`` beside the ELBO's).
    """

    total: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    added: tuple[str, ...] = ()  # the keys of ``terms`` Objective.regularizer_terms added to the loss

    def as_floats(self) -> dict[str, float]:
        """Every term (and ``total``) as Python floats, for logging."""
        values = {name: float(v.detach()) for name, v in self.terms.items()}
        values["total"] = float(self.total.detach())
        return values
