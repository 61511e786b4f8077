"""The objective contract: ``loss(out, x) -> LossTerms`` and, for adversarial
objectives, ``critic_loss(out, x) -> LossTerms`` on detached latents (x is read only by a
critic whose input is the data, ``objective.critic_input=x``).

The training loop (``cmivae.training.loop``) spells out the alternation: it calls
``critic_loss`` ``critic_steps`` times with the critic's own optimizer, then ``loss`` with
the critic frozen (:func:`frozen`), so no gradient crosses between the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from cmivae.fields import check_fields, in_range, positive
from cmivae.infra.errors import ConfigError
from cmivae.models.outputs import VAEOutput
from cmivae.objectives.terms import LossTerms, kl_s, kl_z, reconstruction


@contextmanager
def frozen(module: nn.Module | None) -> Iterator[None]:
    """Disable gradients of ``module``'s parameters inside the block (the model step's
    view of the critic); inputs still receive gradients."""
    if module is None:
        yield
        return
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def binary_critic_loss(logit_real: torch.Tensor, logit_fake: torch.Tensor) -> LossTerms:
    """The discriminator objective of Sec. 3.2 / appendix H, negated for minimization:
    ``-E_real[log D] - E_fake[log(1 - D)]`` from logits, with its diagnostics.

    Logged terms (batch means, before this critic update):

    - ``critic_acc``: ``(critic_acc_pos + critic_acc_neg) / 2``;
    - ``critic_acc_pos`` / ``critic_acc_neg``: fraction of positives (label 1, ``logit > 0``)
      and of negatives (label 0, ``logit < 0``) classified right;
    - ``critic_logit_pos`` / ``critic_logit_neg``: mean logit on positives and negatives.
      With an optimal critic the positive mean is the KL of Eqs. 10 / 24
      (``E_pos[log pos/neg]``) and the negative mean is ``-KL(neg || pos)``.

    A logit linear in z, scored on prior negatives z ~ N(0, I), is symmetric about 0
    whatever s is, so ``critic_acc_neg`` stays at 0.5 and ``critic_acc`` at <= 0.75.
    """
    logit_real, logit_fake = logit_real.float(), logit_fake.float()
    loss = F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real)) + \
        F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
    with torch.no_grad():
        acc_pos, acc_neg = (logit_real > 0).float().mean(), (logit_fake < 0).float().mean()
        terms = {"critic_loss": loss.detach(), "critic_acc": 0.5 * (acc_pos + acc_neg),
                 "critic_acc_pos": acc_pos, "critic_acc_neg": acc_neg,
                 "critic_logit_pos": logit_real.mean(), "critic_logit_neg": logit_fake.mean()}
    return LossTerms(total=loss, terms=terms)


@dataclass
class ObjectiveParams:
    """The params every objective has (``objective.*`` in a config).

    Attributes:
        gamma: weight in [0, 1); beta = 1 - gamma (Eqs. 5-6). ELBO ignores it.
        alpha: weight of I(z; s) in CMI-VAE (Eq. 8); 1 in the paper.
    """

    gamma: float = 0.0
    alpha: float = 1.0

    def __post_init__(self) -> None:
        check_fields(self, "objective")
        in_range("objective.gamma", self.gamma, 0.0, 1.0, high_open=True, why="beta = 1 - gamma > 0")
        if self.alpha < 0:
            raise ConfigError(f"objective.alpha must be >= 0, got {self.alpha!r}")

    def complete(self, z_dim: int, s_shape: tuple[int, ...]) -> None:
        """Fill defaults that depend on the model's latents (none here)."""


MAX_CRITIC_STEPS = 100  # critic updates per VAE update: the paper's 2, a study's 10; 1e9 is a step that never ends


@dataclass
class CriticParams(ObjectiveParams):
    """The params of an objective with an adversarial critic (MI-VAE, CMI-VAE).

    Attributes:
        critic_lr: Adam learning rate of the discriminator (1e-3 PixelCNN, 2e-3 DSAE).
        critic_steps: discriminator updates per VAE update (2 in the paper).
        critic_hidden_dim: width of the critic's hidden layers; ``None`` resolves to the
            paper's (appendix I) :attr:`default_hidden_dim` of the objective.
    """

    default_hidden_dim: ClassVar[int] = 256

    critic_lr: float = 1e-3
    critic_steps: int = 2
    critic_hidden_dim: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("objective.critic_lr", self.critic_lr)
        positive("objective.critic_hidden_dim", self.critic_hidden_dim)
        if not 1 <= self.critic_steps <= MAX_CRITIC_STEPS:
            raise ConfigError(f"objective.critic_steps must be an integer from 1 to {MAX_CRITIC_STEPS} (critic updates "
                              f"per VAE update; the paper uses 2), got {self.critic_steps!r}")

    def complete(self, z_dim: int, s_shape: tuple[int, ...]) -> None:
        if self.critic_hidden_dim is None:
            self.critic_hidden_dim = self.default_hidden_dim


