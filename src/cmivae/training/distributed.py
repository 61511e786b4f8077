"""Multi-process training under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node=N -m cmivae train ...`` sets ``RANK``/``WORLD_SIZE``; each
rank then takes its shard of every global batch, the VAE is wrapped in DDP (gradients
averaged in backward), the critic's gradients are averaged explicitly after its
backward, and only rank 0 writes files. gloo on CPU, NCCL on GPU. Without torchrun every
function here is a no-op for one process.

N processes with batch ``B / N`` each take the same step as one process with batch B,
up to float rounding, because every random draw of a training step is made for the
*global* batch on every rank (:func:`global_batch_noise`): all ranks start from the same
seed, draw the same global noise, keep their own rows, and so their random streams stay
equal to each other and to the single-process stream. (Otherwise every rank would draw
the *same* noise for different examples.) What still differs from one process: a batch
norm layer in the critic (CMI-VAE's D(z, s)) normalizes with per-rank batch statistics
on CPU; on GPU it is converted to ``SyncBatchNorm`` (PyTorch has no CPU SyncBatchNorm).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def init_from_environment() -> None:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)


def sync_batch_norm(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with every batch norm replaced by ``SyncBatchNorm`` (statistics over the
    global batch). The parameters are the same objects, so optimizers and state dicts
    built before still apply. GPU only: PyTorch's SyncBatchNorm refuses CPU tensors."""
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)


def wrap(trainer: Any) -> None:
    """Wrap the VAE in DDP when a process group exists (torchrun with more than one process,
    or a group of one set up by hand: the CUDA test of DDP), and, on GPU, make the critic's
    batch norms global-batch ones. ``trainer.device`` is ``cuda:LOCAL_RANK`` on GPU
    (:func:`cmivae.infra.device.resolve_device`), the one device DDP replicates on."""
    if dist.is_available() and dist.is_initialized():
        from torch.nn.parallel import DistributedDataParallel

        if trainer.device.type == "cuda" and trainer.objective.critic is not None:
            trainer.objective.critic = sync_batch_norm(trainer.objective.critic)
        device_ids = [trainer.device.index] if trainer.device.type == "cuda" else None
        trainer.ddp_model = DistributedDataParallel(trainer.model, device_ids=device_ids)


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Average gradients over processes (the critic's, which is not DDP-wrapped because the
    model step uses it frozen)."""
    n = world_size()
    if n == 1:
        return
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= n


def all_finite(value: torch.Tensor) -> bool:
    """Whether ``value`` is finite on *every* process, so that all ranks skip or stop on
    the same step (a rank that went on to backward alone would wait forever in DDP)."""
    finite = bool(torch.isfinite(value).all())
    if world_size() == 1:
        return finite
    flag = torch.tensor([1.0 if finite else 0.0], device=value.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def shard_bounds(batch_size: int) -> slice:
    """This rank's slice of a global batch (the batch size must divide evenly)."""
    n = world_size()
    if n == 1:
        return slice(None)
    if batch_size % n:
        from cmivae.infra.errors import ConfigError

        raise ConfigError(f"train.batch_size={batch_size} must be divisible by the number of processes ({n})")
    per_rank = batch_size // n
    return slice(rank() * per_rank, (rank() + 1) * per_rank)


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


# ---------------------------------------------------------------------------- global-batch noise

# Random functions a training step may call under torchrun; each is drawn for the global batch.
_SIZED = (torch.randn, torch.rand)  # randn(*size) / randn(size)
_LIKE = {torch.randn_like: torch.randn, torch.rand_like: torch.rand}
_IN_PLACE = (torch.Tensor.normal_, torch.Tensor.uniform_)
# Random functions that are refused there, rather than silently drawing the same values on every rank.
_REFUSED = (torch.bernoulli, torch.Tensor.bernoulli_, torch.multinomial, torch.poisson, torch.randint,
            torch.randint_like, torch.randperm, torch.Tensor.random_, torch.Tensor.exponential_,
            torch.Tensor.geometric_, torch.Tensor.log_normal_, torch.Tensor.cauchy_, torch.dropout,
            F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
            F.gumbel_softmax)


