"""Classifier probes (AoLR/AoSVM, mCAS, baseline, VC-mCAS; paper Sec. 5.3, appendices J, K.2): oracles."""

from __future__ import annotations

import numpy as np
import pytest

from cmivae.metrics import balanced_subset, classification_accuracy_score, probe_accuracy

NUM_CLASSES = 10


def one_hot_features(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A perfect representation: the one-hot label plus tiny noise, ``(N, 10)``."""
    return np.eye(NUM_CLASSES)[labels] + 0.01 * rng.normal(size=(labels.shape[0], NUM_CLASSES))


@pytest.mark.parametrize("classifier", ["logistic", "svm"])
def test_perfect_representation_gives_accuracy_one(classifier: str) -> None:
    rng = np.random.default_rng(0)
    train_y, test_y = np.repeat(np.arange(NUM_CLASSES), 20), rng.integers(NUM_CLASSES, size=500)
    accuracy = probe_accuracy(one_hot_features(train_y, rng), train_y, one_hot_features(test_y, rng), test_y,
                              classifier=classifier)
    assert accuracy >= 0.99


@pytest.mark.parametrize("classifier", ["logistic", "svm"])
def test_random_representation_gives_chance(classifier: str) -> None:
    # Features independent of labels: predictions are independent of the 2000 test labels, so accuracy is
    # Binomial(2000, 0.1) / 2000 with standard deviation 0.0067; allow 0.04 (6 sd).
    rng = np.random.default_rng(0)
    train_y, test_y = np.repeat(np.arange(NUM_CLASSES), 100), rng.integers(NUM_CLASSES, size=2000)
    accuracy = probe_accuracy(rng.normal(size=(1000, 8)), train_y, rng.normal(size=(2000, 8)), test_y,
                              classifier=classifier)
    assert accuracy == pytest.approx(0.1, abs=0.04)


def test_images_are_flattened() -> None:
    # (N, C, H, W) inputs, e.g. the generated images of mCAS: class k lights up pixel k.
    rng = np.random.default_rng(0)
    train_y, test_y = np.repeat(np.arange(4), 10), rng.integers(4, size=40)

    def images(labels: np.ndarray) -> np.ndarray:
        x = 0.05 * rng.random(size=(labels.shape[0], 1, 4, 4))  # (N, 1, 4, 4)
        x[np.arange(labels.shape[0]), 0, 0, labels] = 1.0
        return x

    assert probe_accuracy(images(train_y), train_y, images(test_y), test_y) == 1.0


def test_classification_accuracy_score_is_probe_on_generated_then_real() -> None:
    rng = np.random.default_rng(0)
    gen_y, real_y = rng.integers(3, size=60), rng.integers(3, size=50)
    gen_x, real_x = rng.normal(size=(60, 5)) + gen_y[:, None], rng.normal(size=(50, 5)) + real_y[:, None]
    assert classification_accuracy_score(gen_x, gen_y, real_x, real_y, "svm") == probe_accuracy(
        gen_x, gen_y, real_x, real_y, classifier="svm")


@pytest.mark.parametrize(("train_x", "train_y", "test_x", "message"), [
    (np.zeros((4, 3)), np.array([0, 1, 0]), np.zeros((2, 3)), "train_y must be"),
    (np.zeros((4, 3)), np.array([0, 1, 0, 1]), np.zeros((2, 5)), "same number of features"),
    (np.zeros((4, 3)), np.array([1, 1, 1, 1]), np.zeros((2, 3)), "at least two classes"),
    (np.full((4, 3), np.nan), np.array([0, 1, 0, 1]), np.zeros((2, 3)), "finite"),
])
def test_probe_rejects_bad_input(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        probe_accuracy(train_x, train_y, test_x, np.zeros(test_x.shape[0]))


def test_probe_rejects_unknown_classifier() -> None:
    x, y = np.random.default_rng(0).normal(size=(6, 2)), np.array([0, 1] * 3)
    with pytest.raises(ValueError, match="'logistic', 'svm' or 'knn'"):
        probe_accuracy(x, y, x, y, classifier="tree")  # type: ignore[arg-type]


def test_balanced_subset_takes_per_class_without_replacement() -> None:
    labels = np.random.default_rng(0).integers(NUM_CLASSES, size=3000)
    idx = balanced_subset(labels, 100, np.random.default_rng(1))
    assert idx.shape == (1000,)
    assert np.unique(idx).shape == (1000,)
    assert np.array_equal(np.bincount(labels[idx], minlength=NUM_CLASSES), np.full(NUM_CLASSES, 100))
    assert np.array_equal(idx, balanced_subset(labels, 100, np.random.default_rng(1)))  # same rng seed, same draw
    assert not np.array_equal(idx, balanced_subset(labels, 100, np.random.default_rng(2)))


def test_balanced_subset_names_classes_with_too_few() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    with pytest.raises(ValueError, match=r"\{1: 2\}"):
        balanced_subset(labels, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive"):
        balanced_subset(labels, 0, np.random.default_rng(0))