# The terms every objective logs (Objective.base_terms, the minimized total, and the elbo that the
# evaluation means add): any other logged key is an objective's own (its regularizer's terms, its
# critic's diagnostics).
BASE_TERMS = ("recon", "kl_z", "kl_s", "neg_elbo", "elbo", "total")


def added_term_keys(values: dict[str, Any]) -> list[str]:
    """The keys of logged ``values`` an objective added to the base terms, its critic's diagnostics
    (``critic_*``) left out: what the progress line and the epoch log show beside the ELBO."""
    return [k for k in values if k not in BASE_TERMS and not k.startswith("critic_")]


class Objective(nn.Module):
    """Base: the beta-VAE family, ``-Recon - (1 - gamma) KL(z) - KL(s)`` (Eqs. 5-6).

    ``gamma = 0`` gives the ELBO (Eqs. 2-3). Subclasses add regularizer terms (:meth:`regularizer_terms`).

    Args:
        gamma: weight in [0, 1); beta = 1 - gamma.
        alpha: weight of I(z; s) (Eq. 8); used by CMI-VAE only.
    """

    kl_weighted: bool = True
    config_class: ClassVar[type[ObjectiveParams]] = ObjectiveParams
    # What reports need of the class, written into config.json["traits"] at train time
    # (runs.directory.objective_traits), so torch-free reports name no objective:
    label: ClassVar[str] = ""  # its display name in reports ("" = its registry name)
    reference_curve: ClassVar[bool] = False  # on the beta-VAE rate curve others are read against at equal KL(z)
    uses_gamma: ClassVar[bool] = True  # False: gamma is ignored (the ELBO); reports place its runs at gamma 0
    report_rank: ClassVar[int] = 10  # its place in report order (lower first; equal ranks in name order)
    plot_color: ClassVar[str] = ""  # its matplotlib colour ("": a spare colour no declared one uses)
    plot_marker: ClassVar[str] = ""  # its matplotlib marker ("": "o")

    @classmethod
    def from_config(cls, config: Any, model: nn.Module) -> Objective:
        """Build from a completed :attr:`config_class` instance for ``model``'s latents."""
        return cls(gamma=config.gamma, alpha=config.alpha)

    def __init__(self, gamma: float = 0.0, alpha: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}; beta = 1 - gamma must stay positive")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.critic: nn.Module | None = None  # adversarial subclasses assign their discriminator

    def base_terms(self, out: VAEOutput, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example ``(B,)`` recon, kl_z, kl_s and the negative ELBO."""
        recon, kz, ks = reconstruction(out, x), kl_z(out), kl_s(out)
        return {"recon": recon, "kl_z": kz, "kl_s": ks, "neg_elbo": recon + kz + ks}

    def weighted_loss(self, per_example: dict[str, torch.Tensor]) -> torch.Tensor:
        """``Recon + (1 - gamma) KL(z) + KL(s)`` per example, ``(B,)``."""
        beta = 1.0 - self.gamma if self.kl_weighted else 1.0
        return per_example["recon"] + beta * per_example["kl_z"] + per_example["kl_s"]

    def regularizer_terms(self, out: VAEOutput, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The regularizer hook: the extra per-example ``(B,)`` terms a subclass adds to the loss,
        each keyed by what it is (``mi_penalty``, ``cmi_penalty``, ``mmd_penalty``, ``mws_penalty``;
        :data:`BASE_TERMS` names are taken); every key is logged and shown in the progress line
        (:func:`added_term_keys`). None for the ELBO and beta-VAE."""
        return {}

    def loss(self, out: VAEOutput, x: torch.Tensor) -> LossTerms:
        """The model step's loss (minimized), batch-reduced here and nowhere else."""
        per_example = self.base_terms(out, x)
        total = self.weighted_loss(per_example)
        with frozen(self.critic):
            extra = self.regularizer_terms(out, x)
        for term in extra.values():
            total = total + term
        terms = {name: v.mean().detach() for name, v in per_example.items()}
        terms.update({name: v.mean().detach() for name, v in extra.items()})
        return LossTerms(total=total.mean(), terms=terms, added=tuple(extra))

    def critic_loss(self, out: VAEOutput, x: torch.Tensor | None = None) -> LossTerms:
        raise NotImplementedError(f"{type(self).__name__} has no critic")
