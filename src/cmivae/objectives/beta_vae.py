"""ELBO (Eqs. 2-3) and beta-VAE (Eqs. 5-6, beta = 1 - gamma).

Alemi et al. (2018) use beta < 1 to keep I(x; z) large; the paper's baseline.
"""

from __future__ import annotations

from cmivae.objectives.base import Objective


class ELBO(Objective):
    """``L = -Recon - KL(z) - KL(s)`` (Eqs. 2-3); gamma is ignored (always weight 1)."""

    kl_weighted = False
    label = "VAE (ELBO)"
    reference_curve = True  # beta-VAE at gamma 0 (beta = 1)
    uses_gamma = False
    report_rank = 0
    plot_color = "tab:gray"
    plot_marker = "s"


class BetaVAE(Objective):
    """``V = -Recon - beta KL(z) - KL(s)`` with ``beta = 1 - gamma`` (Eqs. 5-6)."""

    label = "β-VAE"
    reference_curve = True  # the paper's baseline: every other method is read against its curve
    report_rank = 1
    plot_color = "tab:blue"
    plot_marker = "o"
