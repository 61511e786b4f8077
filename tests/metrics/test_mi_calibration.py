"""The calibration of Î(z; s) (issue 30): synthetic pairs with known I(z; s), the bound logic,
the committed table, and how eval.json and the report tables use the bound."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from cmivae.metrics import mi_calibration
from cmivae.metrics.mi_calibration import (
    CALIBRATION,
    CALIBRATION_STEPS,
    CALIBRATION_TEST_PAIRS,
    LAYOUTS,
    TRAIN_PAIRS,
    TRUE_NATS,
    bound_for,
    synthetic_pairs,
    tolerance,
    trusted_bound,
)


def gaussian_mi_of_samples(z: np.ndarray, u: np.ndarray) -> float:
    """I(z; u) of the Gaussian with the samples' covariance: 0.5 log det(S_z) det(S_u) / det(S)."""
    joint = np.cov(np.concatenate([z, u], axis=1), rowvar=False)
    k = z.shape[1]
    _, log_det = np.linalg.slogdet(joint)
    return 0.5 * (np.linalg.slogdet(joint[:k, :k])[1] + np.linalg.slogdet(joint[k:, k:])[1] - log_det)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("true_nats", [1.0, 10.0])
def test_synthetic_pairs_carry_the_stated_nats_injectively(layout: str, true_nats: float) -> None:
    """s determines u (a copy per position, or a full-rank linear map: recovered by least squares),
    and the sample MI of (z, u) is the target within sampling error."""
    k, shape, how = LAYOUTS[layout]
    z, s = synthetic_pairs(true_nats, 20_000, layout, seed=0)
    assert z.shape == (20_000, 16) and s.shape == (20_000, *shape)
    flat = s.reshape(s.shape[0], -1)  # (N, prod(shape))
    if how == "broadcast":
        u = s[:, :, 0, 0] if len(shape) == 3 else s[:, 0, :]  # (N, k): the value at one position
        assert np.array_equal(flat, np.broadcast_to(u[:, :, None, None] if len(shape) == 3 else u[:, None, :],
                                                    s.shape).reshape(s.shape[0], -1))
    else:
        mixing = np.random.default_rng(10_000).normal(size=(flat.shape[1], k))  # the construction's map
        u, *_ = np.linalg.lstsq(mixing, flat.T.astype(np.float64), rcond=None)
        u = u.T  # (N, k)
        assert np.allclose(u @ mixing.T, flat, atol=1e-3)
    assert gaussian_mi_of_samples(z.astype(np.float64), u.astype(np.float64)) == pytest.approx(true_nats, abs=0.06)
    again = synthetic_pairs(true_nats, 100, layout, seed=0)
    assert np.array_equal(again[1], synthetic_pairs(true_nats, 100, layout, seed=0)[1])  # seeded
    assert not np.array_equal(again[1], synthetic_pairs(true_nats, 100, layout, seed=1)[1])


def test_trusted_bound_is_the_last_value_before_the_first_miss() -> None:
    assert tolerance(1.0) == 0.15 and tolerance(10.0) == pytest.approx(1.5)
    assert trusted_bound({1.0: 0.9, 2.0: 1.75, 4.0: 3.0, 6.0: 5.9}) == 2.0  # 4 missed: 6 does not count
    assert trusted_bound({1.0: 1.0, 2.0: 2.0, 4.0: 3.5}) == 4.0
    assert trusted_bound({1.0: 0.5, 2.0: 2.0}) == 0.0
    assert trusted_bound({2.0: 2.3, 1.0: 1.1}) == 2.0  # order of the dict does not matter


def test_bound_for_takes_the_best_layout_of_the_rank_at_the_same_settings(monkeypatch) -> None:
    table = {"concentrated-image": {2000: {1.0: 1.0, 2.0: 1.9, 4.0: 2.0}},
             "diffuse-image": {2000: {1.0: 0.2, 2.0: 0.5, 4.0: 1.0}, 9000: {1.0: 1.0, 2.0: 2.0, 4.0: 4.1}},
             "concentrated-sequence": {2000: {1.0: 1.0, 2.0: 2.0, 4.0: 4.0}}}
    monkeypatch.setattr(mi_calibration, "CALIBRATION", table)
    assert bound_for(3, 2000, CALIBRATION_STEPS, CALIBRATION_TEST_PAIRS) == 2.0  # max(2.0, 0.0)
    assert bound_for(3, 9000, CALIBRATION_STEPS, CALIBRATION_TEST_PAIRS) == 4.0
    assert bound_for(2, 2000, CALIBRATION_STEPS, CALIBRATION_TEST_PAIRS) == 4.0
    assert bound_for(3, 3000, CALIBRATION_STEPS, CALIBRATION_TEST_PAIRS) is None  # N not calibrated
    assert bound_for(3, 2000, CALIBRATION_STEPS + 1, CALIBRATION_TEST_PAIRS) is None  # other critic steps
    assert bound_for(3, 2000, CALIBRATION_STEPS, 500) is None
    assert bound_for(1, 2000, CALIBRATION_STEPS, CALIBRATION_TEST_PAIRS) is None  # flat s: no layout


