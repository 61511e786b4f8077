"""Equal error rate (EER) of a verification task, paper Sec. 5.2 (EER(z), EER(s)).

Convention. A trial is accepted when ``score >= threshold``. Sweeping the threshold
from above the largest score down to the smallest visits the ROC operating points
``(FPR_k, FNR_k)``, one per distinct score value (tied scores move together), starting
at ``(0, 1)`` and ending at ``(1, 0)``; along the way FPR never decreases and FNR never
increases. The EER is where the straight segment between two consecutive operating
points crosses the line ``FPR = FNR``: with ``d_k = FNR_k - FPR_k``, take the first
``k`` with ``d_k <= 0``; if ``d_k == 0`` the EER is ``FPR_k``, otherwise it is the
point on the segment ``k-1 -> k`` at fraction ``t = d_{k-1} / (d_{k-1} - d_k)``. This
value always lies between ``max_k min(FPR_k, FNR_k)`` and ``min_k max(FPR_k, FNR_k)``,
two numbers at most one operating-point step (``1/num_target`` or ``1/num_nontarget``)
apart. Returned in percent, as in Table 1.
"""

from __future__ import annotations

import numpy as np


def _as_finite_1d(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-trial values, got shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.float64)
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, found {int(np.sum(~np.isfinite(array)))} NaN/inf values")
    return array


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> float:
    """EER in percent (0..100) of ``scores`` for the trials ``labels``, paper Sec. 5.2.

    Args:
        scores: ``(N,)`` trial scores; higher means more likely a target trial.
        labels: ``(N,)`` 1 (or True) for a target trial (same speaker), 0 for a non-target.

    Returns:
        The rate at which the false positive rate equals the false negative rate, linearly
        interpolated on the ROC curve (see the module docstring for the exact convention).
    """
    scores = _as_finite_1d(scores, "scores")
    labels = _as_finite_1d(labels, "labels")
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have the same length, got {scores.shape[0]} and {labels.shape[0]}")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError(f"labels must be 0 (non-target) or 1 (target), got values {np.unique(labels)[:10]}")
    num_target = int(labels.sum())
    num_nontarget = labels.shape[0] - num_target
    if num_target == 0 or num_nontarget == 0:
        raise ValueError(
            f"EER needs both target (1) and non-target (0) trials, got {num_target} targets and "
            f"{num_nontarget} non-targets")

    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]  # (N,), descending score
    # The last index of each run of tied scores: accepting down to it is one operating point.
    run_ends = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])  # (K,)
    true_pos = np.cumsum(sorted_labels)[run_ends]  # (K,)
    false_pos = (run_ends + 1) - true_pos  # (K,)
    # Prepend the operating point that accepts nothing: (FPR, FNR) = (0, 1).
    fpr = np.r_[0.0, false_pos / num_nontarget]  # (K + 1,)
    fnr = np.r_[1.0, 1.0 - true_pos / num_target]  # (K + 1,)

    gap = fnr - fpr  # (K + 1,), non-increasing from 1 to -1
    k = int(np.argmax(gap <= 0))  # first crossing; k >= 1 because gap[0] == 1
    if gap[k] == 0:
        return float(100.0 * fpr[k])
    t = gap[k - 1] / (gap[k - 1] - gap[k])
    return float(100.0 * (fpr[k - 1] + t * (fpr[k] - fpr[k - 1])))


def speaker_verification_eer(embeddings: np.ndarray, speakers: np.ndarray) -> float:
    """EER in percent of cosine-similarity speaker verification, paper Sec. 5.2.

    Every unordered pair of utterances ``i < j`` is one trial, scored by the cosine
    similarity of their embeddings and labelled target when both come from the same
    speaker. For EER(z) the embeddings are the posterior means of z; for EER(s) they
    are the posterior means of s_{1:T} averaged over time, one row per utterance.

    Args:
        embeddings: ``(N, D)`` one embedding per utterance, each with a non-zero norm.
        speakers: ``(N,)`` speaker identities (any hashable dtype: ints or strings).
    """
    embeddings = np.asarray(embeddings)
    speakers = np.asarray(speakers)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), one row per utterance, got shape {embeddings.shape}")
    if speakers.shape != (embeddings.shape[0],):
        raise ValueError(
            f"speakers must be (N,) with N = {embeddings.shape[0]} (one per embedding row), got shape {speakers.shape}")
    embeddings = embeddings.astype(np.float64)
    if not np.all(np.isfinite(embeddings)):
        raise ValueError("embeddings must be finite, found NaN/inf values")
    norms = np.linalg.norm(embeddings, axis=1)  # (N,)
    if np.any(norms == 0):
        raise ValueError(
            f"cosine similarity is undefined for zero embeddings; rows {np.flatnonzero(norms == 0)[:10]} are all zero")

    unit = embeddings / norms[:, None]  # (N, D)
    rows, cols = np.triu_indices(embeddings.shape[0], k=1)  # (P,), (P,) with P = N (N - 1) / 2
    similarity = (unit @ unit.T)[rows, cols]  # (N, N) -> (P,)
    same_speaker = speakers[rows] == speakers[cols]  # (P,)
    if not same_speaker.any() or same_speaker.all():
        raise ValueError(
            "speaker verification needs both same-speaker and different-speaker pairs: give at least two "
            "utterances of some speaker and at least two speakers")
    return equal_error_rate(similarity, same_speaker.astype(np.float64))
