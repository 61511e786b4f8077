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
(PixelCNN-VAE). No batch norm: positives and negatives share a batch, and train and
eval statistics would differ. Both z and s are standardized with training statistics
(per feature for z and flat s, per channel for sequences and images), an invertible map
that leaves I(z; s) unchanged and makes the fit insensitive to the latents' scale.

Training: Adam with a cosine-decayed step size; every ``eval_every`` steps the loss on a
validation share of the training pairs (with fixed shuffled negatives) is measured and
the best critic is kept (early stopping).

Accuracy (tests/metrics/test_mutual_information.py): on correlated Gaussians with
N = 5000 pairs (1000 held out) the estimate is within max(0.15 nats, 15%) of the closed
form, typically a few percent low, as classifier-based ratio estimators tend to be;
on independent data it is within 0.05 nats of 0. Sequence and image s are estimated through
a mean-pooled encoder and come out lower (3.0 of 3.3 and 2.8 of 3.6 nats after 400 steps
in the tests), so compare Î across models at fixed settings rather than as absolute nats.

Cost on one CPU thread with the defaults (1500 steps of 256 pairs): about 3 s for flat
s, 5 s for small sequences; a paper-size PixelCNN feature map (64 x 28 x 28) takes
roughly 0.1 s per step, because every batch reads 256 x 50k values.

