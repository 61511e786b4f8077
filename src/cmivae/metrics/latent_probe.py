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
appendix K.2, on standardized features. Accuracies are fractions in [0, 1], as in
Tables 4 and 5.

The paper does not specify the logistic probe. The default here (the *raw* protocol of the
committed results) is scikit-learn's ``LogisticRegression`` defaults (L2, ``C = 1``) on the
raw features; ``standardize=True`` fits a ``StandardScaler`` on the training features
first and ``C`` sets the L2 strength, so a probe that shrinks with the scale of z (as L2 at
fixed C does) can be told from one that does not (:mod:`cmivae.metric_names` names them).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

Classifier = Literal["logistic", "svm"]

# lbfgs on unscaled latents or raw pixels can need thousands of iterations to converge.
LOGISTIC_MAX_ITER = 10_000


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


def _build_classifier(classifier: Classifier, seed: int, standardize: bool = False,
                      C: float = 1.0) -> LogisticRegression | Pipeline:
    if not C > 0:
        raise ValueError(f"C (the inverse L2 strength) must be positive, got {C}")
    if classifier == "logistic":
        logistic = LogisticRegression(C=C, max_iter=LOGISTIC_MAX_ITER, random_state=seed)
        return make_pipeline(StandardScaler(), logistic) if standardize else logistic
    if classifier == "svm":
        return make_pipeline(StandardScaler(), SVC(kernel="rbf", C=C, random_state=seed))
    raise ValueError(f"classifier must be 'logistic' or 'svm', got {classifier!r}")


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   classifier: Classifier = "logistic", seed: int = 0, *, standardize: bool = False,
                   C: float = 1.0) -> float:
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
    """
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
    model = _build_classifier(classifier, seed, standardize=standardize, C=C).fit(train_x, train_y)
    return float(np.mean(model.predict(test_x) == test_y))


def classification_accuracy_score(generated_x: np.ndarray, generated_y: np.ndarray, real_x: np.ndarray,
                                  real_y: np.ndarray, classifier: Classifier = "logistic", seed: int = 0) -> float:
    """mCAS (Sec. 5.3) and VC-mCAS (appendix J): train on generated samples, test on real ones.

    ``generated_y`` is the label of the real example each sample's z was encoded from;
    a decoder that ignores z mislabels its samples, one that copies x gives samples too
    alike to train a classifier that generalizes, so both lower the score. For VC-mCAS
    pass spectrograms already averaged over time, ``(B, T, F) -> (B, F)``.
    """
    return probe_accuracy(generated_x, generated_y, real_x, real_y, classifier=classifier, seed=seed)
