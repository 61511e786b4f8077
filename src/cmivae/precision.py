"""Device and numeric precision: the fast path is bf16 autocast (plus channels_last for
image models) wherever the hardware supports bf16 natively; fp32 otherwise or on request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from cmivae.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA if available else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but no CUDA device is available; use --set train.device=cpu")
    return device


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where the device computes bf16 natively, else ``fp32``."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """bf16 autocast for ``precision == "bf16"``, a no-op for fp32."""
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
