"""Tiny synthetic Sprites-like sequences and a fake video model exposing the sprites interface, for tests that
must run before (and without) the real data set and the video DSAE."""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import torch
from torch import distributions as dist
from torch import nn

from cmivae.data.video.frames import to_unit_float
from cmivae.judge.network import JudgeLogits
from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, PRIOR_S
from cmivae.models.contract import Means

PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]], np.uint8)


def render(attributes: np.ndarray, action: np.ndarray, size: int = 32, steps: int = 8) -> np.ndarray:
    """``(N, T, 3, size, size)`` uint8: four horizontal bands colored by the attributes (body, bottom, top,
    hair), and a white square whose path over time is the action (3 kinds x 3 directions)."""
    n = attributes.shape[0]
    frames = np.zeros((n, steps, size, size, 3), np.uint8)  # (N, T, H, W, 3)
    band = size // 4
    for a in range(4):
        frames[:, :, a * band:(a + 1) * band] = PALETTE[attributes[:, a]][:, None, None, None]
    square = size // 6
    for i in range(n):
        kind, direction = divmod(int(action[i]), 3)
        for t in range(steps):
            x = size // 2 - square // 2 + (direction - 1) * t * size // 20
            y = (kind * size) // 3 + (t % 2) * kind
            frames[i, t, y:y + square, x:x + square] = 255
    return np.ascontiguousarray(frames.transpose(0, 1, 4, 2, 3))  # (N, T, H, W, 3) -> (N, T, 3, H, W)


def labels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 4)`` attributes and ``(N,)`` actions, every action equally often."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 6, size=(n, 4)), np.arange(n) % 9


class FakeVideoModel(nn.Module):
    """The sprites model interface (``shared: sprites-interface.md``) with an *oracle* encoder and decoder:
    z is the one-hot attributes read from the bands, s_t the action one-hot read from the sequence's square, and
    ``decode`` renders them again, so a swap does what a perfect disentangling model does."""

    modality = "video"
    capabilities: ClassVar[frozenset[str]] = frozenset({LOCAL_SEQUENCE, DECODE, PRIOR_S})

    def __init__(self, size: int = 32, steps: int = 8) -> None:
        super().__init__()
        self.size, self.steps = size, steps
        self.z_dim, self.s_shape = 24, (steps, 9)
        self.input_shape = (steps, 3, size, size)
        self.anchor = nn.Parameter(torch.zeros(1))  # a device to live on

    def _read(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        frames = (to_unit_float(x).cpu().numpy() * 256).round()  # (B, T, 3, H, W)
        band = self.size // 4
        colors = frames[:, 0, :, ::band, 0].transpose(0, 2, 1)  # (B, 3, 4) -> (B, 4, 3): each band's first pixel
        attributes = np.argmin(np.abs(colors[:, :, None] - PALETTE[None, None]).sum(-1), axis=2)  # (B, 4)
        candidates = render(np.repeat(attributes, 9, axis=0), np.tile(np.arange(9), len(attributes)),
                            self.size, self.steps).reshape(len(attributes), 9, -1)  # (B, 9, T*3*H*W)
        action = np.abs(candidates - frames.reshape(len(attributes), 1, -1)).sum(-1).argmin(1)  # (B,)
        return attributes, action

    def encode(self, x: torch.Tensor) -> Means:
        attributes, action = self._read(x)
        z = torch.from_numpy(np.eye(6)[attributes].reshape(-1, 24)).float()  # (B, 4, 6) -> (B, 24)
        s = torch.from_numpy(np.eye(9)[action]).float()[:, None].repeat(1, self.steps, 1)  # (B, T, 9)
        return Means(z.to(self.anchor.device), s.to(self.anchor.device))

    def encode_z(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x).z

    def prior_z(self, batch_size: int, device: torch.device) -> dist.Distribution:
        logits = torch.zeros(batch_size, 4, 6, device=device)
        return dist.Independent(dist.OneHotCategorical(logits=logits), 1)  # a random character

    def sample_prior_s(self, batch_size: int, device: torch.device, num_steps: int | None = None) -> torch.Tensor:
        action = torch.randint(0, 9, (batch_size,), device=device)
        return nn.functional.one_hot(action, 9).float()[:, None].repeat(1, num_steps or self.steps, 1)

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        attributes = z.view(-1, 4, 6).argmax(-1).cpu().numpy()  # (B, 24) -> (B, 4, 6) -> (B, 4)
        action = s.mean(1).argmax(-1).cpu().numpy()  # (B, T, 9) -> (B,)
        return to_unit_float(torch.from_numpy(render(attributes, action, self.size, self.steps))).to(z.device)


class OracleJudge(nn.Module):
    """A judge that reads :func:`render`'s sequences exactly (the :class:`FakeVideoModel`'s reading), as
    confident logits: a perfect judge for the adapter's oracle tests."""

    def __init__(self, size: int = 32) -> None:
        super().__init__()
        self.reader = FakeVideoModel(size)

    def forward(self, x: torch.Tensor) -> JudgeLogits:
        attributes, action = self.reader._read(x)
        return JudgeLogits(torch.from_numpy(20.0 * np.eye(9)[action]).float(),
                           torch.from_numpy(20.0 * np.eye(6)[attributes]).float())  # (B, 9), (B, 4, 6)


class RandomVideoModel(FakeVideoModel):
    """A model whose decoder ignores its latents: every decoded sequence a random character and action."""

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        attributes = torch.randint(0, 6, (z.shape[0], 4)).numpy()
        action = torch.randint(0, 9, (z.shape[0],)).numpy()
        return to_unit_float(torch.from_numpy(render(attributes, action, self.size, self.steps))).to(z.device)


def video_splits(n_train: int = 90, n_test: int = 90, size: int = 32) -> SimpleNamespace:
    """Splits shaped like the sprites loader's: uint8 ``{train,val,test}_x`` (N, T, 3, H, W) and labels."""
    out = {}
    for split, n, seed in (("train", n_train, 0), ("val", 18, 2), ("test", n_test, 1)):
        attributes, action = labels(n, seed)
        out[f"{split}_x"] = torch.from_numpy(render(attributes, action, size))
        out[f"{split}_attributes"], out[f"{split}_action"] = torch.from_numpy(attributes), torch.from_numpy(action)
        out[f"{split}_character"] = torch.from_numpy(attributes @ np.array([216, 36, 6, 1]))
    return SimpleNamespace(**out)
