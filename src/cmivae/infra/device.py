"""Where a process computes, and the backend switches for that device.

One owner for every device-dependent decision of training, sampling and evaluation:

- :func:`resolve_device`: ``train.device`` -> a ``torch.device``. ``auto`` is CUDA when a
  GPU is visible, else the CPU. Under ``torchrun`` a CUDA device is always
  ``cuda:LOCAL_RANK`` (one process per GPU); asking for another index there is an error.
- :func:`backend_settings` / :func:`apply_backend_settings`: on CUDA, TF32 tensor-core
  matmuls and convolutions for every precision but ``fp32`` (``fp32`` is IEEE fp32, what the
  CPU computes, so the two can be compared), cuDNN autotuning (``cudnn.benchmark``: every
  convolution of a run has one fixed shape) unless ``train.deterministic``; with
  ``train.deterministic``, deterministic algorithms on any device (``warn_only``: an op
  without a deterministic kernel warns instead of stopping the run). These switches are
  process-wide: :func:`cmivae.training.loop.build_trainer` and
  :func:`cmivae.runs.trained.open_trained` set them, so in a process that
  builds several trainers (tests, benchmarks) the last one built decides.
- :func:`use_channels_last`: the memory format of the PixelCNN decoder, per device.
  CPU: channels_last under bf16 (measured: oneDNN's brgemm convolutions, BENCHMARKS.md).
  CUDA: channels_last under bf16/fp16 autocast, where cuDNN's tensor-core kernels are NHWC
  (a choice *to be measured*: ``python -m benchmarks --device cuda --only pixelcnn`` times
  both formats in the same rounds; set ``train.channels_last`` to override).
- :func:`place` / :func:`batch_to_device`: a model and objective (and each batch) on the device,
  in that memory format (training and :mod:`cmivae.runs.trained` call them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cmivae.infra.errors import ConfigError

# cuBLAS needs a fixed workspace to be deterministic (CUDA >= 10.2); read when cuBLAS starts.
CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"


def local_rank() -> int | None:
    """``LOCAL_RANK`` set by ``torchrun`` (the process's index on its machine), else ``None``."""
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value not in (None, "") else None


def resolve_device(name: str) -> torch.device:
    """``train.device`` as a ``torch.device``.

    ``auto`` -> CUDA if available, else CPU. A CUDA device gets an explicit index: under
    ``torchrun`` ``cuda:LOCAL_RANK``, otherwise the current device (``cuda:0`` unless
    changed), so that DDP and checkpoints know which GPU holds the tensors.

    Raises:
        ConfigError: CUDA asked for but not available, an index out of range, or an index
            other than ``LOCAL_RANK`` under torchrun.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"train.device={name!r} is not supported; use auto, cpu or cuda[:N]")
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but no CUDA device is available; use --set train.device=cpu")
    rank = local_rank()
    count = torch.cuda.device_count()
    if rank is not None:
        if device.index is not None and device.index != rank:
            raise ConfigError(f"train.device={name!r} under torchrun, but this process has LOCAL_RANK={rank} and "
                              f"owns cuda:{rank}; use --set train.device=auto (one process per GPU)")
        index = rank
    else:
        index = device.index if device.index is not None else torch.cuda.current_device()
    if index >= count:
        raise ConfigError(f"train.device=cuda:{index} but only {count} CUDA device(s) are visible "
                          f"(cuda:0..cuda:{count - 1}); pick one of them or check CUDA_VISIBLE_DEVICES")
    return torch.device("cuda", index)


@dataclass(frozen=True)
class BackendSettings:
    """Process-wide switches for one run's device (see the module docstring)."""

    tf32: bool  # CUDA: TF32 tensor cores for fp32 matmuls and convolutions
    cudnn_benchmark: bool  # CUDA: autotune convolution algorithms for the run's fixed shapes
    deterministic: bool  # deterministic algorithms (and cuDNN) on any device


def backend_settings(device: torch.device, precision: str, deterministic: bool = False) -> BackendSettings:
    """The switches for ``device`` and the resolved ``precision`` (``bf16``, ``fp16``, ``tf32``, ``fp32``)."""
    cuda = device.type == "cuda"
    return BackendSettings(tf32=cuda and precision != "fp32", cudnn_benchmark=cuda and not deterministic,
                           deterministic=deterministic)


def current_backend_state() -> dict[str, Any]:
    """The switches :func:`apply_backend_settings` changes, as they are now (to restore them)."""
    return {"matmul_tf32": torch.backends.cuda.matmul.allow_tf32, "cudnn_tf32": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled()}


def restore_backend_state(state: dict[str, Any]) -> None:
    """Undo :func:`apply_backend_settings` (tests)."""
    torch.backends.cuda.matmul.allow_tf32 = state["matmul_tf32"]
    torch.backends.cudnn.allow_tf32 = state["cudnn_tf32"]
    torch.backends.cudnn.benchmark = state["cudnn_benchmark"]
    torch.backends.cudnn.deterministic = state["cudnn_deterministic"]
    torch.use_deterministic_algorithms(state["deterministic"], warn_only=state["deterministic_warn_only"])


def apply_backend_settings(device: torch.device, settings: BackendSettings) -> None:
    """Set the process-wide switches. On the CPU only ``deterministic`` is applied (the CPU
    path is already bit-reproducible; the CUDA switches would change nothing there)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = settings.tf32
        torch.backends.cudnn.allow_tf32 = settings.tf32
        torch.backends.cudnn.benchmark = settings.cudnn_benchmark
        torch.backends.cudnn.deterministic = settings.deterministic
        if settings.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC_WORKSPACE)
    if settings.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def use_channels_last(device: torch.device, precision: str, model: torch.nn.Module,
                      setting: bool | str = "auto") -> bool:
    """Whether the model's ``channels_last_module()`` (the PixelCNN decoder; ``None`` for
    models without one, :mod:`cmivae.models.contract`) runs in channels_last
    (``train.channels_last``: ``auto``, true or false)."""
    if model.channels_last_module() is None:
        return False
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return precision in ("bf16", "fp16")  # NHWC tensor-core kernels; to be measured (module docstring)
    # The stride-1 masked convolutions on oneDNN; its strided bf16 convolutions (encoder, critic)
    # are many times slower in channels_last, so only the decoder is converted.
    return precision == "bf16"


def optimizer_options(device: torch.device) -> dict[str, Any]:
    """Extra ``torch.optim.Adam`` arguments per device: on CUDA the fused kernel (one launch
    for all parameters instead of several per tensor: the step is launch-bound at 28x28,
    BENCHMARKS.md); on the CPU none (the default implementation, as measured there)."""
    return {"fused": True} if device.type == "cuda" else {}


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA kernels run asynchronously); no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_bytes(device: torch.device) -> int | None:
    """Peak bytes allocated by tensors on a CUDA device since the last reset, ``None`` elsewhere."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return None


