"""What a probe can read from z: its geometry and the probes' answers across L2 strength and label count.

Usage: ``python study/scripts/z_geometry.py RUN_DIR [RUN_DIR ...]`` (PixelCNN-VAE image runs with ``best.pt``).

AoLR (Sec. 5.3) fits scikit-learn's logistic regression on the z-means of 1,000 labelled training images
(100 a class) and the paper does not give its L2 strength; AoSVM (appendix K.2) fits an RBF SVM on the same,
standardized. When the two disagree on which model has the better global features at the same KL(z) (the
tenth-session finding of study/FINDINGS.md), the question is whether the representations differ in how much
class information z holds or only in how a small-sample linear fit reads it. For each run this prints:

- ``au``: active units, the z dimensions whose mean E_q[z|x] varies across test images with variance > 0.01
  (Burda et al., 2016); ``pr``: the participation ratio (sum lambda)^2 / sum lambda^2 of the covariance of the
  test z-means, the number of directions the variance is spread over; ``scale``: the mean standard deviation
  of a z-mean coordinate;
- ``lr_C<C>`` / ``lrstd_C<C>``: the AoLR probe (the same 1,000 images as ``eval.json``'s, seed 0) raw and
  standardized at C in 0.01 ... 100 (C = 1 raw is ``aolr``, C = 100 raw is ``aolr_c100``);
- ``svm``: the AoSVM probe (``aosvm``); ``lrstd_all`` / ``svm_all``: the same probes fitted on every training
  image of the run's split (9,000 for ``pixelcnn-mid-long``), which a small-sample fit's variance cannot move.

A diagnostic, not a metric: nothing is written. The probes are :func:`cmivae.metrics.latent_probe.probe_accuracy`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from cmivae.data.registry import load_dataset
from cmivae.metrics.evaluate import z_means
from cmivae.metrics.latent_probe import balanced_subset, probe_accuracy
from cmivae.runs.trained import open_trained

STRENGTHS = (0.01, 0.1, 1.0, 10.0, 100.0)


def geometry(z: np.ndarray) -> dict[str, float]:
    """Active units, participation ratio and mean coordinate scale of ``(N, D)`` z-means."""
    variance = z.var(axis=0)  # (D,)
    eigen = np.clip(np.linalg.eigvalsh(np.cov(z, rowvar=False)), 0.0, None)  # (D,)
    return {"au": float((variance > 0.01).sum()), "pr": float(eigen.sum() ** 2 / max((eigen ** 2).sum(), 1e-30)),
            "scale": float(np.sqrt(variance).mean())}


def measure(run_dir: Path, full: bool = True, splits: object | None = None, per_class: int = 100) -> dict[str, float]:
    """The statistics of the module docstring for one run (``splits``: the run's data, default loaded
    from its config; ``per_class``: labelled images a class of the small-sample probes, 100 as AoLR)."""
    run = open_trained(run_dir, device="cpu")
    run.model.eval()
    data = splits if splits is not None else load_dataset(run.config.data)
    train_y, test_y = data.train_y.numpy(), data.test_y.numpy()  # type: ignore[attr-defined]
    z_test = z_means(run, data.test_x)  # type: ignore[attr-defined]
    values = geometry(z_test)
    idx = balanced_subset(train_y, per_class, np.random.default_rng(0))  # the eval's AoLR images (seed 0)
    # encoded on its own, as the evaluation does, so these probes reproduce eval.json to the digit
    z_train = z_means(run, data.train_x[idx])  # type: ignore[attr-defined]
    for C in STRENGTHS:
        values[f"lr_C{C:g}"] = probe_accuracy(z_train, train_y[idx], z_test, test_y, C=C)
        values[f"lrstd_C{C:g}"] = probe_accuracy(z_train, train_y[idx], z_test, test_y, standardize=True, C=C)
    values["svm"] = probe_accuracy(z_train, train_y[idx], z_test, test_y, classifier="svm")
    if full:
        z_all = z_means(run, data.train_x)  # type: ignore[attr-defined]
        values["lrstd_all"] = probe_accuracy(z_all, train_y, z_test, test_y, standardize=True)
        values["svm_all"] = probe_accuracy(z_all, train_y, z_test, test_y, classifier="svm")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="PixelCNN-VAE run directories (config.json, best.pt)")
    parser.add_argument("--no-full", action="store_true", help="skip the probes fitted on every training image")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    columns = ["au", "pr", "scale", *(f"lr_C{C:g}" for C in STRENGTHS), *(f"lrstd_C{C:g}" for C in STRENGTHS),
               "svm", "lrstd_all", "svm_all"]
    print("run\t" + "\t".join(columns))
    for run_dir in args.runs:
        values = measure(run_dir, full=not args.no_full)
        print(f"{run_dir}\t" + "\t".join(f"{values[c]:.4g}" if c in values else "-" for c in columns), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
