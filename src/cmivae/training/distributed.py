"""Multi-process training under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node=N -m cmivae train ...`` sets ``RANK``/``WORLD_SIZE``; each
rank then takes its shard of every global batch, the VAE is wrapped in DDP (gradients
averaged in backward), the critic's gradients are averaged explicitly after its
backward, and only rank 0 writes files. gloo on CPU, NCCL on GPU. Without torchrun every
function here is a no-op for one process.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


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


def wrap(trainer: Any) -> None:
    """Wrap the VAE in DDP when running with more than one process."""
    if world_size() > 1:
        from torch.nn.parallel import DistributedDataParallel

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


def shard_bounds(batch_size: int) -> slice:
    """This rank's slice of a global batch (the batch size must divide evenly)."""
    n = world_size()
    if n == 1:
        return slice(None)
    if batch_size % n:
        from cmivae.errors import ConfigError

        raise ConfigError(f"train.batch_size={batch_size} must be divisible by the number of processes ({n})")
    per_rank = batch_size // n
    return slice(rank() * per_rank, (rank() + 1) * per_rank)


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
