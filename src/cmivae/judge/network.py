"""The judge network: a frame CNN, an LSTM over the T frames, a 9-way action head and four 6-way
attribute heads (the classifier of the Sprites protocol, Li & Mandt 2018; ``shared/sprites/README.md``).

Input frames ``(B, T, 3, H, W)`` on the unit scale (uint8 accepted: :func:`cmivae.data.video.frames.to_unit_float`),
``H = W`` = 32 or 64. Each frame goes through strided 4x4 convolutions down to 4x4 (3 at 32x32, 4 at 64x64),
each followed by batch norm (running statistics in eval mode, so a frame's score does not depend on its batch)
and a ReLU, then a linear map to a frame feature; a bidirectional LSTM reads the T features and its two final
states feed the heads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from cmivae.data.video.frames import to_unit_float

NUM_ACTIONS = 9  # 3 actions x 3 directions, label = 3 * action + direction
NUM_ATTRIBUTES = 4  # body, bottom, top, hair
NUM_ATTRIBUTE_CLASSES = 6
ATTRIBUTE_NAMES = ("body", "bottom", "top", "hair")
FRAME_SIZES = (32, 64)


@dataclass(frozen=True)
class JudgeConfig:
    """The judge's architecture (saved in the judge file, so a file rebuilds its own network).

    Attributes:
        frame_size: H = W of the frames it reads, 32 or 64.
        channels: output channels of the strided convolutions (their number sets the depth: the
            map shrinks 2x per layer, to 4x4 at the last).
        feature_dim: the frame feature the LSTM reads.
        hidden_dim: the LSTM's hidden size (each direction).
    """

    frame_size: int = 32
    channels: tuple[int, ...] = (16, 32, 64)
    feature_dim: int = 128
    hidden_dim: int = 64

    def __post_init__(self) -> None:
        if self.frame_size not in FRAME_SIZES:
            raise ValueError(f"frame_size must be one of {FRAME_SIZES}, got {self.frame_size}")
        if self.frame_size // 2 ** len(self.channels) != 4:
            raise ValueError(f"{len(self.channels)} stride-2 layers take {self.frame_size}x{self.frame_size} "
                             f"frames to {self.frame_size // 2 ** len(self.channels)}, not 4")

    @classmethod
    def for_size(cls, frame_size: int) -> JudgeConfig:
        """The default judge of a frame size: 3 layers at 32x32, 4 at 64x64."""
        return cls(frame_size=frame_size, channels=(16, 32, 64) if frame_size == 32 else (16, 32, 64, 64))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> JudgeConfig:
        return cls(**{**values, "channels": tuple(values["channels"])})


class JudgeLogits(NamedTuple):
    """Unnormalized log-probabilities of one batch: action ``(B, 9)``, attributes ``(B, 4, 6)``."""

    action: torch.Tensor
    attributes: torch.Tensor


class SpritesJudge(nn.Module):
    """Frame CNN -> bidirectional LSTM over T -> action and attribute heads."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__()
        self.config = config or JudgeConfig()
        layers: list[nn.Module] = []
        width = 3
        for channels in self.config.channels:
            layers += [nn.Conv2d(width, channels, 4, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU()]
            width = channels
        self.frames = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 16, self.config.feature_dim), nn.ReLU())
        self.lstm = nn.LSTM(self.config.feature_dim, self.config.hidden_dim, batch_first=True, bidirectional=True)
        self.action_head = nn.Linear(2 * self.config.hidden_dim, NUM_ACTIONS)
        self.attribute_head = nn.Linear(2 * self.config.hidden_dim, NUM_ATTRIBUTES * NUM_ATTRIBUTE_CLASSES)

    def forward(self, x: torch.Tensor) -> JudgeLogits:
        x = to_unit_float(x)
        size = self.config.frame_size
        if x.ndim != 5 or tuple(x.shape[2:]) != (3, size, size):
            raise ValueError(f"the judge reads frames (B, T, 3, {size}, {size}), got shape {tuple(x.shape)}")
        b, t = x.shape[:2]
        features = self.frames(x.flatten(0, 1))  # (B, T, 3, H, W) -> (B*T, 3, H, W) -> (B*T, F)
        _, (h, _) = self.lstm(features.view(b, t, -1))  # (B, T, F) -> h (2, B, H_lstm)
        summary = torch.cat([h[0], h[1]], dim=1)  # (B, 2*H_lstm): final forward and backward states
        attributes = self.attribute_head(summary).view(b, NUM_ATTRIBUTES, NUM_ATTRIBUTE_CLASSES)  # (B, 4, 6)
        return JudgeLogits(self.action_head(summary), attributes)


class JudgeScores(NamedTuple):
    """The judge's probabilities: action ``(N, 9)``, attributes ``(N, 4, 6)`` (numpy float64 rows sum to 1)."""

    action: Any
    attributes: Any


@torch.no_grad()
def judge_probabilities(judge: SpritesJudge, frames: torch.Tensor, batch_size: int = 256,
                        device: torch.device | str = "cpu") -> JudgeScores:
    """The judge's probabilities for frames ``(N, T, 3, H, W)`` (uint8, or float on the unit scale)."""
    was_training = judge.training
    judge.eval()
    actions, attributes = [], []
    try:
        for start in range(0, frames.shape[0], batch_size):
            logits = judge(frames[start:start + batch_size].to(device))
            actions.append(torch.softmax(logits.action.float(), dim=-1).cpu())  # (B, 9)
            attributes.append(torch.softmax(logits.attributes.float(), dim=-1).cpu())  # (B, 4, 6)
    finally:
        judge.train(was_training)
    return JudgeScores(torch.cat(actions).double().numpy(), torch.cat(attributes).double().numpy())
