"""ELBO (Eqs. 2-3) and beta-VAE (Eqs. 5-6, beta = 1 - gamma).

Alemi et al. (2018) use beta < 1 to keep I(x; z) large; the paper's baseline.
"""

from __future__ import annotations

from cmivae.objectives.base import Objective


class ELBO(Objective):
    """``L = -Recon - KL(z) - KL(s)`` (Eqs. 2-3); gamma is ignored (always weight 1)."""

    kl_weighted = False
    label = "VAE (ELBO)"


class BetaVAE(Objective):
    """``V = -Recon - beta KL(z) - KL(s)`` with ``beta = 1 - gamma`` (Eqs. 5-6)."""

    label = "β-VAE"
