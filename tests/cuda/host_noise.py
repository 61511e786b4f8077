"""Draw every random number of a training step from the CPU generator, whatever the device,
so a CPU run and a CUDA run of the same step see the same noise (the tests of tests/cuda)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

_SIZED = (torch.randn, torch.rand)
_LIKE = {torch.randn_like: torch.randn, torch.rand_like: torch.rand}
_IN_PLACE = (torch.Tensor.normal_, torch.Tensor.uniform_)


class HostNoise(TorchFunctionMode):
    """Within this mode ``randn``/``rand`` (and ``*_like``), ``torch.normal`` and the in-place
    ``normal_``/``uniform_`` (what ``Normal.rsample``/``sample`` call) are drawn on the CPU
    and copied to the requested device. On the CPU nothing changes (same calls, same stream)."""

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = dict(kwargs or {})
        if func in _SIZED and "generator" not in kwargs:
            device = torch.device(kwargs.pop("device", None) or "cpu")
            return func(*args, **kwargs, device="cpu").to(device)
        if func in _LIKE:
            like = args[0]
            dtype = kwargs.get("dtype") or like.dtype
            return _LIKE[func](tuple(like.shape), dtype=dtype, device="cpu").to(kwargs.get("device") or like.device)
        if func in _IN_PLACE:
            target = args[0]
            draw = torch.empty(target.shape, dtype=target.dtype, device="cpu")
            func(draw, *args[1:], **kwargs)
            with torch.no_grad():
                return target.copy_(draw)
        if func is torch.normal and args and isinstance(args[0], torch.Tensor) and len(args) == 2:
            mean, std = args
            device = mean.device
            std = std.cpu() if isinstance(std, torch.Tensor) else std
            return func(mean.cpu(), std, **kwargs).to(device)
        return func(*args, **kwargs)
