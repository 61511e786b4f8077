"""EER (paper Sec. 5.2) against a brute-force threshold sweep and against oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmivae.metrics import equal_error_rate, speaker_verification_eer


def brute_force_operating_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) in percent at every threshold, from "accept nothing" down to "accept all", by counting."""
    thresholds = [math.inf, *sorted(set(scores.tolist()), reverse=True)]
    target, nontarget = scores[labels == 1], scores[labels == 0]
    fpr = np.array([100.0 * np.mean(nontarget >= t) for t in thresholds])
    fnr = np.array([100.0 * np.mean(target < t) for t in thresholds])
    return fpr, fnr


def brute_force_eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """The documented convention, written as a loop: interpolate the first segment that crosses FPR = FNR."""
    fpr, fnr = brute_force_operating_points(scores, labels)
    for k in range(1, len(fpr)):
        if fnr[k] - fpr[k] <= 0:
            if fnr[k] == fpr[k]:
                return float(fpr[k])
            # Solve fpr[k-1] + t dfpr = fnr[k-1] + t dfnr for t in (0, 1].
            t = (fnr[k - 1] - fpr[k - 1]) / ((fpr[k] - fpr[k - 1]) - (fnr[k] - fnr[k - 1]))
            return float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))
    raise AssertionError("the sweep ends at FPR = 100, FNR = 0, so it must cross")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tied", [False, True])
def test_matches_brute_force_sweep(seed: int, tied: bool) -> None:
    rng = np.random.default_rng(seed)
    labels = (rng.random(300) < 0.3).astype(int)
    scores = rng.normal(size=300) + 1.0 * labels
    if tied:
        scores = np.round(scores * 2)  # few distinct values: many tied trials move together
    # Same convention by an independent O(N^2) route: equal up to float rounding.
    assert equal_error_rate(scores, labels) == pytest.approx(brute_force_eer(scores, labels), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_lies_between_minimax_bounds(seed: int) -> None:
    """Whatever the interpolation, the EER is bracketed by max_k min(FPR, FNR) and min_k max(FPR, FNR);
    without ties consecutive operating points differ by one trial, so the bracket is at most one step wide."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(200) < 0.4).astype(int)
    scores = rng.normal(size=200) + 0.8 * labels  # continuous: no ties
    fpr, fnr = brute_force_operating_points(scores, labels)
    lower, upper = np.max(np.minimum(fpr, fnr)), np.min(np.maximum(fpr, fnr))
    step = 100.0 / min(labels.sum(), (1 - labels).sum())
    eer = equal_error_rate(scores, labels)
    assert lower - 1e-9 <= eer <= upper + 1e-9
    assert upper - lower <= step + 1e-9


def test_perfect_and_reversed_scores() -> None:
    labels = np.array([0, 0, 0, 1, 1, 0, 1])
    assert equal_error_rate(labels * 5.0 + 1.0, labels) == 0.0
    assert equal_error_rate(-labels * 5.0, labels) == 100.0
    assert equal_error_rate(np.ones(7), labels) == pytest.approx(50.0)  # all tied: one segment (0,1) -> (1,0)


def test_random_scores_give_about_fifty() -> None:
    # Scores independent of labels: the EER is 50% up to sampling error. With n = 2000 trials per class the
    # empirical FPR/FNR curves have standard deviation <= 100 * sqrt(0.25 / 2000) ~ 1.1 points; allow 5.
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 2000)
    assert equal_error_rate(rng.normal(size=4000), labels) == pytest.approx(50.0, abs=5.0)


def test_gaussian_scores_match_closed_form() -> None:
    # Targets ~ N(d, 1), non-targets ~ N(0, 1): FPR = FNR at the threshold d/2, so EER = Phi(-d/2).
    rng = np.random.default_rng(1)
    d, n = 2.0, 20_000
    labels = np.repeat([0, 1], n)
    scores = rng.normal(size=2 * n) + d * labels
    expected = 100.0 * 0.5 * math.erfc(d / 2 / math.sqrt(2))  # 15.87
    # Standard deviation ~ 100 * sqrt(p (1 - p) / n) / sqrt(2) ~ 0.18 points; allow 1.
    assert equal_error_rate(scores, labels) == pytest.approx(expected, abs=1.0)


def test_accepts_boolean_labels() -> None:
    labels = np.array([True, False, True, False])
    assert equal_error_rate(np.array([0.9, 0.1, 0.4, 0.6]), labels) == equal_error_rate(
        np.array([0.9, 0.1, 0.4, 0.6]), labels.astype(int))


@pytest.mark.parametrize(("scores", "labels", "message"), [
    (np.zeros(3), np.array([1, 1, 1]), "both target"),
    (np.zeros(3), np.array([0, 1]), "same length"),
    (np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1]), "finite"),
    (np.zeros(3), np.array([0, 1, 2]), "0 \\(non-target\\) or 1"),
    (np.zeros((2, 2)), np.array([0, 1]), "1-D"),
])
def test_rejects_bad_input(scores: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        equal_error_rate(scores, labels)


def test_speaker_verification_perfect_clusters_give_zero() -> None:
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(6), 5)  # 6 speakers, 5 utterances each
    centers = np.eye(8)[:6] * 10.0  # orthogonal directions: same-speaker cosine ~1, different ~0
    embeddings = centers[speakers] + 0.01 * rng.normal(size=(30, 8))
    assert speaker_verification_eer(embeddings, speakers) == 0.0


def test_speaker_verification_random_embeddings_give_about_fifty() -> None:
    # 40 speakers x 10 utterances: 1800 target and 78000 non-target pairs, but pairs share utterances, so the
    # effective sample is smaller than the pair count; 8 points is several standard deviations.
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(40), 10)
    assert speaker_verification_eer(rng.normal(size=(400, 16)), speakers) == pytest.approx(50.0, abs=8.0)


def test_speaker_verification_uses_cosine_not_norm() -> None:
    # Scaling an utterance's embedding must not change any score.
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.array(["a", "b", "c"]), 4)
    embeddings = rng.normal(size=(12, 5))
    scaled = embeddings * rng.uniform(0.1, 10.0, size=(12, 1))
    assert speaker_verification_eer(scaled, speakers) == pytest.approx(speaker_verification_eer(embeddings, speakers))


@pytest.mark.parametrize(("embeddings", "speakers", "message"), [
    (np.ones((4, 3)), np.array([0, 0, 0, 0]), "different-speaker"),
    (np.ones((4, 3)), np.array([0, 1, 2, 3]), "same-speaker"),
    (np.ones((4, 3)), np.array([0, 0, 1]), "one per embedding row"),
    (np.zeros((4, 3)), np.array([0, 0, 1, 1]), "zero embeddings"),
    (np.ones(4), np.array([0, 0, 1, 1]), "\\(N, D\\)"),
])
def test_speaker_verification_rejects_bad_input(embeddings: np.ndarray, speakers: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        speaker_verification_eer(embeddings, speakers)
