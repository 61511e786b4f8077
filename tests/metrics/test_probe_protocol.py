"""Probe protocols: names, the raw protocol is sklearn's default logistic regression exactly,
the standardized one is scale-invariant, and eval.json records each metric's protocol."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from cmivae.infra.errors import ConfigError
from cmivae.metric_names import (
    STANDARDIZED_PROBES,
    Offers,
    is_known_metric,
    metric_direction,
    probe_protocol,
    requested_metrics,
    unknown_metrics,
    why_unsupported,
)
from cmivae.metrics import latent_probe
from cmivae.metrics.latent_probe import (
    CV_FOLDS,
    CV_GRIDS,
    LOGISTIC_MAX_ITER,
    ONE_BLAS_THREAD_ABOVE,
    PCAWhitener,
    blas_threads,
    blas_threads_for,
    cross_validated_probe,
    pooled_means,
    probe_accuracy,
)
from cmivae.metrics.preflight import check_image_metrics
from cmivae.models.dsae import DSAE
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


def test_new_protocol_names_parse_and_every_protocol_has_one_name() -> None:
    cv = probe_protocol("aosvm_cv")
    assert (cv.classifier, cv.scaling, cv.C, cv.selection, cv.labels) == ("svm", "standardized", None, "cv", "1k")
    assert probe_protocol("aoknn_cv").classifier == "knn"
    white = probe_protocol("aolr_white_cv_all")
    assert (white.scaling, white.selection, white.labels) == ("whitened", "cv", "all")
    s_probe = probe_protocol("s_aolr_cv")
    assert (s_probe.probe, s_probe.features) == ("s_aolr", "s_pooled")
    assert probe_protocol("s_aosvm_raw_cv").scaling == "raw"
    assert probe_protocol("aolr_c100_all").labels == "all"
    # the default spelled out, a fixed C on a non-logistic probe, kNN without CV, _all on generated images
    for name in ("aolr_raw", "aosvm_std", "aosvm_c10", "aoknn", "aoknn_c1", "mcas_cv_all", "baseline_all",
                 "aolr_cv_c1", "aolr_all_cv", "s_aolr_s"):
        assert probe_protocol(name) is None, name
    assert probe_protocol("aolr_cv").to_dict() == {"probe": "aolr", "features": "z_mean", "classifier": "logistic",
                                                   "scaling": "raw", "C": None, "selection": "cv"}
    assert metric_direction("aoknn_cv") == "higher" and metric_direction("s_aolr_cv") is None
    assert unknown_metrics(["all", "aosvm_white_cv", "s_aoknn_cv_all"]) is None
    speech = Offers.of(DSAE.capabilities, "synthetic-speech")  # no class labels: no image probe
    assert why_unsupported("aolr_cv", speech) is not None and why_unsupported("s_aoknn_cv_all", speech) is not None


def _separable(scale: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three linearly separable classes (margin 1 before scaling), shrunk by ``scale``."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(3, size=n)
        x = rng.uniform(-0.5, 0.5, size=(n, 4))
        x[:, 0] = 2.0 * y + rng.uniform(-0.5, 0.5, size=n)  # class k lies in [2k - 0.5, 2k + 0.5] along axis 0
        return scale * x, y

    (x, y), (tx, ty) = draw(300), draw(600)
    return x, y, tx, ty


def test_cv_chooses_weak_regularization_on_separable_data_and_records_it() -> None:
    """Separable but shrunken features: sklearn's C = 1 underfits, CV picks a large C and the
    probe recovers; the choice is in the result (eval.json records it)."""
    x, y, tx, ty = _separable(scale=1e-3)
    fixed = probe_accuracy(x, y, tx, ty)
    result = cross_validated_probe(x, y, tx, ty, "logistic", seed=0)
    assert fixed < 0.8
    assert result.chosen["C"] >= 1e3 and result.accuracy > 0.97 and result.cv_accuracy > 0.97
    record = result.record()
    assert record["chosen"] == {"C": result.chosen["C"]} and record["cv_folds"] == CV_FOLDS
    assert record["cv_examples"] == record["train_examples"] == 300
    assert record["grid"] == {"C": list(CV_GRIDS["logistic"]["C"])}
    assert result.chosen["C"] in CV_GRIDS["logistic"]["C"]
    # same seed, same folds, same choice
    assert cross_validated_probe(x, y, tx, ty, "logistic", seed=0) == result


def test_cv_svm_and_knn_choose_from_their_grids() -> None:
    x, y, tx, ty = _separable(scale=1.0)
    svm = cross_validated_probe(x, y, tx, ty, "svm", seed=1)
    assert set(svm.chosen) == {"C", "gamma_scale"} and svm.accuracy > 0.97
    assert svm.chosen["gamma_scale"] in CV_GRIDS["svm"]["gamma_scale"]
    knn = cross_validated_probe(x, y, tx, ty, "knn", seed=1)
    assert knn.chosen["k"] in CV_GRIDS["knn"]["k"] and knn.accuracy > 0.97


def test_cv_needs_a_few_examples_of_every_class() -> None:
    x, y, tx, ty = _separable(scale=1.0)
    with pytest.raises(ValueError, match="cross-validation needs"):
        cross_validated_probe(x[:6], np.array([0, 0, 0, 0, 1, 1]), tx, ty)


def _mixture(per_class: int, test_per_class: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded 10-class Gaussian mixture in 32 dims, overlapping and shrunk (C = 100 wins), like z-means."""
    rng = np.random.default_rng(30)
    means = rng.normal(size=(10, 32))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(10), n)
        return 0.01 * (means[y] + 2.0 * rng.normal(size=(y.size, 32))), y

    (x, y), (tx, ty) = draw(per_class), draw(test_per_class)
    return x, y, tx, ty


