"""Frames as stored and as models see them: the one owner of the pixel scale of video data.

Video splits hold uint8 frames ``(N, T, C, H, W)`` (T frames, C = 3 RGB channels), so a data set
of 11,664 sequences of 8 frames at 64 x 64 takes 1.15 GB and never a float copy. A model turns a
batch into floats with :func:`to_unit_float`: value / 256, the Sprites benchmark's own scale
(Li & Mandt 2018: pixel values in [0, 255/256]).
"""

from __future__ import annotations

import torch

FRAME_SCALE = 256.0  # float frame = uint8 value / FRAME_SCALE, in [0, 255/256]


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 frames ``(..., C, H, W)`` -> float32 in ``[0, 255/256]``; a float tensor is returned as it is
    (already on the unit scale), so a model accepts either."""
    if x.dtype == torch.uint8:
        return x.float() / FRAME_SCALE
    return x
