"""Classifier probes: AoLR / AoSVM, mCAS / mCAS(SVM), the baseline score and VC-mCAS.

All of them are "fit a classifier on one labelled set, report accuracy on another"
(paper Sec. 5.3, appendices J and K.2), so :func:`probe_accuracy` is the one function
and the callers differ only in what they feed it:

=================  ============================================  =====================
metric             train on                                      test on
=================  ============================================  =====================
AoLR / AoSVM       mean of q(z|x) of 1000 training images,       z-means of the whole
                   100 per class (:func:`balanced_subset`)       test set
mCAS / mCAS(SVM)   1000 images generated from the z of 100 real  real test images
                   images (10 per class), labelled as their
                   source image (:func:`classification_accuracy_score`)
baseline score     the 100 real images themselves                real test images
VC-mCAS            500 voice-converted spectrograms averaged     real test spectrograms,
                   over time ``(B, T, F) -> (B, F)``, labelled    averaged over time
                   with the gender of the z source
=================  ============================================  =====================

"logistic" is the logistic classifier of the paper; "svm" the RBF-kernel SVM of
appendix K.2, on standardized features; "knn" a k-nearest-neighbour vote (Euclidean).
Accuracies are fractions in [0, 1], as in Tables 4 and 5.

The paper does not specify the logistic probe. The default here (the *raw* protocol of the
committed results) is scikit-learn's ``LogisticRegression`` defaults (L2, ``C = 1``) on the
raw features; ``standardize=True`` fits a ``StandardScaler`` on the training features
first and ``C`` sets the L2 strength, so a probe that shrinks with the scale of z (as L2 at
fixed C does) can be told from one that does not (:mod:`cmivae.metric_names` names them).
``scaling="whitened"`` PCA-whitens them instead (:class:`PCAWhitener`, fitted on the probe's
training set), which makes a probe blind to any invertible linear map of the features: a z
that is a rotated, rescaled copy of another reads the same.

The cross-validated protocol (:func:`cross_validated_probe`, the ``_cv`` names), fixed before
any result was read: the hyperparameters of :data:`CV_GRIDS` are chosen by
:data:`CV_FOLDS`-fold stratified cross-validation (folds shuffled with the evaluation seed) on
the probe's *training* labels only, scored by accuracy; ties go to the first value of the grid,
which is ordered from the simplest model (strongest L2, widest kernel, most neighbours) up. The
scaler or whitener is part of the pipeline, so it is refitted on every fold's training part.
The chosen values are refitted on all the probe's training labels and the test accuracy
reported; :class:`ProbeResult` carries what was chosen (``eval.json`` records it). Above
:data:`CV_MAX_EXAMPLES` training labels (``_all`` probes: 60k images), the grid is searched on a
seeded stratified subset of that size and only the final fit sees them all.

A probe fitted on more than :data:`ONE_BLAS_THREAD_ABOVE` training labels (the ``_all`` probes)
runs the BLAS library on one thread (:func:`blas_threads_for`), whatever the process's setting:
its matrices are small (``(4000, 32) @ (32, 10)`` per lbfgs step of ``aolr_cv_all``) and
OpenBLAS's worker threads, which spin while they wait, stall every step when other processes keep
the cores busy. Measured 2026-12-07 on the 2-core machine, both cores busy: one lbfgs fit of
``aolr_cv_all``'s search (4,000 z-means of 32 dims, C = 100) took 34 s of CPU on OpenBLAS's
default 2 threads and 0.3 s on one; the whole ``aolr_cv_all`` of run 616759657167 takes ~10 s on
one. The thread count is not neutral: lbfgs stops at its tolerance on a flat optimum, and the
summation order of 2 BLAS threads moves where (that run's 6,000-label refit at C = 100: 365
iterations and test accuracy 0.767 on 2 threads, 306 and 0.768 on one). So the 1k probes (and
mCAS, the baseline, VC-mCAS: at most 1000 labels) keep the process's BLAS threads, bit-identical
to the code their committed values came from; ``ProbeResult.record()`` writes the count a
cross-validated probe ran with (``blas_threads``).
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_info, threadpool_limits

Classifier = Literal["logistic", "svm", "knn"]
Scaling = Literal["raw", "standardized", "whitened"]

# lbfgs on unscaled latents or raw pixels can need thousands of iterations to converge.
LOGISTIC_MAX_ITER = 10_000
# The cross-validated logistic probes stop lbfgs at this many iterations, in the search and in the refit with the
# chosen C (the C was chosen under this budget): at C = 1e3-1e4 on nearly separable z a fit runs to 10,000
# iterations, which made `aolr_cv_all` take over 10 minutes per run on 4,800 labels; a fit that needs more is used
# as it stands. Set 2026-12-07 for cost, before any run of the probe was read. (Most of those minutes were
# OpenBLAS's threads waiting for busy cores, not iterations: see ONE_BLAS_THREAD_ABOVE.)
CV_MAX_ITER = 1_000

# Probes fitted on more training labels than this run BLAS on one thread (module docstring); the 1k probes (100
# per class, Sec. 5.3), mCAS and the baseline keep the process's threads, so their values stay bit-identical.
# Set 2026-12-07 for cost (aolr_cv_all took 8-9 min a run on busy cores), after two runs' aolr_cv_all were read.
ONE_BLAS_THREAD_ABOVE = 1000


def blas_threads() -> int:
    """The thread count of the loaded BLAS libraries (numpy's and scipy's OpenBLAS, MKL): the
    largest, 0 where none is found."""
    return max((int(info["num_threads"]) for info in threadpool_info() if info.get("user_api") == "blas"),
               default=0)


def blas_threads_for(num_labels: int) -> AbstractContextManager[Any]:
    """The BLAS thread setting of a probe fitted on ``num_labels`` training labels: one thread
    above :data:`ONE_BLAS_THREAD_ABOVE` (the previous limit comes back on exit), the process's
    own otherwise. torch's and scikit-learn's OpenMP threads are left alone."""
    if num_labels > ONE_BLAS_THREAD_ABOVE:
        return threadpool_limits(limits=1, user_api="blas")
    return nullcontext()


# The cross-validated protocol (fixed before reading any result). Each grid runs from the
# simplest model up, so a tie goes to the simplest. The SVM's RBF width is a multiple of
# scikit-learn's gamma='scale' (1 / (F * var(X)) of the fold's scaled training features), so the
# grid means the same on raw, standardized and whitened inputs.
CV_FOLDS = 5
CV_MAX_EXAMPLES = 5000
CV_GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "logistic": {"C": (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4)},
    "svm": {"C": (0.1, 1.0, 10.0, 100.0, 1000.0), "gamma_scale": (0.1, 0.3, 1.0, 3.0)},
    "knn": {"k": (50, 20, 10, 5, 3, 1)},
}


def balanced_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` examples of every class, drawn without replacement.

    E.g. the 1000 training images (100 per class) of AoLR, Sec. 5.3.

    Args:
        labels: ``(N,)`` class labels.
        per_class: how many examples to take from each class.
        rng: the source of randomness, e.g. ``np.random.default_rng(seed)``.

    Returns:
        ``(num_classes * per_class,)`` sorted indices into ``labels``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be (N,), got shape {labels.shape}")
    if per_class < 1:
        raise ValueError(f"per_class must be a positive number of examples, got {per_class}")
    classes, counts = np.unique(labels, return_counts=True)
    too_few = {c.item(): int(n) for c, n in zip(classes, counts, strict=True) if n < per_class}
    if too_few:
        raise ValueError(f"need {per_class} examples of every class, but these classes have fewer: {too_few}")
    picked = [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(picked))


def _as_features(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have a leading example axis with at least one example, got shape {x.shape}")
    x = x.reshape(x.shape[0], -1)  # (N, ...) -> (N, F): images (N, C, H, W) and vectors (N, D) alike
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite, found NaN/inf values")
    return x


class PCAWhitener(TransformerMixin, BaseEstimator):
    """PCA whitening fitted on the training features: ``(N, F) -> (N, K)`` with identity
    covariance on the training set. Directions whose variance is below ``rel_tol`` times the
    largest are dropped (``K <= min(N - 1, F)``): they hold no signal, only noise that whitening
    would blow up."""

    def __init__(self, rel_tol: float = 1e-6) -> None:
        self.rel_tol = rel_tol

    def fit(self, x: np.ndarray, y: Any = None) -> PCAWhitener:
        x = np.asarray(x, dtype=np.float64)
        self.mean_ = x.mean(axis=0)  # (F,)
        _, singular, vt = np.linalg.svd(x - self.mean_, full_matrices=False)  # vt: (min(N, F), F)
        variance = singular**2 / max(x.shape[0] - 1, 1)
        keep = variance > self.rel_tol * max(float(variance.max(initial=0.0)), 1e-300)
        keep[:1] = True  # constant features keep one direction, on which every example is 0
        self.components_ = vt[keep]  # (K, F)
        self.scale_ = 1.0 / np.sqrt(np.maximum(variance[keep], 1e-300))  # (K,)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean_) @ self.components_.T * self.scale_  # (N, F) -> (N, K)


class _ScaledGammaSVC(SVC):
    """RBF SVC whose width is ``gamma_scale`` times scikit-learn's ``gamma='scale'``, computed on
    the features it is fitted on (so one grid fits raw, standardized and whitened inputs)."""

    def __init__(self, C: float = 1.0, gamma_scale: float = 1.0, random_state: int | None = None) -> None:
        super().__init__(C=C, kernel="rbf", random_state=random_state)
        self.gamma_scale = gamma_scale

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: Any = None) -> _ScaledGammaSVC:
        variance = float(np.asarray(x).var())
        self.gamma = self.gamma_scale / (x.shape[1] * variance) if variance > 0 else self.gamma_scale
        return super().fit(x, y, sample_weight=sample_weight)


def _scaler(scaling: Scaling) -> StandardScaler | PCAWhitener | None:
    if scaling == "raw":
        return None
    if scaling == "standardized":
        return StandardScaler()
    if scaling == "whitened":
        return PCAWhitener()
    raise ValueError(f"scaling must be 'raw', 'standardized' or 'whitened', got {scaling!r}")


def _build_classifier(classifier: Classifier, seed: int, standardize: bool = False,
                      C: float = 1.0, scaling: Scaling | None = None) -> Any:
    """The probe's pipeline: an optional scaler (fitted on the training features), then the classifier.

    ``scaling`` defaults to ``standardized`` for the SVM (appendix K.2) and to ``raw`` (or
    ``standardized`` with ``standardize=True``) for the logistic and kNN probes.
    """
    if not C > 0:
        raise ValueError(f"C (the inverse L2 strength) must be positive, got {C}")
    if classifier == "logistic":
        model: Any = LogisticRegression(C=C, max_iter=LOGISTIC_MAX_ITER, random_state=seed)
    elif classifier == "svm":
        model = SVC(kernel="rbf", C=C, random_state=seed)  # gamma='scale', the committed AoSVM
        scaling = scaling or "standardized"
    elif classifier == "knn":
        model = KNeighborsClassifier()
    else:
        raise ValueError(f"classifier must be 'logistic', 'svm' or 'knn', got {classifier!r}")
    scaler = _scaler(scaling or ("standardized" if standardize else "raw"))
    return model if scaler is None else make_pipeline(scaler, model)


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   classifier: Classifier = "logistic", seed: int = 0, *, standardize: bool = False,
                   C: float = 1.0, scaling: Scaling | None = None) -> float:
    """Test accuracy in [0, 1] of a classifier fitted on ``(train_x, train_y)``, Sec. 5.3.

    Args:
        train_x: ``(N, ...)`` training features, flattened to ``(N, F)``.
        train_y: ``(N,)`` training labels, at least two classes.
        test_x: ``(M, ...)`` test features with the same per-example shape as ``train_x``.
        test_y: ``(M,)`` test labels.
        classifier: ``"logistic"`` (AoLR, mCAS) or ``"svm"`` (RBF SVM on standardized
            features with sklearn's default C and gamma: AoSVM, mCAS(SVM)).
        seed: ``random_state`` of the classifier (both fits are deterministic anyway).
        standardize: logistic only: a ``StandardScaler`` fitted on ``train_x`` before the
            classifier (the SVM always has one).
        C: inverse L2 strength of either classifier (scikit-learn's default 1.0).
        scaling: ``raw``, ``standardized`` or ``whitened`` (fitted on ``train_x``); overrides
            ``standardize``; default: the SVM standardized, the others as ``standardize`` says.
    """
    train_x, train_y, test_x, test_y = _checked(train_x, train_y, test_x, test_y)
    with blas_threads_for(train_x.shape[0]):
        model = _build_classifier(classifier, seed, standardize=standardize, C=C, scaling=scaling).fit(train_x, train_y)
        return float(np.mean(model.predict(test_x) == test_y))


def _checked(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train_x, test_x = _as_features(train_x, "train_x"), _as_features(test_x, "test_x")
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if train_y.shape != (train_x.shape[0],):
        raise ValueError(f"train_y must be (N,) with N = {train_x.shape[0]}, got shape {train_y.shape}")
    if test_y.shape != (test_x.shape[0],):
        raise ValueError(f"test_y must be (M,) with M = {test_x.shape[0]}, got shape {test_y.shape}")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train_x and test_x must have the same number of features per example, got {train_x.shape[1]} "
            f"and {test_x.shape[1]}")
    if np.unique(train_y).shape[0] < 2:
        raise ValueError(f"train_y must contain at least two classes, got only {np.unique(train_y)}")
    return train_x, train_y, test_x, test_y


@dataclass(frozen=True)
class ProbeResult:
    """A cross-validated probe's test accuracy and what cross-validation chose.

    Attributes:
        accuracy: test accuracy in [0, 1] of the refitted probe.
        chosen: the grid values chosen, e.g. ``{"C": 10.0}``, ``{"C": 100.0, "gamma_scale": 0.3}``,
            ``{"k": 5}``.
        cv_accuracy: the mean validation accuracy of the chosen values over the folds.
        cv_examples: training labels the grid search saw (``min(N, CV_MAX_EXAMPLES)``).
        train_examples: training labels of the final fit.
        grid: the values searched (:data:`CV_GRIDS` of the classifier, kNN's k cut to the folds' size).
        blas_threads: BLAS threads the fits ran on (:func:`blas_threads_for`; 0: no BLAS found).
    """

    accuracy: float
    chosen: dict[str, float] = field(default_factory=dict)
    cv_accuracy: float = float("nan")
    cv_examples: int = 0
    train_examples: int = 0
    grid: dict[str, list[float]] = field(default_factory=dict)
    blas_threads: int = 0

    def record(self) -> dict[str, Any]:
        """What ``eval.json["probe_protocols"][name]`` adds to the protocol: the choice and the grid."""
        return {"chosen": dict(self.chosen), "cv_accuracy": self.cv_accuracy, "cv_folds": CV_FOLDS,
                "cv_examples": self.cv_examples, "train_examples": self.train_examples,
                "grid": {k: list(v) for k, v in self.grid.items()}, "blas_threads": self.blas_threads}


def _cv_estimator(classifier: Classifier, scaling: Scaling, seed: int) -> tuple[Pipeline, dict[str, list[Any]]]:
    """The pipeline and its scikit-learn parameter grid (:data:`CV_GRIDS`) for the classifier."""
    if classifier == "logistic":
        model: Any = LogisticRegression(max_iter=CV_MAX_ITER, random_state=seed)
        grid = {"model__C": list(CV_GRIDS["logistic"]["C"])}
    elif classifier == "svm":
        model = _ScaledGammaSVC(random_state=seed)
        grid = {"model__C": list(CV_GRIDS["svm"]["C"]), "model__gamma_scale": list(CV_GRIDS["svm"]["gamma_scale"])}
    elif classifier == "knn":
        model = KNeighborsClassifier()
        grid = {"model__n_neighbors": list(CV_GRIDS["knn"]["k"])}
    else:
        raise ValueError(f"classifier must be 'logistic', 'svm' or 'knn', got {classifier!r}")
    scaler = _scaler(scaling)
    steps = ([("scale", scaler)] if scaler is not None else []) + [("model", model)]
    return Pipeline(steps), grid


def cross_validated_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                          classifier: Classifier = "logistic", seed: int = 0, *,
                          scaling: Scaling = "raw") -> ProbeResult:
    """Test accuracy of a probe whose hyperparameters cross-validation chose on the training labels only.

    The protocol of the ``_cv`` metric names (module docstring): :data:`CV_GRIDS` searched by
    :data:`CV_FOLDS`-fold stratified cross-validation (seeded folds) on ``(train_x, train_y)``
    (a seeded stratified subset of :data:`CV_MAX_EXAMPLES` when larger), the best values
    refitted on all of it, then scored on ``(test_x, test_y)``.

    Args:
        train_x, train_y, test_x, test_y: as :func:`probe_accuracy`; every class of ``train_y``
            needs at least :data:`CV_FOLDS` examples.
        classifier: ``logistic`` (C), ``svm`` (C and the RBF width) or ``knn`` (k).
        seed: shuffles the folds and seeds the classifiers.
        scaling: ``raw``, ``standardized`` or ``whitened``, fitted on each fold's training part.
    """
    train_x, train_y, test_x, test_y = _checked(train_x, train_y, test_x, test_y)
    _, counts = np.unique(train_y, return_counts=True)
    if counts.min() < CV_FOLDS:
        raise ValueError(f"cross-validation needs {CV_FOLDS} training examples of every class, got {int(counts.min())}"
                         f" of the rarest")
    search_x, search_y = train_x, train_y
    if train_x.shape[0] > CV_MAX_EXAMPLES:
        search_x, _, search_y, _ = train_test_split(train_x, train_y, train_size=CV_MAX_EXAMPLES, stratify=train_y,
                                                    random_state=seed)
    pipeline, grid = _cv_estimator(classifier, scaling, seed)
    if classifier == "knn":  # k cannot exceed a fold's training part
        fold_train = search_x.shape[0] - int(np.ceil(search_x.shape[0] / CV_FOLDS))
        grid = {"model__n_neighbors": [k for k in grid["model__n_neighbors"] if k <= fold_train] or [1]}
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    # a candidate stopped at CV_MAX_ITER is scored as it stands
    with blas_threads_for(train_x.shape[0]), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # error_score="raise": a failed candidate fit (or a stop signal raised inside one) is never scored NaN
        # and silently dropped from the search
        search = GridSearchCV(pipeline, grid, cv=folds, scoring="accuracy", refit=False, n_jobs=1,
                              error_score="raise").fit(search_x, search_y)
        best = search.best_params_
        # refitted under the budget its C was chosen with
        final = pipeline.set_params(**best).fit(train_x, train_y)
        accuracy = float(np.mean(final.predict(test_x) == test_y))
        threads = blas_threads()
    names = {"model__C": "C", "model__gamma_scale": "gamma_scale", "model__n_neighbors": "k"}
    chosen = {names[key]: float(value) for key, value in best.items()}
    return ProbeResult(accuracy=accuracy, chosen=chosen,
                       cv_accuracy=float(search.best_score_), cv_examples=int(search_x.shape[0]),
                       train_examples=int(train_x.shape[0]),
                       grid={names[key]: [float(v) for v in values] for key, values in grid.items()},
                       blas_threads=threads)


def pooled_means(s: np.ndarray) -> np.ndarray:
    """s averaged over time or space, the features of the s probes: ``(N, C, H, W) -> (N, C)``
    (PixelCNN feature maps) or ``(N, T, D_s) -> (N, D_s)`` (sequences); ``(N, D_s)`` as it is."""
    s = np.asarray(s)
    if s.ndim == 4:
        return s.mean(axis=(2, 3))  # (N, C, H, W) -> (N, C)
    if s.ndim == 3:
        return s.mean(axis=1)  # (N, T, D_s) -> (N, D_s)
    if s.ndim == 2:
        return s
    raise ValueError(f"s must be (N, D_s), (N, T, D_s) or (N, C, H, W), got shape {s.shape}")


def classification_accuracy_score(generated_x: np.ndarray, generated_y: np.ndarray, real_x: np.ndarray,
                                  real_y: np.ndarray, classifier: Classifier = "logistic", seed: int = 0) -> float:
    """mCAS (Sec. 5.3) and VC-mCAS (appendix J): train on generated samples, test on real ones.

    ``generated_y`` is the label of the real example each sample's z was encoded from;
    a decoder that ignores z mislabels its samples, one that copies x gives samples too
    alike to train a classifier that generalizes, so both lower the score. For VC-mCAS
    pass spectrograms already averaged over time, ``(B, T, F) -> (B, F)``.
    """
    return probe_accuracy(generated_x, generated_y, real_x, real_y, classifier=classifier, seed=seed)
