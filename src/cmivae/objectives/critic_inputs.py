"""What the CMI critic D(z, s) of Eq. 14 (and the MWS estimate of I(z; s)) sees: ``objective.critic_input``.

With s the *whole* PixelCNN-VAE map h_inject (or DSAE's whole s_{1:T}), s is close to sufficient for
x, so with an exact critic ``I(x; z) - I(z; s) = I(x; z | s) ~ 0`` and Eq. 14 is nearly the ELBO
(issue 30, item 1). The term becomes meaningful when s is *local*:

- ``map`` (default, the paper's reading): the whole s, ``(C, H, W)`` or ``(T, D_s)``, through the
  convolutional encoder of appendix I.
- ``position``: one s_t per example at a position t drawn uniformly per example and per call.
  PixelCNN-VAE: the channel vector ``s[:, h, w]`` of one spatial position, ``(C,)``, t = h W + w;
  DSAE: one time step ``s_t``, ``(D_s,)``. The critic encodes ``[s_t, e(t)]`` with a learned
  position embedding e(t) (:data:`POSITION_DIM` wide), so D(z, s_t, t) estimates
  ``log q(z, s_t | t) / (p(z) q(s_t | t))`` and its mean ``I(z; s_t | t) + D_KL(q(z) || p(z))``.
- ``patch``: a random k x k patch of the map (``objective.critic_patch`` k), ``(C, k, k)`` flattened,
  with the embedding of its top-left corner; for DSAE a window of k consecutive steps ``(k, D_s)``.
- ``x``: the literal appendix-I reading, whose critic input is data-shaped ((28, 28, 1); (20, 201)):
  D(z, x), through the same convolutional encoder. Then the critic's mean logit estimates
  ``D_KL(q(z, x) || p(z) q(x)) = E_x D_KL(q(z|x) || p(z))``, i.e. KL(z) itself (the rate), which
  the ELBO already holds in closed form; x is data, so there is no s-path: only the z-path exists
  (``critic_path`` ``both`` means ``z`` here; ``s`` is refused). With an exact critic
  ``J = -Recon - KL(s) - (1 - gamma) KL(z) - gamma alpha KL(z)``: at alpha = 1 the ELBO, so under
  this reading the paper's objective is the ELBO plus a learned, noisy copy of the rate.

Positions are drawn with the global torch generator (seeded runs stay deterministic); the positives
and negatives of one critic step share them (they share s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from cmivae.data.video.frames import to_unit_float
from cmivae.fields import one_of
from cmivae.infra.errors import ConfigError

CRITIC_INPUTS: tuple[str, ...] = ("map", "position", "patch", "x")
LOCAL_INPUTS: tuple[str, ...] = ("position", "patch")
POSITION_DIM = 16  # width of the learned position embedding of the local critic inputs


def check_critic_input(critic_input: str, critic_path: str, critic_patch: int, s_shape: tuple[int, ...] | None = None,
                       objective: str = "cmi") -> None:
    """Refuse a critic input that makes no sense with the other keys or with the model's s (ConfigError).

    Args:
        critic_input: one of :data:`CRITIC_INPUTS`.
        critic_path: the objective's ``critic_path``.
        critic_patch: k of the ``patch`` input; must be left at 3 for the other inputs.
        s_shape: the model's per-example s, ``(C, H, W)`` or ``(T, D_s)``; ``None``: not known yet.
        objective: the objective's name, for the messages.
    """
    one_of("objective.critic_input", critic_input, CRITIC_INPUTS)
    if critic_input == "x" and critic_path == "s":
        raise ConfigError("objective.critic_input=x gives the critic the data x, which has no s-path; "
                          "use objective.critic_path=z (or both, the same here), or a critic_input of s")
    if not isinstance(critic_patch, int) or critic_patch < 1:
        raise ConfigError(f"objective.critic_patch must be a positive integer (the patch side k), got {critic_patch!r}")
    if critic_input != "patch" and critic_patch != 3:
        raise ConfigError(f"objective.critic_patch={critic_patch} applies to objective.critic_input=patch only, "
                          f"not {critic_input!r}; drop it or set objective.critic_input=patch")
    if s_shape is None:
        return
    if critic_input in LOCAL_INPUTS and len(s_shape) not in (2, 3):
        raise ConfigError(f"objective.critic_input={critic_input} needs an s with positions, (C, H, W) or (T, D_s); "
                          f"this model's s is {tuple(s_shape)}: use objective.critic_input=map")
    if critic_input == "patch":
        extent = tuple(s_shape[1:]) if len(s_shape) == 3 else (s_shape[0],)
        if critic_patch > min(extent):
            raise ConfigError(f"objective.critic_patch={critic_patch} is larger than the {objective} model's s "
                              f"({'x'.join(map(str, extent))} positions); use at most {min(extent)}")


@dataclass(frozen=True)
class CriticView:
    """The part of s (or x) a critic sees, for a model whose s is ``s_shape`` and x is ``x_shape``.

    Attributes:
        kind: one of :data:`CRITIC_INPUTS`.
        s_shape: one example's s: ``(C, H, W)`` (PixelCNN-VAE) or ``(T, D_s)`` (DSAE).
        x_shape: one example's x: ``(C, H, W)``, ``(T, F)`` or video ``(T, C, H, W)`` (seen as ``(T, C H W)``).
        patch: k of the ``patch`` input.
    """

    kind: str
    s_shape: tuple[int, ...]
    x_shape: tuple[int, ...]
    patch: int = 3

    @property
    def is_image(self) -> bool:
        return len(self.s_shape) == 3

    @property
    def shape(self) -> tuple[int, ...]:
        """Per-example shape of what the critic encodes: the map, ``(F,)`` for a local view, or x's."""
        if self.kind == "map":
            return tuple(self.s_shape)
        if self.kind == "x":
            if len(self.x_shape) == 4:  # video (T, C, H, W): each frame's pixels as one step's features
                return (self.x_shape[0], math.prod(self.x_shape[1:]))  # (T, C H W)
            return tuple(self.x_shape)
        channels = self.s_shape[0] if self.is_image else self.s_shape[1]
        if self.kind == "position":
            return (channels,)
        return (channels * self.patch * (self.patch if self.is_image else 1),)

    @property
    def positions(self) -> int:
        """How many positions the view draws from (0: none, the view is the whole input)."""
        if self.kind not in LOCAL_INPUTS:
            return 0
        k = self.patch if self.kind == "patch" else 1
        extent = self.s_shape[1:] if self.is_image else self.s_shape[:1]
        return math.prod(n - k + 1 for n in extent)

    def draw(self, batch_size: int, device: torch.device) -> torch.Tensor | None:
        """Random position indices ``(B,)`` (row-major top-left corner), or ``None`` for ``map``/``x``."""
        if not self.positions:
            return None
        return torch.randint(self.positions, (batch_size,), device=device)

    def select(self, s: torch.Tensor, x: torch.Tensor | None, index: torch.Tensor | None) -> torch.Tensor:
        """What the critic encodes for each example: ``(B, *self.shape)``.

        Args:
            s: the local latents ``(B, C, H, W)`` or ``(B, T, D_s)``.
            x: the batch ``(B, *x_shape)``; needed by ``x`` only.
            index: positions from :meth:`draw`, ``(B,)``; ignored by ``map`` and ``x``.
        """
        if self.kind == "map":
            return s
        if self.kind == "x":
            if x is None:
                raise ValueError("objective.critic_input=x needs the batch x: call loss(out, x) / critic_loss(out, x)")
            if x.dim() == 5:  # video frames (B, T, C, H, W), uint8 or unit-scale float
                return to_unit_float(x).flatten(2)  # (B, T, C, H, W) -> (B, T, C H W)
            return x.float()
        if index is None:
            raise ValueError(f"critic_input={self.kind} needs position indices from CriticView.draw")
        b = s.shape[0]
        rows = torch.arange(b, device=s.device)
        if self.is_image:
            _, h, w = s.shape[1:]
            k = self.patch if self.kind == "patch" else 1
            self._check_extent((h, w), k)
            top, left = index // (w - k + 1), index % (w - k + 1)  # (B,), (B,)
            steps = torch.arange(k, device=s.device)
            ii, jj = (top[:, None] + steps)[:, :, None], (left[:, None] + steps)[:, None, :]  # (B, k, 1), (B, 1, k)
            piece = s[rows[:, None, None], :, ii, jj]  # advanced indices first: (B, k, k, C)
            return piece.permute(0, 3, 1, 2).reshape(b, -1)  # (B, C, k, k) -> (B, C k k)
        t = s.shape[1]
        k = self.patch if self.kind == "patch" else 1
        self._check_extent((t,), k)
        steps = index[:, None] + torch.arange(k, device=s.device)  # (B, k)
        return s[rows[:, None], steps].reshape(b, -1)  # (B, k, D_s) -> (B, k D_s)

    def _check_extent(self, extent: tuple[int, ...], k: int) -> None:
        expected = self.s_shape[1:] if self.is_image else self.s_shape[:1]
        if tuple(extent) != tuple(expected):
            raise ValueError(f"critic_input={self.kind}: s has {extent} positions but the critic was built for "
                             f"{tuple(expected)} (k={k}); a local critic needs the model's s_shape at run time")
