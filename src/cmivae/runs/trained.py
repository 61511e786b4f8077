"""A trained run, rebuilt for use: :func:`load_trained` -> ``(config, model, objective)``.

Evaluation, sampling and voice conversion read a run through this module only: it
rebuilds the model and objective from ``config.json`` (the resolved configs when the
run saved them, else the hashed config through the registry), loads ``best.pt`` and puts
them on the device in eval mode. No optimizer and no trainer are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cmivae.config import ExperimentConfig, load_config
from cmivae.infra.device import apply_backend_settings, backend_settings, use_channels_last
from cmivae.infra.errors import CheckpointError
from cmivae.infra.precision import autocast, resolve_device, resolve_precision
from cmivae.objectives.base import Objective
from cmivae.registry import build, resolve
from cmivae.runs import files
from cmivae.runs.checkpoint import load_checkpoint
from cmivae.runs.readers import read_saved


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


@dataclass
class TrainedModel:
    """A run's model and objective with the best weights, on a device, in eval mode."""

    config: ExperimentConfig
    model: nn.Module
    objective: Objective
    device: torch.device
    precision: str
    channels_last: bool

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        return batch_to_device(x, self.device, self.channels_last)


def open_trained(run_dir: str | Path, device: str | None = None) -> TrainedModel:
    """The best checkpoint of ``run_dir`` as a :class:`TrainedModel`.

    Args:
        run_dir: a run directory with ``config.json`` and ``best.pt``.
        device: ``cpu``, ``cuda[:N]`` or ``auto``; default the run's ``train.device``.

    Raises:
        ConfigError: no (readable) ``config.json``.
        CheckpointError: no ``best.pt`` or a damaged one.
    """
    run_dir = Path(run_dir)
    if not (run_dir / files.CONFIG).exists():
        read_saved(run_dir)  # raises: not a run directory
    best_path = run_dir / files.BEST
    if not best_path.exists():
        raise CheckpointError(f"{run_dir} is not a trained run directory: {files.BEST} is missing; finish training "
                              f"it first (rerun `cmivae train` with --out {run_dir})")
    config = load_config(read_saved(run_dir)["config"])
    model, objective = build(resolve(config))
    torch_device = resolve_device(device or config.train.device)
    precision = resolve_precision(config.train.precision, torch_device)
    apply_backend_settings(torch_device, backend_settings(torch_device, precision, config.train.deterministic))
    channels_last = place(model, objective, torch_device, precision, config.train.channels_last)
    best = load_checkpoint(best_path, map_location=torch_device)
    try:
        model.load_state_dict(best["model"])
        objective.load_state_dict(best["objective"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(f"{best_path} does not match the run's config ({str(err).splitlines()[0]}); "
                              f"retrain the run with --force") from None
    model.eval()
    objective.eval()
    return TrainedModel(config, model, objective, torch_device, precision, channels_last)


def load_trained(run_dir: str | Path, device: str | None = None) -> tuple[ExperimentConfig, nn.Module, Objective]:
    """``(config, model, objective)`` of a trained run (see :func:`open_trained`)."""
    run = open_trained(run_dir, device)
    return run.config, run.model, run.objective


@torch.no_grad()
def objective_means(run: Any, data: torch.Tensor, seed: int) -> dict[str, float]:
    """Mean of every loss term over ``data`` with the model and critic in eval mode.

    ``run`` is a :class:`TrainedModel` or a training loop's ``Trainer`` (same attributes).
    Uses its own seeded random stream, so evaluating never changes the training stream;
    the modules are left in train mode only if they were.
    """
    modes = (run.model.training, run.objective.training)
    run.model.eval()
    run.objective.eval()
    sums: dict[str, float] = {}
    n = 0
    batch_size = run.config.train.eval_batch_size
    with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, data.shape[0], batch_size):
            x = run.to_device(data[start:start + batch_size])
            with autocast(run.device, run.precision):
                out = run.model(x)
                terms = run.objective.loss(out, x)
            for name, value in terms.as_floats().items():
                sums[name] = sums.get(name, 0.0) + value * x.shape[0]
            n += x.shape[0]
    run.model.train(modes[0])
    run.objective.train(modes[1])
    means = {name: value / n for name, value in sums.items()}
    means["elbo"] = -means["neg_elbo"]
    return means
