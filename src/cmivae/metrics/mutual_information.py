"""Î(z; s): the density-ratio estimate of I(z; s) of appendix A (Eqs. 15-16), in nats.

A classifier D(z, s) is trained to tell pairs drawn from q(z, s) (label y = 1) from
pairs drawn from q(z) q(s) (label y = 0; z shuffled across the batch, s kept). With
p(y = 0) = p(y = 1) its logit estimates the log density ratio (Eq. 15),
``log D / (1 - D) ~ log q(z, s) / (q(z) q(s))``, and its mean over *held-out* positive
pairs estimates I(z; s) (Eq. 16). Held-out pairs matter: on its own training pairs an
over-fitted critic reports information that is not there.

The critic is fresh (not the one trained with the VAE) and must be able to represent the
log ratio. A logit linear in z, such as the inner product with an embedding of s that
the training critic of appendix I uses, cannot: already for correlated Gaussians the log
ratio is quadratic in z. So the logit here is an MLP on ``[z, embed(s)]``, where embed is
the identity for flat s ``(B, D_s)``, and a small convolutional encoder, mean-pooled over
time or space, for sequences ``(B, T, D_s)`` (DSAE) or feature maps ``(B, C, H, W)``
(PixelCNN-VAE). Both z and s are standardized with training statistics (per feature for
z and flat s, per channel for sequences and images), an invertible map that leaves
I(z; s) unchanged and makes the fit insensitive to the latents' scale.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VALIDATION_FRACTION = 0.2  # of the training pairs, for early stopping
EVAL_BATCH_SIZE = 1024
import os

_K = int(os.environ.get('K', '1'))
_COS = os.environ.get('COS', '0') == '1'


class _Critic(nn.Module):
    """Logit of D(z, s): ``MLP([z, embed(s)])``, ``(B,)``."""

    def __init__(self, z_dim: int, s_shape: tuple[int, ...], hidden_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.s_rank = len(s_shape)
        if self.s_rank == 1:
            self.embed = nn.Identity()
            s_dim = s_shape[0]
        elif self.s_rank == 2:
            self.embed = nn.Sequential(
                nn.Conv1d(s_shape[1], embed_dim, 3, padding=1), nn.ReLU(),
                nn.Conv1d(embed_dim, embed_dim, 3, padding=1), nn.ReLU(),
            )
            s_dim = embed_dim
        elif self.s_rank == 3:
            # 1x1 conv first: PixelCNN feature maps have many channels and full resolution.
            self.embed = nn.Sequential(
                nn.Conv2d(s_shape[0], embed_dim // 2, 1), nn.ReLU(),
                nn.Conv2d(embed_dim // 2, embed_dim, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(embed_dim, embed_dim, 3, stride=2, padding=1), nn.ReLU(),
            )
            s_dim = embed_dim
        else:
            raise ValueError(f"s must be (N, D_s), (N, T, D_s) or (N, C, H, W), got per-example shape {s_shape}")
        self.mlp = nn.Sequential(
            nn.Linear(z_dim + s_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def embed_s(self, s: torch.Tensor) -> torch.Tensor:
        if self.s_rank == 1:
            return s  # (B, D_s)
        if self.s_rank == 2:
            return self.embed(s.transpose(1, 2)).mean(dim=2)  # (B, T, D_s) -> (B, D_s, T) -> (B, E, T) -> (B, E)
        return self.embed(s).mean(dim=(2, 3))  # (B, C, H, W) -> (B, E, H', W') -> (B, E)

    def logit(self, z: torch.Tensor, s_embedding: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([z, s_embedding], dim=1)).squeeze(1)  # (B, D + E) -> (B, 1) -> (B,)


def _as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(x).detach().to("cpu", torch.float32)
    if tensor.ndim == 0 or tensor.shape[0] == 0:
        raise ValueError(f"{name} must have a leading example axis with at least one example, got shape "
                         f"{tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, found NaN/inf values")
    return tensor


def _check_pair(z: torch.Tensor, s: torch.Tensor, z_name: str, s_name: str) -> None:
    if z.ndim != 2:
        raise ValueError(f"{z_name} must be (N, D), got shape {tuple(z.shape)}")
    if s.ndim not in (2, 3, 4):
        raise ValueError(f"{s_name} must be (N, D_s), (N, T, D_s) or (N, C, H, W), got shape {tuple(s.shape)}")
    if z.shape[0] != s.shape[0]:
        raise ValueError(f"{z_name} and {s_name} must pair up row by row, got {z.shape[0]} and {s.shape[0]} rows")


def _standardizer(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over every axis but the feature/channel axis, broadcastable to ``x``."""
    if x.ndim == 4:
        dims, shape = (0, 2, 3), (1, -1, 1, 1)  # per channel C of (N, C, H, W)
    else:
        dims, shape = tuple(range(x.ndim - 1)), (1,) * (x.ndim - 1) + (-1,)  # per feature of (N, D) or (N, T, D_s)
    mean = x.mean(dim=dims).reshape(shape)
    std = x.std(dim=dims).clamp_min(1e-8).reshape(shape)  # constant features stay constant (0) instead of NaN
    return mean, std


