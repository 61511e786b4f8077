"""Numeric precision: bf16 autocast wherever the hardware computes bf16 natively; fp16
autocast with loss scaling on GPUs without bf16; fp32 otherwise or on request.

``train.precision`` values:

- ``auto``: CPU: ``bf16`` with native bf16 (AVX512-BF16 or AMX), else ``fp32``. CUDA: ``bf16``
  on GPUs with native bf16 (compute capability >= 8.0: A100, H100, ...), else ``fp16``.
- ``bf16`` / ``fp16``: autocast to that dtype (parameters and optimizer state stay fp32).
  ``fp16`` has 5 exponent bits, so its gradients are scaled (``torch.amp.GradScaler``,
  one per optimizer; their state is in every checkpoint) and a step whose gradients
  overflow is skipped by the scaler, which lowers the scale (not an error).
- ``tf32``: fp32 everywhere, with TF32 tensor-core matmuls and convolutions on CUDA
  (the same as ``fp32`` on the CPU).
- ``fp32``: IEEE fp32 on every device (TF32 off on CUDA).

Device placement lives in :mod:`cmivae.infra.device`; :func:`resolve_device` is
re-exported here for existing callers.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch

from cmivae.infra.device import resolve_device

__all__ = ["AUTOCAST_DTYPES", "PRECISIONS", "autocast", "cpu_has_fast_bf16", "cuda_has_native_bf16",
           "make_grad_scaler", "numerics", "resolve_device", "resolve_precision", "run_lstm"]

PRECISIONS = ("auto", "bf16", "fp16", "tf32", "fp32")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX); read once
    per process (the CPU does not change under it)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_has_native_bf16(device: torch.device) -> bool:
    """True when the GPU computes bf16 in hardware (compute capability >= 8.0).

    ``torch.cuda.is_bf16_supported()`` alone also says yes on older GPUs where bf16 is
    emulated (slower than fp32), so the capability is checked too.
    """
    if torch.cuda.get_device_capability(device) < (8, 0):
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.3: no including_emulation argument
        return bool(torch.cuda.is_bf16_supported())


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where the device computes bf16 natively, else ``fp16`` (CUDA)
    or ``fp32`` (CPU); any other value is returned as given."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if cuda_has_native_bf16(device) else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Autocast to bf16 or fp16 for those precisions; a no-op for fp32 and tf32."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device.type, dtype=dtype):
        yield


def make_grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A loss scaler, enabled for ``fp16`` only. Disabled, every method is a pass-through:
    ``scale(loss)`` is ``loss`` and ``step(optimizer)`` is ``optimizer.step()``, bit for bit."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def _cpu_bf16_autocast_active() -> bool:
    """True inside ``torch.autocast("cpu", dtype=torch.bfloat16)``."""
    try:  # torch >= 2.4
        return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    except TypeError:  # torch 2.2-2.3: the per-device functions take no argument
        return torch.is_autocast_cpu_enabled() and torch.get_autocast_cpu_dtype() == torch.bfloat16


def run_lstm(lstm: torch.nn.LSTM, x: torch.Tensor) -> Any:
    """``lstm(x)``, also under CPU bf16 autocast on a CPU without oneDNN bf16 kernels.

    There autocast sends ``nn.LSTM`` to oneDNN's bf16 LSTM, which such a CPU (AVX2 only, say)
    cannot create ("could not create a primitive descriptor for the LSTM forward propagation
    primitive"); the LSTM then runs in fp32 with autocast off, which is also what its bf16
    would be emulated as. Everything else is unchanged: returns what ``nn.LSTM`` returns.
    """
    if x.device.type == "cpu" and _cpu_bf16_autocast_active() and not cpu_has_fast_bf16():
        with torch.autocast("cpu", enabled=False):
            return lstm(x.float())
    return lstm(x)


def numerics(device: torch.device, precision: str) -> dict[str, Any]:
    """What a run computes with, beyond its config: the resolved ``precision`` (``auto`` becomes
    ``bf16`` on one machine and ``fp32`` on another, under the same run id), the device, and the
    CPU's vector ISA (``torch.backends.cpu.get_cpu_capability()``: ``AVX512``, ``AVX2``, ...) and
    whether it has bf16 kernels. ``config.json`` records it (outside the run id)."""
    record: dict[str, Any] = {"precision": precision, "device": device.type,
                              "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                              "cpu_native_bf16": cpu_has_fast_bf16()}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record
