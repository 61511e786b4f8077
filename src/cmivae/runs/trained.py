"""A trained run, rebuilt for use: :func:`load_trained` -> ``(config, model, objective)``.

Evaluation, sampling and voice conversion read a run through this module only: it
rebuilds the model and objective from ``config.json`` (the resolved configs when the
run saved them, else the hashed config through the registry), loads ``best.pt`` and puts
them on the device in eval mode. No optimizer and no trainer are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cmivae.config import ExperimentConfig, load_config
from cmivae.infra.device import apply_backend_settings, backend_settings, batch_to_device, place
from cmivae.infra.errors import CheckpointError
from cmivae.infra.precision import resolve_device, resolve_precision
from cmivae.objectives.base import Objective
from cmivae.registry import build, resolve
from cmivae.runs import files
from cmivae.runs.checkpoint import load_checkpoint
from cmivae.runs.readers import read_saved


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