def test_cv_probe_on_1000_labels_gives_what_the_code_before_the_blas_rule_gave() -> None:
    """aolr_cv (1000 labels) keeps the process's BLAS threads and its protocol: on this input it
    gives, bit for bit, the accuracy, C and CV accuracy of main at 875f7be (before
    ONE_BLAS_THREAD_ABOVE), which gave the same on 1 and on 2 BLAS threads."""
    x, y, tx, ty = _mixture(100, 200)
    result = cross_validated_probe(x, y, tx, ty, "logistic", seed=0)
    assert result.train_examples == result.cv_examples == ONE_BLAS_THREAD_ABOVE
    assert (result.accuracy, result.chosen, result.cv_accuracy) == (0.8535, {"C": 100.0}, 0.851)


def test_probes_on_more_than_1000_labels_fit_on_one_blas_thread(monkeypatch) -> None:
    """Every fit of a probe above ONE_BLAS_THREAD_ABOVE labels (the search, the refit, a fixed-C
    probe) runs on one BLAS thread whatever the process's setting, which comes back afterwards;
    the 1k probes keep the process's setting; record() writes the count."""
    seen: list[int] = []

    class Spy(LogisticRegression):
        def fit(self, x, y, sample_weight=None):  # type: ignore[no-untyped-def]
            seen.append(blas_threads())
            return super().fit(x, y, sample_weight=sample_weight)

    monkeypatch.setattr(latent_probe, "LogisticRegression", Spy)
    x, y, tx, ty = _separable(scale=1.0)
    x, y = np.concatenate([x] * 5), np.concatenate([y] * 5)  # 1500 labels
    with threadpool_limits(limits=2, user_api="blas"):
        outer = blas_threads()
        result = cross_validated_probe(x, y, tx, ty, "logistic", seed=0)
        fixed = probe_accuracy(x, y, tx, ty)
        assert blas_threads() == outer
        with blas_threads_for(ONE_BLAS_THREAD_ABOVE):
            assert blas_threads() == outer
        with blas_threads_for(ONE_BLAS_THREAD_ABOVE + 1):
            assert blas_threads() == 1
    assert outer >= 1 and len(seen) == CV_FOLDS * len(CV_GRIDS["logistic"]["C"]) + 2 and set(seen) == {1}
    assert result.blas_threads == result.record()["blas_threads"] == 1
    assert result.accuracy > 0.97 and fixed > 0.97


