"""Issue 30: why ``aolr_cv_all`` took 8-9 minutes a run, and what one BLAS thread makes of it.

``python -m benchmarks.probe_blas_threads [--labels 6000] [--threads 2] [--probe]``: a
stand-in for a run's z-means (a seeded 10-class Gaussian mixture, ``--dims`` 32, spread like
the pixelcnn-cpu z-means, std ~0.4), then one lbfgs fit of the size the ``_all`` grid search
fits five times per C (``4/5`` of ``min(labels, CV_MAX_EXAMPLES)`` labels, ``C = 100``,
:data:`~cmivae.metrics.latent_probe.CV_MAX_ITER`) on one BLAS thread and on ``--threads``,
each with its CPU and wall seconds, lbfgs iterations and whether the coefficients agree bit
for bit; with ``--probe``, the whole :func:`~cmivae.metrics.latent_probe.cross_validated_probe`
as ``evaluate`` runs it (one BLAS thread above
:data:`~cmivae.metrics.latent_probe.ONE_BLAS_THREAD_ABOVE` labels).

Measured 2026-12-07 on the 2-core development machine with both cores busy (a study sweep at
``--jobs 2``) on a real run's z-means (616759657167, 4,000 labels): 0.3 s of CPU on one thread,
34 s on 2 (308 iterations); the run's whole ``aolr_cv_all`` (6,000 labels) 10.5 s of CPU. This
stand-in, same machine and load: 0.35 s on one thread, 21 s on 2 (318 iterations, coefficients
bit-identical); ``--threads 1 --probe``: 7.2 s of CPU for the whole probe (chosen C = 10). On
idle cores the 2-thread fit need not be slow: the cost is OpenBLAS's worker threads spinning
for a core another process holds. Keep ``--threads 2`` runs short on a busy machine.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from benchmarks.timing import load_average, machine_line
from cmivae.metrics.latent_probe import CV_FOLDS, CV_MAX_EXAMPLES, CV_MAX_ITER, blas_threads, cross_validated_probe


def mixture(labels: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, dims)`` features and ``(labels,)`` classes of an overlapping 10-class mixture
    (the same class means for every ``seed``, which draws the examples)."""
    means = np.random.default_rng(0).normal(size=(10, dims))  # (10, D)
    rng = np.random.default_rng(seed + 1)
    y = rng.integers(10, size=labels)
    scale = np.geomspace(0.01, 1.0, dims)  # (D,): ill-conditioned, as z-means are (lbfgs needs hundreds of steps)
    return scale * (means[y] + 3.0 * rng.normal(size=(labels, dims))), y  # (N, D), (N,)


def time_fit(x: np.ndarray, y: np.ndarray, threads: int) -> tuple[float, float, int, np.ndarray]:
    """CPU and wall seconds, iterations and coefficients of one search fit on ``threads`` BLAS threads."""
    with threadpool_limits(limits=threads, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cpu, wall = time.process_time(), time.perf_counter()
        model = LogisticRegression(C=100.0, max_iter=CV_MAX_ITER, random_state=0).fit(x, y)
        return time.process_time() - cpu, time.perf_counter() - wall, int(model.n_iter_[0]), model.coef_.copy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=6000, help="training labels of the probe (default 6000)")
    parser.add_argument("--dims", type=int, default=32, help="features per example (default 32, the z of pixelcnn-cpu)")
    parser.add_argument("--threads", type=int, default=2, help="the BLAS thread count compared with one (default 2)")
    parser.add_argument("--probe", action="store_true", help="also time the whole cross-validated probe")
    args = parser.parse_args(argv)
    print(machine_line(), f"| load average {load_average()} | BLAS threads of this process {blas_threads()}")
    x, y = mixture(args.labels, args.dims)
    fold = min(args.labels, CV_MAX_EXAMPLES) * (CV_FOLDS - 1) // CV_FOLDS
    coefs = {}
    for threads in (1, args.threads):
        cpu, wall, iterations, coefs[threads] = time_fit(x[:fold], y[:fold], threads)
        print(f"one search fit ({fold} x {args.dims}, C = 100), {threads} BLAS thread(s): {cpu:.2f} s CPU, "
              f"{wall:.2f} s wall, {iterations} lbfgs iterations")
    same = np.array_equal(coefs[1], coefs[args.threads])
    print(f"coefficients bit-identical on 1 and {args.threads} threads: {same}")
    if args.probe:
        test_x, test_y = mixture(2000, args.dims, seed=1)
        cpu, wall = time.process_time(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = cross_validated_probe(x, y, test_x, test_y, "logistic", seed=0)
        print(f"cross_validated_probe on {args.labels} labels: {time.process_time() - cpu:.1f} s CPU, "
              f"{time.perf_counter() - wall:.1f} s wall; accuracy {result.accuracy}, chosen {result.chosen}, "
              f"BLAS threads {result.blas_threads}")


if __name__ == "__main__":
    main()