def estimate_mutual_information(
    z: np.ndarray | torch.Tensor,
    s: np.ndarray | torch.Tensor,
    *,
    z_test: np.ndarray | torch.Tensor | None = None,
    s_test: np.ndarray | torch.Tensor | None = None,
    seed: int = 0,
    num_steps: int = 1500,
    batch_size: int = 256,
    test_fraction: float = 0.2,
    learning_rate: float = 1e-3,
    hidden_dim: int = 128,
    embed_dim: int = 32,
    eval_every: int = 50,
    device: str | torch.device = "cpu",
) -> float:
    """Î(z; s) in nats, Eqs. 15-16 of appendix A.

    Args:
        z: ``(N, D)`` global latents (e.g. posterior means), numpy or torch.
        s: the paired local latents: ``(N, D_s)``, ``(N, T, D_s)`` (DSAE) or
            ``(N, C, H, W)`` (PixelCNN-VAE).
        z_test, s_test: held-out pairs to evaluate Eq. 16 on (e.g. test-set latents when
            ``z, s`` are training-set latents). Give both or neither; when neither, a random
            ``test_fraction`` of the rows of ``z, s`` is held out instead.
        seed: seeds the split, the critic's initialization and its batches; the global
            torch RNG is left untouched. Same inputs and seed give the same number.
        num_steps: Adam steps of the critic; each sees ``batch_size`` positive pairs and as
            many negatives.
        batch_size: positive pairs per step (the shuffle that builds negatives is within it).
        test_fraction: share of rows held out when ``z_test``/``s_test`` are not given.
        learning_rate: Adam learning rate of the critic.
        hidden_dim: width of the critic's two hidden layers.
        embed_dim: channels of the convolutional s encoder (sequence and image s only).
        device: where the critic is trained.
    """
    z_train, s_train = _as_tensor(z, "z"), _as_tensor(s, "s")
    _check_pair(z_train, s_train, "z", "s")
    if (z_test is None) != (s_test is None):
        raise ValueError("give both z_test and s_test (held-out pairs), or neither to hold out test_fraction of z, s")
    if z_test is None:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        num_test = int(round(test_fraction * z_train.shape[0]))
        if num_test < 1 or num_test > z_train.shape[0] - 2:
            raise ValueError(f"cannot hold out {test_fraction} of {z_train.shape[0]} pairs and still train on >= 2; "
                             f"give more pairs or pass z_test/s_test")
        order = torch.randperm(z_train.shape[0], generator=torch.Generator().manual_seed(seed))
        test_rows, train_rows = order[:num_test], order[num_test:]
        z_train, s_train, z_test, s_test = z_train[train_rows], s_train[train_rows], z_train[test_rows], s_train[test_rows]
    else:
        z_test, s_test = _as_tensor(z_test, "z_test"), _as_tensor(s_test, "s_test")
        _check_pair(z_test, s_test, "z_test", "s_test")
        if z_test.shape[1:] != z_train.shape[1:] or s_test.shape[1:] != s_train.shape[1:]:
            raise ValueError(
                f"test pairs must have the training pairs' per-example shapes: z {tuple(z_train.shape[1:])}, "
                f"s {tuple(s_train.shape[1:])}; got z_test {tuple(z_test.shape[1:])}, s_test {tuple(s_test.shape[1:])}")
    if z_train.shape[0] < 2:
        raise ValueError(f"need at least 2 training pairs to build shuffled negatives, got {z_train.shape[0]}")
    if num_steps < 1 or batch_size < 2:
        raise ValueError(f"need num_steps >= 1 and batch_size >= 2, got {num_steps} and {batch_size}")

    z_mean, z_std = _standardizer(z_train)
    s_mean, s_std = _standardizer(s_train)
    z_train, z_test = (z_train - z_mean) / z_std, (z_test - z_mean) / z_std
    s_train, s_test = (s_train - s_mean) / s_std, (s_test - s_mean) / s_std

    generator = torch.Generator().manual_seed(seed)
    # Early stopping: a validation share of the training pairs, with fixed shuffled negatives,
    # picks the critic state with the lowest classification loss before it over-fits.
    order = torch.randperm(z_train.shape[0], generator=generator)
    num_val = max(1, int(round(VALIDATION_FRACTION * z_train.shape[0])))
    z_val, s_val = z_train[order[:num_val]], s_train[order[:num_val]]
    z_fit, s_fit = z_train[order[num_val:]], s_train[order[num_val:]]
    # Roll a random permutation by one so that no validation z is paired with its own s.
    z_val_shuffled = z_val[torch.randperm(num_val, generator=generator).roll(1)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the critic's initialization
        critic = _Critic(z_train.shape[1], tuple(s_train.shape[1:]), hidden_dim, embed_dim).to(device)
    optimizer = torch.optim.Adam(critic.parameters(), lr=learning_rate)
    num_fit = z_fit.shape[0]
    batch_size = min(batch_size, num_fit)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=num_steps) if _COS else None

    def validation_loss() -> float:
        critic.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, num_val, EVAL_BATCH_SIZE):
                stop = start + EVAL_BATCH_SIZE
                s_embedding = critic.embed_s(s_val[start:stop].to(device))  # (B, E)
                positive = critic.logit(z_val[start:stop].to(device), s_embedding)  # (B,)
                negative = critic.logit(z_val_shuffled[start:stop].to(device), s_embedding)  # (B,)
                total += (F.softplus(-positive).sum() + F.softplus(negative).sum()).item()  # BCE, y = 1 and y = 0
        critic.train()
        return total / (2 * num_val)

    best_loss, best_state = validation_loss(), copy.deepcopy(critic.state_dict())
    critic.train()
    for step in range(1, num_steps + 1):
        rows = torch.randint(num_fit, (batch_size,), generator=generator)
        z_batch, s_batch = z_fit[rows].to(device), s_fit[rows].to(device)  # (B, D), (B, *s_shape)
        s_embedding = critic.embed_s(s_batch)  # (B, E); shared by the positive and the negative pairs of each s
        positive = critic.logit(z_batch, s_embedding)  # (B,), pairs from q(z, s): y = 1
        negative = torch.stack([critic.logit(z_batch[torch.randperm(batch_size, generator=generator)], s_embedding)
                                for _ in range(_K)])  # (K, B), pairs from q(z) q(s): y = 0
        # Each class weighs 1/2 whatever K is, so the logit estimates the ratio of Eq. 15 (p(y) = 1/2).
        loss = 0.5 * (F.softplus(-positive).mean() + F.softplus(negative).mean())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if step % eval_every == 0 or step == num_steps:
            val_loss = validation_loss()
            if val_loss < best_loss:
                best_loss, best_state = val_loss, copy.deepcopy(critic.state_dict())
                _best_step = step
            if os.environ.get('DBG'):
                print(step, round(val_loss, 4), end='; ')
    if os.environ.get('DBG'):
        print('best', _best_step)
    critic.load_state_dict(best_state)

    critic.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, z_test.shape[0], EVAL_BATCH_SIZE):
            stop = start + EVAL_BATCH_SIZE
            z_batch, s_batch = z_test[start:stop].to(device), s_test[start:stop].to(device)
            total += critic.logit(z_batch, critic.embed_s(s_batch)).double().sum().item()  # Eq. 16
            count += z_batch.shape[0]
    return total / count