def test_the_committed_table_covers_every_layout_n_and_value_at_evaluates_settings() -> None:
    from cmivae.metrics.evaluate import MI_STEPS, MI_TEST_PAIRS, MI_TRAIN_PAIRS

    assert (CALIBRATION_STEPS, CALIBRATION_TEST_PAIRS) == (MI_STEPS, MI_TEST_PAIRS)
    assert MI_TRAIN_PAIRS in TRAIN_PAIRS
    assert set(CALIBRATION) == set(LAYOUTS)
    for layout, by_n in CALIBRATION.items():
        assert set(by_n) == set(TRAIN_PAIRS), layout
        for n, estimates in by_n.items():
            assert set(estimates) == set(TRUE_NATS), (layout, n)
            assert all(math.isfinite(v) and v < true + tolerance(true) for true, v in estimates.items())
    for rank in (3, 2):
        for n in TRAIN_PAIRS:
            assert bound_for(rank, n, MI_STEPS, MI_TEST_PAIRS) is not None


def test_measure_runs_the_estimator_on_the_grid() -> None:
    table = mi_calibration.measure(layouts=("concentrated-sequence",), train_pairs=(200,), true_nats=(1.0, 2.0),
                                   num_steps=5, test_pairs=50, log=lambda line: None)
    assert set(table) == {"concentrated-sequence"} and set(table["concentrated-sequence"][200]) == {1.0, 2.0}


def test_evaluate_records_the_bound_of_its_settings(monkeypatch) -> None:
    from cmivae.metrics import evaluate

    monkeypatch.setattr(mi_calibration, "CALIBRATION", {"diffuse-image": {2000: {1.0: 1.0, 2.0: 2.0, 4.0: 2.0}}})
    trainer = SimpleNamespace(model=SimpleNamespace(config=None, latent_shapes=lambda config: (8, (64, 28, 28))))
    splits = SimpleNamespace(train_x=np.empty((60_000, 1)), test_x=np.empty((10_000, 1)))
    assert evaluate.mi_zs_bound(trainer, splits) == 2.0
    assert evaluate.mi_zs_bound(trainer, splits, num_steps=50) is None
    small = SimpleNamespace(train_x=np.empty((1500, 1)), test_x=np.empty((300, 1)))  # fewer pairs: not calibrated
    assert evaluate.mi_zs_bound(trainer, small) is None


def test_report_tables_show_estimates_above_the_bound_as_greater_than() -> None:
    from cmivae.reports.tables import Column, _cell

    column = Column("mi_zs", "Î(z;s)", 2)

    def row(mi: float, bound: float | None) -> dict:
        mean = {"mi_zs": mi, **({"mi_zs_bound": bound} if bound is not None else {})}
        return {"mean": mean, "se": {"mi_zs": 0.1}, "n": 3, "count": {"mi_zs": 3}}

    assert _cell(row(3.2, 2.0), column) == "> 2"
    assert _cell(row(1.234, 2.0), column) == "1.23 ± 0.10"
    assert _cell(row(3.2, None), column) == "3.20 ± 0.10"


def test_mi_zs_n_names_give_the_training_pairs() -> None:
    from cmivae.metric_names import is_known_metric, metric_direction, mi_train_pairs, unknown_metrics

    assert mi_train_pairs("mi_zs", 2000) == 2000 and mi_train_pairs("mi_zs_n9000", 2000) == 9000
    for name in ("mi_zs_n0", "mi_zs_n", "mi_zs_9000", "mi_zs_bound", "aolr"):
        assert mi_train_pairs(name, 2000) is None, name
    assert is_known_metric("mi_zs_n9000")
    assert metric_direction("mi_zs_n9000") == "lower" and metric_direction("mi_zs_n9000_bound") is None
    assert metric_direction("mi_zs_bound") is None
    assert "mi_zs_n<N>" in unknown_metrics(["mi_zs_nine"])