class GlobalBatchNoise(TorchFunctionMode):
    """Within this mode, a random draw whose first axis is the local batch ``B`` is made for
    the global batch ``(N * B, ...)`` and this rank's rows are returned.

    Handles ``torch.randn``/``rand`` (and ``*_like``), ``torch.normal`` and the in-place
    ``Tensor.normal_``/``uniform_`` (what ``Normal.rsample``/``sample`` call), which is how
    models and objectives draw reparameterization and prior noise: batch axis first, as
    everywhere in cmivae. Draws without a leading batch axis are left alone (every rank draws
    the same values, as one process would). Other random functions raise.
    """

    def __init__(self, local_batch: int, num_ranks: int, this_rank: int) -> None:
        super().__init__()
        self.local_batch = local_batch
        self.num_ranks = num_ranks
        self.rows = slice(this_rank * local_batch, (this_rank + 1) * local_batch)

    def _global(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The global shape of a local per-example draw, or ``None`` if not per-example."""
        if len(shape) == 0 or shape[0] != self.local_batch:
            return None
        return (self.num_ranks * self.local_batch, *shape[1:])

    def _take(self, draw: torch.Tensor, requires_grad: bool = False) -> torch.Tensor:
        local = draw[self.rows].clone()  # (N*B, ...) -> (B, ...)
        return local.detach().requires_grad_() if requires_grad else local

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _REFUSED:
            raise NotImplementedError(
                f"{getattr(func, '__name__', func)} draws random numbers in a training step, which multi-process "
                f"training does not support yet (only randn/rand/normal/normal_/uniform_ with the batch axis first "
                f"are drawn for the global batch); train with one process")
        if func in _SIZED and "out" not in kwargs:
            size = kwargs.get("size", args[0] if len(args) == 1 and not isinstance(args[0], int) else args)
            shape = self._global(tuple(int(s) for s in size))
            if shape is not None:
                options = {k: v for k, v in kwargs.items() if k not in ("size", "requires_grad")}
                return self._take(func(shape, **options), kwargs.get("requires_grad", False))
        elif func in _LIKE:
            like = args[0]
            shape = self._global(tuple(like.shape))
            if shape is not None and len(args) == 1 and not kwargs.get("requires_grad", False):
                options = {"dtype": kwargs.get("dtype") or like.dtype, "device": kwargs.get("device") or like.device}
                return self._take(_LIKE[func](shape, generator=kwargs.get("generator"), **options))
        elif func in _IN_PLACE:
            target = args[0]
            shape = self._global(tuple(target.shape))
            if shape is not None:
                draw = torch.empty(shape, dtype=target.dtype, device=target.device)
                func(draw, *args[1:], **kwargs)
                with torch.no_grad():
                    return target.copy_(draw[self.rows])
        elif func is torch.normal and "out" not in kwargs:
            return self._normal(func, args, kwargs)
        return func(*args, **kwargs)

    def _normal(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``torch.normal``: ``(mean, std)`` with a tensor among them, or ``(mean, std, size)``."""
        mean = args[0] if args else kwargs.get("mean")
        std = args[1] if len(args) > 1 else kwargs.get("std")
        size = args[2] if len(args) > 2 else kwargs.get("size")
        if size is not None:  # floats and a size: the same call at the global size
            shape = self._global(tuple(int(s) for s in size))
            if shape is None:
                return func(*args, **kwargs)
            rest = {k: v for k, v in kwargs.items() if k not in ("mean", "std", "size")}
            return self._take(func(float(mean), float(std), shape, **rest))
        tensor = mean if isinstance(mean, torch.Tensor) else std
        shape = self._global(tuple(torch.broadcast_shapes(torch.as_tensor(mean).shape, torch.as_tensor(std).shape)))
        if shape is None:
            return func(*args, **kwargs)
        # torch.normal(mean, std) is standard normal noise, times std, plus mean (bit for bit).
        noise = torch.randn(shape, dtype=tensor.dtype, device=tensor.device, generator=kwargs.get("generator"))
        return self._take(noise).mul_(std).add_(mean)


def global_batch_noise(local_batch: int) -> contextlib.AbstractContextManager[Any]:
    """Draw a training step's per-example noise for the global batch (see :class:`GlobalBatchNoise`);
    nothing changes with one process."""
    if world_size() == 1:
        return contextlib.nullcontext()
    return GlobalBatchNoise(local_batch, world_size(), rank())
