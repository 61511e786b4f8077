"""Up to how many nats Î(z; s) can be trusted: the estimator of appendix A on pairs with known I(z; s).

A classifier-based estimate from N pairs (Eqs. 15-16, :mod:`cmivae.metrics.mutual_information`)
cannot certify much more than about log N nats, and its pooled s encoder loses more (issue 30,
item 3). So the same estimator, at the settings of ``cmivae evaluate``
(:data:`cmivae.metrics.evaluate.MI_STEPS` critic steps, :data:`~cmivae.metrics.evaluate.MI_TEST_PAIRS`
held-out pairs), is run on synthetic pairs whose I(z; s) is known in closed form, at
N = 2,000 training pairs (``evaluate``'s :data:`~cmivae.metrics.evaluate.MI_TRAIN_PAIRS`) and
9,000, for true values from 1 to 10 nats.

The construction (:func:`synthetic_pairs`): z ~ N(0, I_16); a Gaussian vector
u = rho z_{1..k} + sqrt(1 - rho^2) e, e ~ N(0, I_k), so I(z; u) = -(k/2) log(1 - rho^2), rho chosen
for the target nats; s is an injective function of u, so I(z; s) = I(z; u) exactly. The layouts:

- ``concentrated-*``: k = 2 (the information in two directions of z, as in the estimator's
  tests), u copied to every position of the map (``(2, 8, 8)`` image s; ``(8, 2)`` sequence s);
- ``diffuse-*``: k = 16 (every direction of z holds a little), u copied to every position
  (``(16, 8, 8)``; ``(8, 16)``);
- ``spread-image``: k = 16, a fixed random dense linear map of u over every value of a
  ``(4, 28, 28)`` map (an image's spatial size), so each position holds another mixture.

Copies of u at every position are the pooled critic's easiest case (pooling loses nothing).

The bound (:func:`trusted_bound`): the largest true value B such that it and every smaller
true value are recovered within :func:`tolerance` (max(0.15 nats, 15 %), the estimator tests'
tolerance). ``eval.json`` records, as ``mi_zs_bound``, the largest such B over the layouts of
its s rank (:func:`bound_for`): a ceiling, above which no layout was recovered, so an estimate
above it says only "at least about B"; report tables show it as ``> B``
(:mod:`cmivae.reports.tables`). Below B a diffuse dependence can still be underestimated: the
table shows by how much.

The measured numbers are :data:`CALIBRATION` below, from::

    OMP_NUM_THREADS=1 python -m cmivae.metrics.mi_calibration    # ~5 min of CPU; prints the table

(one critic seed per point; the literal it prints replaces :data:`CALIBRATION`).
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

TRUE_NATS = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)
TRAIN_PAIRS = (2000, 9000)
Z_DIM = 16
# layout -> (directions of z that hold the information, s shape, how u is laid out over s)
LAYOUTS: dict[str, tuple[int, tuple[int, ...], str]] = {
    "concentrated-image": (2, (2, 8, 8), "broadcast"),
    "diffuse-image": (Z_DIM, (Z_DIM, 8, 8), "broadcast"),
    "spread-image": (Z_DIM, (4, 28, 28), "spread"),
    "concentrated-sequence": (2, (8, 2), "broadcast"),
    "diffuse-sequence": (Z_DIM, (8, Z_DIM), "broadcast"),
}


# What counts as recovered: within max(TOLERANCE_NATS, TOLERANCE_FRACTION * true value) of it, the
# tolerance of the estimator's own tests (tests/metrics/test_mutual_information.py), fixed before
# the calibration was measured.
TOLERANCE_NATS = 0.15
TOLERANCE_FRACTION = 0.15


def tolerance(true_nats: float) -> float:
    """How far an estimate may be from the true value and still count as recovered (nats)."""
    return max(TOLERANCE_NATS, TOLERANCE_FRACTION * true_nats)


def synthetic_pairs(true_nats: float, num_pairs: int, layout: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``num_pairs`` pairs (z ``(N, 16)``, s ``(N, *shape)``) with I(z; s) = ``true_nats`` exactly.

    Per informative direction d <= k: u_d = rho z_d + sqrt(1 - rho^2) e_d, so
    I(z; u) = -(k/2) log(1 - rho^2); s is u copied over the map or a fixed random full-rank linear
    map of it (injective, so I(z; s) = I(z; u)).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if not true_nats > 0:
        raise ValueError(f"true_nats must be positive, got {true_nats}")
    k, shape, how = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1.0 - math.exp(-2.0 * true_nats / k))
    z = rng.normal(size=(num_pairs, Z_DIM))
    u = rho * z[:, :k] + math.sqrt(1.0 - rho**2) * rng.normal(size=(num_pairs, k))  # (N, k)
    if how == "broadcast":
        if len(shape) == 3:  # (N, k) -> (N, k, H, W): u_d on every pixel of channel d
            s = np.broadcast_to(u[:, :, None, None], (num_pairs, *shape))
        else:  # (N, k) -> (N, T, k): u at every time step
            s = np.broadcast_to(u[:, None, :], (num_pairs, *shape))
    else:
        mixing = np.random.default_rng(10_000 + seed).normal(size=(math.prod(shape), k))  # (C*H*W, k), rank k
        s = (u @ mixing.T).reshape(num_pairs, *shape)  # (N, C*H*W) -> (N, C, H, W)
    return z.astype(np.float32), np.ascontiguousarray(s, dtype=np.float32)


def trusted_bound(estimates: dict[float, float]) -> float:
    """The largest true value B such that it and every smaller one were recovered within
    :func:`tolerance`; 0.0 if the smallest was not."""
    bound = 0.0
    for true_nats in sorted(estimates):
        if abs(estimates[true_nats] - true_nats) > tolerance(true_nats):
            break
        bound = true_nats
    return bound


# Measured by `OMP_NUM_THREADS=1 python -m cmivae.metrics.mi_calibration` (module docstring; 4 min of
# CPU on 2026-12-07): layout -> training pairs -> true nats -> estimate, with CALIBRATION_STEPS critic
# steps, 1000 test pairs, seed 0. What it says: at evaluate's N = 2000 no layout recovers even 1 nat
# within the tolerance (bound 0: 0.77-0.80 of 1 nat at best); at N = 9000 the concentrated layouts
# recover 1 and 2 nats (bound 2); every layout saturates, the concentrated ones near 3.3 nats
# whatever the true value (10 nats read 3.26-3.42), the diffuse ones below half the truth.
CALIBRATION_STEPS = 500
CALIBRATION_TEST_PAIRS = 1000
CALIBRATION: dict[str, dict[int, dict[float, float]]] = {
    "concentrated-image": {
        2000: {1.0: 0.7663, 2.0: 1.6841, 4.0: 2.9013, 6.0: 3.1603, 8.0: 3.2386, 10.0: 3.2586},
        9000: {1.0: 0.977, 2.0: 1.8909, 4.0: 2.9565, 6.0: 3.1674, 8.0: 3.2496, 10.0: 3.2753},
    },
    "diffuse-image": {
        2000: {1.0: 0.0467, 2.0: 0.8599, 4.0: 1.8403, 6.0: 2.6854, 8.0: 3.0639, 10.0: 3.5049},
        9000: {1.0: 0.4478, 2.0: 0.9328, 4.0: 1.9225, 6.0: 2.7973, 8.0: 3.4406, 10.0: 4.065},
    },
    "spread-image": {
        2000: {1.0: 0.0619, 2.0: 0.6365, 4.0: 1.4023, 6.0: 2.0578, 8.0: 2.5926, 10.0: 2.9259},
        9000: {1.0: 0.3824, 2.0: 0.7802, 4.0: 1.5406, 6.0: 2.2113, 8.0: 2.7755, 10.0: 3.3077},
    },
    "concentrated-sequence": {
        2000: {1.0: 0.7956, 2.0: 1.8129, 4.0: 2.9658, 6.0: 3.1997, 8.0: 3.2759, 10.0: 3.2765},
        9000: {1.0: 0.9701, 2.0: 1.9387, 4.0: 3.1988, 6.0: 3.2794, 8.0: 3.3833, 10.0: 3.418},
    },
    "diffuse-sequence": {
        2000: {1.0: 0.4411, 2.0: 1.2743, 4.0: 2.5916, 6.0: 3.3753, 8.0: 3.8607, 10.0: 4.3015},
        9000: {1.0: 0.6399, 2.0: 1.3389, 4.0: 2.577, 6.0: 3.5203, 8.0: 4.424, 10.0: 5.0507},
    },
}


def bound_for(s_rank: int, train_pairs: int, num_steps: int, test_pairs: int) -> float | None:
    """The calibrated bound (nats) for an estimate on s of rank ``s_rank`` (per example: 3 for
    feature maps, 2 for sequences) from ``train_pairs`` training pairs, ``num_steps`` critic steps
    and ``test_pairs`` held-out pairs: the largest :func:`trusted_bound` over the layouts of that
    rank; ``None`` where nothing was calibrated alike."""
    if num_steps != CALIBRATION_STEPS or test_pairs != CALIBRATION_TEST_PAIRS:
        return None
    bounds = [trusted_bound(by_n[train_pairs]) for layout, by_n in CALIBRATION.items()
              if len(LAYOUTS[layout][1]) == s_rank and train_pairs in by_n]
    return max(bounds) if bounds else None


def measure(layouts: tuple[str, ...] = tuple(LAYOUTS), train_pairs: tuple[int, ...] = TRAIN_PAIRS,
            true_nats: tuple[float, ...] = TRUE_NATS, num_steps: int | None = None,
            test_pairs: int = CALIBRATION_TEST_PAIRS, log: Any = print) -> dict[str, dict[int, dict[float, float]]]:
    """Run the estimator on every (layout, N, true value): the table of :data:`CALIBRATION`
    (``num_steps`` default :data:`CALIBRATION_STEPS`, which a test holds equal to ``evaluate``'s)."""
    from cmivae.metrics.mutual_information import estimate_mutual_information

    num_steps = CALIBRATION_STEPS if num_steps is None else num_steps
    table: dict[str, dict[int, dict[float, float]]] = {}
    for layout in layouts:
        for n in train_pairs:
            for nats in true_nats:
                z, s = synthetic_pairs(nats, n + test_pairs, layout, seed=0)
                start = time.process_time()
                estimate = estimate_mutual_information(z[:n], s[:n], z_test=z[n:], s_test=s[n:], seed=0,
                                                       num_steps=num_steps)
                table.setdefault(layout, {}).setdefault(n, {})[nats] = round(float(estimate), 4)
                log(f"{layout:<19} N={n:<5} true {nats:5.1f}  estimate {estimate:6.3f}  "
                    f"({time.process_time() - start:.1f} CPU-s)")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cmivae.metrics.mi_calibration",
                                     description="Measure the calibration table of the I(z;s) estimate.")
    parser.add_argument("--quick", action="store_true", help="two true values, N = 2000, 50 steps: a smoke run")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.quick:
        table = measure(layouts=("concentrated-image",), train_pairs=(2000,), true_nats=(1.0, 4.0), num_steps=50)
    else:
        table = measure()
    for layout, by_n in table.items():
        for n, estimates in by_n.items():
            print(f"{layout} N={n}: trusted up to {trusted_bound(estimates):g} nats")
    print(f"CALIBRATION = {table!r}")


if __name__ == "__main__":
    main()
