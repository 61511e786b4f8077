"""Averages of an objective's terms over a data set (validation during training, the test set
after it and in ``cmivae evaluate``): the one batch loop over the objective outside training."""

from __future__ import annotations

from typing import Any

import torch

from cmivae.infra.precision import autocast


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
