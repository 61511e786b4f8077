"""The ``sprites`` data set as training sees it (``DATASETS["sprites"]``): train / validation / test splits.

- test: the 2,664 sequences of the recipe's 296 test characters (:mod:`cmivae.data.video.sprites`).
- validation: ``round(1000 * data.val_fraction)`` of the 1000 training *characters*, all 9 sequences of
  each, chosen by ``numpy.random.default_rng(data.split_seed).permutation(1000)`` (its first entries);
  train: the other training characters. No test character is ever in training or validation.
- ``data.num_train`` keeps the first ``num_train`` training sequences (character-major, so a multiple of 9
  keeps whole characters with all 9 actions), and validation shrinks in proportion
  (``round(num_train * val_fraction / (1 - val_fraction))`` sequences), as for the image sets;
  ``data.num_test`` keeps the first ``num_test`` test sequences.
- ``data.frame_size``: 64 (the benchmark) or 32 (2 x 2 means rounded half up).

Frames stay uint8 ``(N, T, 3, H, W)`` in memory (11,664 x 8 x 3 x 64 x 64 = 1.15 GB at 64, a quarter at
32); models convert a batch with :func:`cmivae.data.video.frames.to_unit_float`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cmivae.data.video.sprites import read_labels, read_sprites_selected
from cmivae.infra.errors import ConfigError


@dataclass
class VideoSplits:
    """Train/validation/test tensors of a video data set.

    Attributes:
        train_x, val_x, test_x: ``torch.uint8`` frames ``(N, T, 3, H, W)``.
        train_attributes, val_attributes, test_attributes: ``torch.int64`` ``(N, 4)`` (body, bottom, top, hair).
        train_action, val_action, test_action: ``torch.int64`` ``(N,)``, 3 * action + direction (0..8).
        train_character, val_character, test_character: ``torch.int64`` ``(N,)`` (0..1295).
        split_seed: seed of the choice of validation characters.
        name: the data set name.
    """

    train_x: torch.Tensor
    val_x: torch.Tensor
    test_x: torch.Tensor
    train_attributes: torch.Tensor
    val_attributes: torch.Tensor
    test_attributes: torch.Tensor
    train_action: torch.Tensor
    val_action: torch.Tensor
    test_action: torch.Tensor
    train_character: torch.Tensor
    val_character: torch.Tensor
    test_character: torch.Tensor
    split_seed: int
    name: str


def validation_characters(characters: np.ndarray, val_fraction: float, split_seed: int) -> np.ndarray:
    """The training characters held out for validation: of the distinct ``characters`` in file order (the
    1000 training characters), the first ``round(1000 * val_fraction)`` of
    ``numpy.random.default_rng(split_seed).permutation(1000)``, returned sorted by file order."""
    first = np.sort(np.unique(characters, return_index=True)[1])
    distinct = characters[first]  # (K,) in file order
    num_val = int(round(len(distinct) * val_fraction))
    if not 0 < num_val < len(distinct):
        raise ConfigError(f"data.val_fraction={val_fraction} holds out {num_val} of the {len(distinct)} "
                          f"Sprites training characters; expected a share leaving both parts non-empty, e.g. 0.1")
    return distinct[np.sort(np.random.default_rng(split_seed).permutation(len(distinct))[:num_val])]


def _cap(arg: str, value: int | None, available: int) -> int:
    if value is None:
        return available
    if not 0 < value <= available:
        raise ConfigError(f"data.{arg}={value} is out of range; expected 1..{available} Sprites sequences")
    return value


def load_sprites(config: Any) -> VideoSplits:
    """The splits of ``config`` (a :class:`cmivae.config.DataConfig` with ``name="sprites"``); see the module."""
    character = read_labels("train", config.data_dir)["character"]  # (9000,)
    sequence_is_val = np.isin(character, validation_characters(character, config.val_fraction, config.split_seed))
    train_idx, val_idx = np.flatnonzero(~sequence_is_val), np.flatnonzero(sequence_is_val)
    if config.num_train is not None:
        num_train = _cap("num_train", config.num_train, len(train_idx))
        num_val = min(len(val_idx), max(1, int(round(num_train * config.val_fraction / (1.0 - config.val_fraction)))))
        train_idx, val_idx = train_idx[:num_train], val_idx[:num_val]
    num_test = _cap("num_test", config.num_test, len(read_labels("test", config.data_dir)["character"]))
    size = config.frame_size
    train, val = read_sprites_selected("train", [train_idx, val_idx], config.data_dir, size)
    (test,) = read_sprites_selected("test", [np.arange(num_test)], config.data_dir, size)
    parts = {"train": train, "val": val, "test": test}
    fields: dict[str, Any] = {}
    for part, arrays in parts.items():
        fields[f"{part}_x"] = torch.from_numpy(arrays.frames)  # (N, T, 3, H, W) uint8, no copy
        fields[f"{part}_attributes"] = torch.from_numpy(arrays.attributes)
        fields[f"{part}_action"] = torch.from_numpy(arrays.action)
        fields[f"{part}_character"] = torch.from_numpy(arrays.character)
    return VideoSplits(**fields, split_seed=config.split_seed, name=config.name)
