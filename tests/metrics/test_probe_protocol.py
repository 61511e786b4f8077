"""Probe protocols: names, the raw protocol is sklearn's default logistic regression exactly,
the standardized one is scale-invariant, and eval.json records each metric's protocol."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from cmivae.metric_names import (
    STANDARDIZED_PROBES,
    Offers,
    is_known_metric,
    probe_protocol,
    requested_metrics,
    unknown_metrics,
)
from cmivae.metrics.latent_probe import LOGISTIC_MAX_ITER, probe_accuracy
from cmivae.models.pixelcnn_vae import PixelCNNVAE


def test_probe_names_parse_into_protocols() -> None:
    assert probe_protocol("aolr").to_dict() == {"probe": "aolr", "features": "z_mean", "classifier": "logistic",
                                                "scaling": "raw", "C": 1.0}
    std = probe_protocol("mcas_std")
    assert (std.probe, std.features, std.scaling, std.C) == ("mcas", "generated", "standardized", 1.0)
    weak = probe_protocol("aolr_std_c100")
    assert (weak.scaling, weak.C) == ("standardized", 100.0)
    assert probe_protocol("baseline_c0.01").C == 0.01
    assert probe_protocol("aosvm").classifier == "svm" and probe_protocol("aosvm").standardized
    for name in ("elbo", "mi_zs", "aolr_svm", "aosvm_std", "aolr_c", "aolr_c0", "eer_z"):
        assert probe_protocol(name) is None, name
    assert all(is_known_metric(n) for n in STANDARDIZED_PROBES)
    assert not is_known_metric("aolr_svm")


def test_all_keeps_meaning_the_paper_metrics_and_combines_with_extras() -> None:
    paper = ["elbo", "mi_zs", "aolr", "aosvm", "mcas", "mcas_svm", "baseline"]  # a PixelCNN-VAE's, Sec. 5.3
    offers = Offers.of(PixelCNNVAE.capabilities, "fashion-mnist")
    assert requested_metrics(None, offers) == paper
    assert requested_metrics(["all"], offers) == paper
    assert requested_metrics(["all", "aolr_std", "aolr"], offers) == [*paper, "aolr_std"]
    assert unknown_metrics(["all", "aolr_std"]) is None
    assert "aolr_sdt" in unknown_metrics(["aolr_sdt"])


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 40)
    x = rng.normal(size=(120, 5)) + y[:, None] * np.array([3.0, 1.5, 0.0, 0.0, 0.0])
    ty = np.repeat(np.arange(3), 30)
    tx = rng.normal(size=(90, 5)) + ty[:, None] * np.array([3.0, 1.5, 0.0, 0.0, 0.0])
    return x, y, tx, ty


def test_raw_protocol_is_sklearns_default_logistic_regression() -> None:
    x, y, tx, ty = _data()
    for scale in (1.0, 0.01):
        expected = float(np.mean(LogisticRegression(max_iter=LOGISTIC_MAX_ITER, random_state=0)
                                 .fit(scale * x, y).predict(scale * tx) == ty))
        assert probe_accuracy(scale * x, y, scale * tx, ty) == expected


def test_standardized_probe_ignores_the_scale_of_the_features_raw_does_not() -> None:
    """L2 at fixed C penalizes a shrunken z more: the raw probe falls with the scale, the
    standardized one is unchanged (the confound of issue 13)."""
    x, y, tx, ty = _data()
    std = [probe_accuracy(s * x, y, s * tx, ty, standardize=True) for s in (1.0, 0.001)]
    raw = [probe_accuracy(s * x, y, s * tx, ty) for s in (1.0, 0.001)]
    assert std[0] == pytest.approx(std[1])
    assert raw[1] < raw[0] - 0.1
    # A weaker L2 (large C) recovers much of what the raw probe lost on the shrunken features.
    assert probe_accuracy(0.001 * x, y, 0.001 * tx, ty, C=1e6) > raw[1] + 0.1
