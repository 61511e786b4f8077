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
# The one owner of the smallest ``data.num_train`` a probe works with, by the images of every class it
# needs (README and errors read it here): the training split is a seeded random subset, so its rarest
# class has fewer than a tenth. Measured (split seed 0): Fashion-MNIST first has 100 of every class at
# 1,178 images, 10 at 138; MNIST's rarest class (5) is 9 % of its images, so ~1,110 on average for
# 100: 1,500 and 200 leave a margin.
MIN_NUM_TRAIN = {10: 200, 100: 1500}


def min_num_train(name: str) -> int | None:
    """The smallest ``data.num_train`` with which the metric ``name`` can be computed on MNIST and
    Fashion-MNIST (:data:`MIN_NUM_TRAIN`; ``None``: not a probe, any size works)."""
    needed = per_class_needed(name)
    if needed is None:
        return None
    fits = [size for per_class, size in sorted(MIN_NUM_TRAIN.items()) if per_class >= needed]
    return fits[0] if fits else int(math.ceil(needed * 15 / 100) * 100)


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
    enough = max(min_num_train(name) or 0 for name in short)
    if total >= enough:  # a split already that large and still short (another data set): scale its counts
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
