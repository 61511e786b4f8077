"""Checks that every requested metric can be computed for a run, made before any metric is.

``cmivae evaluate`` computes its metrics for minutes; a metric that cannot be computed for a
run (too few training images per class for the probes of Sec. 5.3) must fail in one line
*before* that work, naming the config key that fixes it, not as a traceback at the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from cmivae.infra.errors import ConfigError
from cmivae.metric_names import probe_protocol

# Training images of every class a probe draws, by what it is fitted on (Sec. 5.3, appendix K.2):
# the mean of q(z|x) (or pooled s) of 100 per class (AoLR, AoSVM, the s probes), or 10 real images
# per class (mCAS, baseline).
PER_CLASS_NEEDED = {"z_mean": 100, "s_pooled": 100, "generated": 10, "real": 10}


def per_class_needed(name: str) -> int | None:
    """Training images of every class the metric ``name`` needs (``None``: not a probe); an
    ``_all`` probe takes every training image, so it needs one per cross-validation fold."""
    protocol = probe_protocol(name)
    if protocol is None:
        return None
    if protocol.labels == "all":
        from cmivae.metrics.latent_probe import CV_FOLDS

        return CV_FOLDS
    return PER_CLASS_NEEDED[protocol.features]


def check_image_metrics(wanted: Iterable[str], train_labels: np.ndarray, num_train: int | None) -> None:
    """Raise :class:`ConfigError` if a wanted image metric needs more training images of a
    class than the run's training split holds.

    Args:
        wanted: the metric names requested.
        train_labels: ``(N,)`` labels of the run's training split.
        num_train: the run's ``data.num_train`` (``None``: the whole training set).
    """
    wanted = list(wanted)
    needs = {name: n for name in wanted if (n := per_class_needed(name)) is not None}
    if not needs:
        return
    classes, counts = np.unique(np.asarray(train_labels), return_counts=True)
    fewest = int(counts.min()) if counts.size else 0
    short = sorted(name for name, n in needs.items() if fewest < n)
    if not short:
        return
    per_class = max(needs[name] for name in short)
    rarest = int(classes[int(np.argmin(counts))]) if counts.size else None
    total = int(len(train_labels))
    # The training split is a random subset, so class counts scale with data.num_train.
    enough = int(math.ceil(per_class * total / max(fewest, 1) * 1.1 / 100.0) * 100)
    keep = [name for name in wanted if name not in short]
    raise ConfigError(
        f"{', '.join(short)} need{'s' if len(short) == 1 else ''} {per_class} training images of every class, but "
        f"this run's training split has {total} images and only {fewest} of class {rarest} "
        f"(data.num_train={num_train}); retrain with --set data.num_train={enough} or more, or leave "
        f"{'it' if len(short) == 1 else 'them'} out" + (f" (--metrics {' '.join(keep)})" if keep else ""))


def check_probe_metrics(wanted: Iterable[str], splits: Any, num_train: int | None) -> None:
    """:func:`check_image_metrics` on ``splits.train_y`` when a wanted metric is a probe (the
    only metrics with a per-class need); nothing to check otherwise."""
    wanted = list(wanted)
    if any(per_class_needed(name) is not None for name in wanted):
        check_image_metrics(wanted, splits.train_y.numpy(), num_train)