Memory traffic (issue 31, item 19): a batch of paper-size s is 51 MB (256 x 64 x 28 x 28
float32), an evaluation chunk 205 MB. glibc serves blocks that large with ``mmap`` and hands
them back on ``free``, so every fresh copy of a batch page-faults all of it in again (~12.5k
minor faults per copy): the gather ``s[rows]``, oneDNN's reorder of an NCHW batch into
channels-last for the first convolution, once forward and once backward, and the encoder's
zero padding (a pad of zero copies). So the rows are gathered into one buffer reused for the
whole estimate (:class:`_RowGather`, ``torch.index_select(..., out=)``), feature maps are held
channels-last, and the padding is skipped when there is none. The estimate is equal within
float tolerance (the channels-last convolution sums in another order; ``reuse_buffers=False``
is the old path bit for bit; tests/metrics/test_mutual_information.py);
``benchmarks/mi_faults.py`` measures the CPU seconds and faults before and after.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VALIDATION_FRACTION = 0.2  # of the training pairs, for early stopping
EVAL_BATCH_SIZE = 1024


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
        else:
            # Non-overlapping patches first: the cheapest learned map that sees every value of a
            # full-resolution PixelCNN feature map (64 x 28 x 28) once. Zero padding (the standardized
            # mean) on the right and bottom lets the patches cover every pixel when H or W is not a multiple.
            patch = 4
            height, width = s_shape[1], s_shape[2]
            padding = (0, -width % patch, 0, -height % patch)
            self.embed = nn.Sequential(
                nn.ZeroPad2d(padding) if any(padding) else nn.Identity(),  # a pad of zero would copy the batch
                nn.Conv2d(s_shape[0], embed_dim // 2, patch, stride=patch), nn.ReLU(),
                nn.Conv2d(embed_dim // 2, embed_dim, 3, padding=1), nn.ReLU(),
            )
            s_dim = embed_dim
        self.mlp = nn.Sequential(
            nn.Linear(z_dim + s_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def embed_s(self, s: torch.Tensor) -> torch.Tensor:
        """Embedding of s, ``(B, E)`` (``E = D_s`` for flat s)."""
        if self.s_rank == 1:
            return s  # (B, D_s)
        if self.s_rank == 2:
            return self.embed(s.transpose(1, 2)).mean(dim=2)  # (B, T, D_s) -> (B, D_s, T) -> (B, E, T) -> (B, E)
        return self.embed(s).mean(dim=(2, 3))  # (B, C, H, W) -> (B, E, ceil(H/4), ceil(W/4)) -> (B, E)

    def logit(self, z: torch.Tensor, s_embedding: torch.Tensor) -> torch.Tensor:
        """``log D / (1 - D)`` for the pairs (z, s), ``(B,)``."""
        return self.mlp(torch.cat([z, s_embedding], dim=1)).squeeze(1)  # (B, D + E) -> (B, 1) -> (B,)


def _as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(x).detach().to(dtype=torch.float32)  # stays where it is (a GPU's latents on the GPU)
    if tensor.ndim == 0 or tensor.shape[0] == 0:
        raise ValueError(f"{name} must have a leading example axis with at least one example, got shape "
                         f"{tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, found NaN/inf values")
    return tensor


def _check_pairs(z: torch.Tensor, s: torch.Tensor, z_name: str, s_name: str) -> None:
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
        dims, shape = tuple(range(x.ndim - 1)), (1,) * (x.ndim - 1) + (-1,)  # per feature of (N, D), (N, T, D_s)
    mean = x.mean(dim=dims).reshape(shape)  # (C,) -> (1, C, 1, 1) or (D,) -> (1, D) or (1, 1, D_s)
    std = x.std(dim=dims).clamp_min(1e-8).reshape(shape)  # a constant feature becomes 0 instead of NaN
    return mean, std


class _RowGather:
    """``source[rows]`` for at most ``max_rows`` rows at a time, written into one buffer that is
    reused for every call (``reuse=False``: a fresh tensor per call, the pre-fix path).

    With ``reuse``, a feature map ``(N, C, H, W)`` is also held channels-last, once: oneDNN's
    convolution would otherwise copy every batch into that layout (twice a step, forward
    and backward), faulting in as many pages as the gather. The result is the same
    ``(B, C, H, W)`` tensor (a channels-last view of the buffer), valid until the next call:
    use it (forward and backward) before gathering again.
    """

    def __init__(self, source: torch.Tensor, max_rows: int, reuse: bool = True) -> None:
        self.channels_last = reuse and source.ndim == 4
        # (N, C, H, W) -> (N, H, W, C) contiguous: channels-last rows (no copy if s is channels-last already)
        self.source = source.permute(0, 2, 3, 1).contiguous() if self.channels_last else source
        self.shape = tuple(source.shape[1:])  # the per-example shape callers see
        self.buffer = (torch.empty((max_rows, *self.source.shape[1:]), dtype=source.dtype, device=source.device)
                       if reuse else None)  # (max_rows, H, W, C) or (max_rows, *s_shape)

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        if self.buffer is None:
            return self.source[rows]  # (B, *s_shape), a fresh tensor
        batch = torch.index_select(self.source, 0, rows, out=self.buffer[:rows.shape[0]])
        return batch.permute(0, 3, 1, 2) if self.channels_last else batch  # (B, H, W, C) -> (B, C, H, W) view


def _mean_logit(critic: _Critic, z: torch.Tensor, s: _RowGather, rows: torch.Tensor) -> float:
    """Eq. 16: the critic's mean logit over the pairs ``(z[rows], s[rows])``."""
    critic.eval()
    total = 0.0
    with torch.no_grad():
        for chunk in rows.split(EVAL_BATCH_SIZE):
            total += critic.logit(z[chunk], critic.embed_s(s(chunk))).double().sum().item()
    return total / rows.shape[0]


def _bce(critic: _Critic, z: torch.Tensor, s: _RowGather, rows: torch.Tensor, shuffled_rows: torch.Tensor) -> float:
    """Mean binary cross-entropy of positives ``(z[rows], s[rows])`` and negatives ``(z[shuffled_rows], s[rows])``."""
    critic.eval()
    total = 0.0
    with torch.no_grad():
        chunks = zip(rows.split(EVAL_BATCH_SIZE), shuffled_rows.split(EVAL_BATCH_SIZE), strict=True)
        for chunk, shuffled_chunk in chunks:
            s_embedding = critic.embed_s(s(chunk))  # (B, E)
            positive = critic.logit(z[chunk], s_embedding)  # (B,)
            negative = critic.logit(z[shuffled_chunk], s_embedding)  # (B,)
            total += (F.softplus(-positive).sum() + F.softplus(negative).sum()).item()
    return total / (2 * rows.shape[0])


def _train_critic(z: torch.Tensor, s: _RowGather, train_rows: torch.Tensor, *, generator: torch.Generator,
                  num_steps: int, batch_size: int, learning_rate: float, hidden_dim: int, embed_dim: int,
                  eval_every: int, on_step: Callable[[int], None] | None = None) -> _Critic:
    """Fit D(z, s) on the pairs ``train_rows``: q(z, s) (y = 1) against q(z) q(s) (y = 0), Eq. 15.

    Rows are indexed rather than copied, so a large s (PixelCNN feature maps) is held once;
    each batch of s is gathered into the reused buffer of ``s``.
    """
    train_rows = train_rows[torch.randperm(train_rows.shape[0], generator=generator)]
    num_val = max(2, int(round(VALIDATION_FRACTION * train_rows.shape[0])))
    val_rows, fit_rows = train_rows[:num_val], train_rows[num_val:]
    # A random permutation rolled by one pairs no validation z with its own s.
    val_shuffled_rows = val_rows[torch.randperm(num_val, generator=generator).roll(1)]
    batch_size = min(batch_size, fit_rows.shape[0])

    with torch.random.fork_rng(devices=[]):  # seeded initialization, global RNG untouched
        torch.manual_seed(int(torch.randint(2**62, (), generator=generator)))
        critic = _Critic(z.shape[1], s.shape, hidden_dim, embed_dim).to(z.device)
    optimizer = torch.optim.Adam(critic.parameters(), lr=learning_rate)
    # Decaying the step size to zero settles the logit's additive offset, to which the loss is
    # nearly flat but the mean logit of Eq. 16 is not.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=num_steps)

    best_loss = _bce(critic, z, s, val_rows, val_shuffled_rows)
    best_state = copy.deepcopy(critic.state_dict())
    for step in range(1, num_steps + 1):
        critic.train()
        rows = fit_rows[torch.randint(fit_rows.shape[0], (batch_size,), generator=generator)]
        shuffle = torch.randperm(batch_size, generator=generator)
        z_batch, s_batch = z[rows], s(rows)  # (B, D), (B, *s_shape): a view of the gather buffer
        s_embedding = critic.embed_s(s_batch)  # (B, E), shared by the positive and the negative pair of each s
        positive = critic.logit(z_batch, s_embedding)  # (B,), pairs from q(z, s): y = 1
        negative = critic.logit(z_batch[shuffle], s_embedding)  # (B,), pairs from q(z) q(s): y = 0
        # Binary cross-entropy with p(y = 0) = p(y = 1) = 1/2, so the logit estimates the log ratio of Eq. 15.
        loss = 0.5 * (F.softplus(-positive).mean() + F.softplus(negative).mean())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % eval_every == 0 or step == num_steps:
            val_loss = _bce(critic, z, s, val_rows, val_shuffled_rows)
            if val_loss < best_loss:
                best_loss, best_state = val_loss, copy.deepcopy(critic.state_dict())
        if on_step is not None:
            on_step(step)
    critic.load_state_dict(best_state)
    return critic


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
    on_step: Callable[[int], None] | None = None,
    reuse_buffers: bool = True,
) -> float:
    """Î(z; s) in nats, Eqs. 15-16 of appendix A (reported in Tables 3-5).

    Args:
        z: ``(N, D)`` global latents (e.g. posterior means), numpy or torch.
        s: the paired local latents: ``(N, D_s)``, ``(N, T, D_s)`` (DSAE) or
            ``(N, C, H, W)`` (PixelCNN-VAE).
        z_test, s_test: held-out pairs to evaluate Eq. 16 on, e.g. test-set latents when
            ``z, s`` are training-set latents. Give both or neither; with neither, a random
            ``test_fraction`` of the rows of ``z, s`` is held out instead.
        seed: seeds the split, the critic's initialization and its batches; the global
            torch RNG is left untouched. Same inputs and seed give the same number.
        num_steps: Adam steps of the critic; each sees ``batch_size`` positive pairs and as
            many negatives.
        batch_size: positive pairs per step (negatives are the same batch with z shuffled).
        test_fraction: share of rows held out when ``z_test``/``s_test`` are not given.
        learning_rate: initial Adam learning rate, cosine-decayed to 0 over ``num_steps``.
        hidden_dim: width of the critic MLP's two hidden layers.
        embed_dim: channels of the convolutional s encoder (sequence and image s only).
        eval_every: steps between validation checks for early stopping.
        device: where the critic is trained.
        on_step: called with the step number after every critic step (progress lines).
        reuse_buffers: gather every batch of s into one reused buffer (module docstring);
            ``False`` allocates a fresh one per batch, as before issue 31 item 19 (kept for
            ``benchmarks/mi_faults.py`` and the test that the estimate does not change).
    """
    generator = torch.Generator().manual_seed(seed)
    z_train, s_train = _as_tensor(z, "z"), _as_tensor(s, "s")
    _check_pairs(z_train, s_train, "z", "s")
    if (z_test is None) != (s_test is None):
        raise ValueError("give both z_test and s_test (held-out pairs), or neither to hold out test_fraction of z, s")
    if num_steps < 1 or batch_size < 2 or eval_every < 1:
        raise ValueError(f"need num_steps >= 1, batch_size >= 2 and eval_every >= 1, got {num_steps}, {batch_size} "
                         f"and {eval_every}")
    if z_test is None:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        num_pairs = z_train.shape[0]
        num_test = int(round(test_fraction * num_pairs))
        order = torch.randperm(num_pairs, generator=generator)
        test_rows, train_rows = order[:num_test], order[num_test:]
        z_all, s_all = z_train, s_train
    else:
        z_test, s_test = _as_tensor(z_test, "z_test"), _as_tensor(s_test, "s_test")
        _check_pairs(z_test, s_test, "z_test", "s_test")
        if z_test.shape[1:] != z_train.shape[1:] or s_test.shape[1:] != s_train.shape[1:]:
            raise ValueError(
                f"test pairs must have the training pairs' per-example shapes: z {tuple(z_train.shape[1:])}, "
                f"s {tuple(s_train.shape[1:])}; got z_test {tuple(z_test.shape[1:])}, s_test {tuple(s_test.shape[1:])}")
        num_train = z_train.shape[0]
        train_rows, test_rows = torch.arange(num_train), torch.arange(num_train, num_train + z_test.shape[0])
        z_all, s_all = torch.cat([z_train, z_test]), torch.cat([s_train, s_test])  # (N + M, D), (N + M, *s_shape)
    # Early stopping holds out VALIDATION_FRACTION of the training pairs; it and the rest need pairs to shuffle.
    if test_rows.shape[0] < 1 or train_rows.shape[0] < 10:
        raise ValueError(f"need at least 10 training pairs and 1 test pair, got {train_rows.shape[0]} and "
                         f"{test_rows.shape[0]}; give more pairs")
    del z_train, s_train, z_test, s_test

    # Standardize with training statistics only; one standardized copy of each array.
    z_mean, z_std = _standardizer(z_all[train_rows])
    s_mean, s_std = _standardizer(s_all[train_rows])
    z_all = (z_all - z_mean).div_(z_std).to(device)
    if reuse_buffers and s_all.ndim == 4:  # standardized straight into channels-last (see _RowGather), one copy
        standardized = torch.empty_like(s_all, memory_format=torch.channels_last)  # (N, C, H, W), NHWC in memory
        s_all = torch.sub(s_all, s_mean, out=standardized).div_(s_std).to(device)
    else:
        s_all = (s_all - s_mean).div_(s_std).to(device)

    gather = _RowGather(s_all, min(max(batch_size, EVAL_BATCH_SIZE), s_all.shape[0]), reuse=reuse_buffers)

    critic = _train_critic(z_all, gather, train_rows, generator=generator, num_steps=num_steps,
                           batch_size=batch_size, learning_rate=learning_rate, hidden_dim=hidden_dim,
                           embed_dim=embed_dim, eval_every=eval_every, on_step=on_step)
    return _mean_logit(critic, z_all, gather, test_rows)