def test_whitening_gives_identity_covariance_and_ignores_invertible_linear_maps() -> None:
    """A whitened probe reads a z and any invertible linear map of it alike (rotation plus a
    1000:1 rescaling here); the raw probe does not."""
    x, y, tx, ty = _data()
    white = PCAWhitener().fit(x).transform(x)
    assert np.allclose(np.cov(white, rowvar=False), np.eye(x.shape[1]), atol=1e-8)
    rng = np.random.default_rng(3)
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a = rotation @ np.diag([1e-3, 1e-2, 1.0, 1.0, 1.0]) @ rotation.T  # (5, 5), invertible
    whitened = [probe_accuracy(x @ m, y, tx @ m, ty, scaling="whitened") for m in (np.eye(5), a)]
    assert whitened[0] == pytest.approx(whitened[1], abs=1e-9)
    assert probe_accuracy(x @ a, y, tx @ a, ty) < whitened[0] - 0.1
    # rank-deficient features (a copied column): the null direction is dropped, not blown up
    doubled = np.concatenate([x, x[:, :1]], axis=1)
    assert PCAWhitener().fit(doubled).transform(doubled).shape == (x.shape[0], 5)


@pytest.mark.parametrize("scaling", ["raw", "standardized", "whitened"])
def test_knn_probe_on_oracles(scaling: str) -> None:
    """A perfect representation (one-hot label plus noise) reads ~1, a random one chance (0.1,
    2000 test labels: sd 0.0067, 6 sd allowed)."""
    rng = np.random.default_rng(0)
    train_y, test_y = np.repeat(np.arange(10), 100), rng.integers(10, size=2000)
    perfect = cross_validated_probe(np.eye(10)[train_y] + 0.01 * rng.normal(size=(1000, 10)), train_y,
                                    np.eye(10)[test_y] + 0.01 * rng.normal(size=(2000, 10)), test_y, "knn",
                                    scaling=scaling)  # type: ignore[arg-type]
    assert perfect.accuracy >= 0.99
    chance = cross_validated_probe(rng.normal(size=(1000, 8)), train_y, rng.normal(size=(2000, 8)), test_y, "knn",
                                   scaling=scaling)  # type: ignore[arg-type]
    assert chance.accuracy == pytest.approx(0.1, abs=0.04)


def test_pooled_means_average_over_space_or_time() -> None:
    s = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)  # (N, C, H, W)
    assert np.array_equal(pooled_means(s), s.mean(axis=(2, 3)))
    assert pooled_means(s[:, :, 0]).shape == (2, 5)  # (N, T, D_s) = (2, 3, 5) -> (N, D_s)
    with pytest.raises(ValueError, match="must be"):
        pooled_means(s[..., None])


def test_preflight_counts_for_the_new_probes() -> None:
    labels = np.repeat(np.arange(3), 50)
    check_image_metrics(["aolr_cv_all", "aoknn_cv_all"], labels, 150)  # 5 per class is enough for CV
    with pytest.raises(ConfigError, match="s_aolr_cv needs 100"):
        check_image_metrics(["s_aolr_cv"], labels, 150)


def test_a_failing_candidate_fit_stops_the_search_instead_of_scoring_nan(monkeypatch) -> None:
    """A stop signal raised inside one candidate's fit (the sweep's ``Interrupted``) used to be caught by
    scikit-learn's search, scored NaN and dropped from the grid; the search now lets it through."""
    import numpy as np
    import pytest
    from sklearn.linear_model import LogisticRegression

    from cmivae.metrics.latent_probe import cross_validated_probe
    from cmivae.training.signals import Interrupted

    original = LogisticRegression.fit

    def fit(self, x, y, *args, **kwargs):
        if self.C == 1e4:
            raise Interrupted(15, "sweep stopped by SIGTERM")
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", fit)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 3)), np.repeat(np.arange(2), 50)
    with pytest.raises(Interrupted):
        cross_validated_probe(x, y, x, y, classifier="logistic")
