"""Training: :func:`fit` runs one experiment into a run directory."""

from cmivae.training.loop import Trainer, build_trainer, fit, train_step

__all__ = ["Trainer", "build_trainer", "fit", "train_step"]