def describe(device: torch.device) -> str:
    """``NVIDIA H200 (sm_90, 139.8 GiB)``, or ``cpu``."""
    if device.type != "cuda":
        return "cpu"
    props = torch.cuda.get_device_properties(device)
    return f"{props.name} (sm_{props.major}{props.minor}, {props.total_memory / 2**30:.1f} GiB)"


def place(model: nn.Module, objective: nn.Module, device: torch.device, precision: str,
          setting: bool | str = "auto") -> bool:
    """Move model and objective to ``device`` and put the model's ``channels_last_module()``
    (if any) in channels_last where :func:`cmivae.infra.device.use_channels_last` says so for this
    device, precision and ``train.channels_last`` ``setting``. Returns whether it did."""
    model.to(device)
    objective.to(device)
    if not use_channels_last(device, precision, model, setting):
        return False
    model.channels_last_module().to(memory_format=torch.channels_last)
    return True


def batch_to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A batch on the device, as float, channels_last for 4-D image batches on the fast path. Video frames
    ``(B, T, C, H, W)`` stay uint8: the model puts them on the unit scale (``data.video.frames.to_unit_float``)."""
    x = x.to(device, non_blocking=True)
    x = x.float() if x.dtype == torch.uint8 and x.dim() != 5 else x
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
