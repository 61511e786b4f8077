"""Masked (causal) convolutions for PixelCNN (van den Oord et al. 2016).

A k x k causal convolution may only see pixels above the current one, and pixels to its
left on the current row (mask "A", the first layer) or the current pixel too (mask "B").
Every kernel row below the centre is masked out, so :class:`MaskedConv2d` stores only
the top ``k // 2 + 1`` rows and pads the input at the top instead of on both sides:
a 7x7 layer computes 28 taps instead of 49 (25 of them useful), in one convolution, and
gives exactly what a full masked 7x7 kernel gives (:meth:`MaskedConv2d.full_kernel`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

MaskType = Literal["A", "B"]


def causal_mask(kernel_size: int, mask_type: MaskType, rows: int | None = None) -> torch.Tensor:
    """The ``(rows, k)`` 0/1 mask of a causal kernel; ``rows`` defaults to ``k // 2 + 1``
    (the cropped kernel); ``rows = k`` gives the classic full mask."""
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    centre = kernel_size // 2
    rows = centre + 1 if rows is None else rows
    mask = torch.zeros(rows, kernel_size)
    mask[:centre] = 1.0
    mask[centre, : centre + (1 if mask_type == "B" else 0)] = 1.0
    return mask


class MaskedConv2d(nn.Module):
    """Causal ``k x k`` convolution storing only the kernel rows the mask keeps.

    Input and output are ``(B, C, H, W)`` with the same H, W.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: MaskType) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.mask_type = mask_type
        rows = kernel_size // 2 + 1
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, rows, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("mask", causal_mask(kernel_size, mask_type), persistent=False)
        # Initialize as a full k x k conv would (fan-in counts the unmasked taps).
        fan_in = in_channels * int(self.mask.sum().item())
        nn.init.uniform_(self.weight, -(1.0 / fan_in) ** 0.5, (1.0 / fan_in) ** 0.5)

    @property
    def padding(self) -> tuple[int, int, int, int]:
        """``F.pad`` order (left, right, top, bottom): k//2 on the sides and the top only."""
        half = self.kernel_size // 2
        return (half, half, half, 0)

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask  # (O, I, k//2+1, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, self.padding), self.masked_weight(), self.bias)

    def full_kernel(self) -> torch.Tensor:
        """The equivalent classic ``(O, I, k, k)`` masked kernel (zeros below the centre)."""
        half = self.kernel_size // 2
        return F.pad(self.masked_weight(), (0, 0, 0, half))  # (O, I, k//2+1, k) -> (O, I, k, k)

    def extra_repr(self) -> str:
        o, i, _, k = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, mask_type={self.mask_type!r}"
