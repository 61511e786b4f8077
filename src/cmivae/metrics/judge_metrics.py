"""The Sprites judge's metrics: pure functions of probability tables and labels (no model, no torch).

The field's protocol (Li & Mandt 2018; C-DSVAE, NeurIPS 2021; SPYL, ICML 2023; DBSE, ICML 2024): a judge
classifier reads generated sequences. For a table ``p`` of the judge's probabilities ``(N, K)`` (row n =
p(y | x_n)) over K classes:

- accuracy: the share of rows whose most probable class is the label;
- H(y|x) = mean_n H(p(y | x_n)) (nats; low: the judge is confident, the sequences look like real ones);
- H(y) = H(mean_n p(y | x_n)) (nats; high: the generated labels are diverse; at most ln K, ln 9 for the action);
- IS = exp(mean_n KL(p(y | x_n) || p(y))) = exp(H(y) - H(y|x)) (between 1 and K).

Swaps (z of sequence A with s of sequence B) should read A's attributes and B's action
(:func:`swap_scores`). Representation probes (:func:`representation_probes`) fit a classifier from the
posterior means: z -> the four attributes and time-pooled s -> the action (higher is better), and the
leakage the other way, z -> action and s -> attributes (lower is better; chance is 1/9 and 1/6).
"""

from __future__ import annotations

import numpy as np

from cmivae.metrics.latent_probe import probe_accuracy

NUM_ACTIONS = 9
NUM_ATTRIBUTE_CLASSES = 6


def _table(probabilities: np.ndarray, name: str = "probabilities") -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"{name} must be (N, K) with N >= 1 and K >= 2 classes, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"{name} must be rows of probabilities (finite, >= 0, each summing to 1)")
    return p


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats along the last axis (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1)


def label_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose most probable class is the label, in [0, 1]."""
    p = _table(probabilities)
    labels = np.asarray(labels)
    if labels.shape != (p.shape[0],):
        raise ValueError(f"labels must be (N,) with N = {p.shape[0]}, got shape {labels.shape}")
    return float(np.mean(p.argmax(axis=1) == labels))


def conditional_entropy(probabilities: np.ndarray) -> float:
    """H(y|x) = mean over rows of the entropy of p(y | x_n), nats."""
    return float(np.mean(_entropy(_table(probabilities))))


def marginal_entropy(probabilities: np.ndarray) -> float:
    """H(y) = entropy of the mean row p(y) = mean_n p(y | x_n), nats (at most ln K)."""
    return float(_entropy(_table(probabilities).mean(axis=0)))


def inception_score(probabilities: np.ndarray) -> float:
    """IS = exp(mean_n KL(p(y | x_n) || p(y))) = exp(H(y) - H(y|x)), in [1, K]."""
    p = _table(probabilities)
    return float(np.exp(marginal_entropy(p) - conditional_entropy(p)))


def judge_scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"acc", "is", "h_yx", "h_y"}`` of one probability table against its labels."""
    return {"acc": label_accuracy(probabilities, labels), "is": inception_score(probabilities),
            "h_yx": conditional_entropy(probabilities), "h_y": marginal_entropy(probabilities)}


def attribute_scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """:func:`judge_scores` of each attribute, averaged over the attributes.

    Args:
        probabilities: ``(N, A, K)``: the judge's p(attribute a = k | x_n).
        labels: ``(N, A)``.
    """
    p, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels)
    if p.ndim != 3 or labels.shape != p.shape[:2]:
        raise ValueError(f"expected probabilities (N, A, K) and labels (N, A), got {p.shape} and {labels.shape}")
    per = [judge_scores(p[:, a], labels[:, a]) for a in range(p.shape[1])]
    return {key: float(np.mean([s[key] for s in per])) for key in per[0]}


def repeated_scores(tables: list[np.ndarray], labels: np.ndarray, attributes: bool = False) -> dict[str, float]:
    """The mean over K repeated draws of :func:`judge_scores` (or :func:`attribute_scores`), each draw one table."""
    if not tables:
        raise ValueError("need at least one table of probabilities")
    score = attribute_scores if attributes else judge_scores
    per = [score(t, labels) for t in tables]
    return {key: float(np.mean([s[key] for s in per])) for key in per[0]}


def swap_scores(action_probabilities: np.ndarray, attribute_probabilities: np.ndarray,
                action_of_b: np.ndarray, attributes_of_a: np.ndarray) -> dict[str, float]:
    """Swap accuracies of sequences decoded from z of A and s of B.

    Returns:
        ``action``: the judge reads B's action; ``attributes``: it reads A's attribute (mean over the 4);
        ``both``: it reads B's action and all four of A's attributes at once.
    """
    action_p = _table(action_probabilities, "action_probabilities")
    attribute_p = np.asarray(attribute_probabilities, dtype=np.float64)
    attributes_of_a, action_of_b = np.asarray(attributes_of_a), np.asarray(action_of_b)
    n = action_p.shape[0]
    if attribute_p.ndim != 3 or attribute_p.shape[0] != n or attributes_of_a.shape != attribute_p.shape[:2] \
            or action_of_b.shape != (n,):
        raise ValueError(f"expected action probabilities (N, 9), attribute probabilities (N, 4, 6), B's actions (N,) "
                         f"and A's attributes (N, 4); got {action_p.shape}, {attribute_p.shape}, {action_of_b.shape}, "
                         f"{attributes_of_a.shape}")
    action_right = action_p.argmax(axis=1) == action_of_b  # (N,)
    attributes_right = attribute_p.argmax(axis=2) == attributes_of_a  # (N, 4)
    return {"action": float(action_right.mean()), "attributes": float(attributes_right.mean()),
            "both": float(np.mean(action_right & attributes_right.all(axis=1)))}


def _pool_time(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    return s.mean(axis=1) if s.ndim == 3 else s  # (N, T, D_s) -> (N, D_s)


def representation_probes(z_train: np.ndarray, s_train: np.ndarray, attributes_train: np.ndarray,
                          action_train: np.ndarray, z_test: np.ndarray, s_test: np.ndarray,
                          attributes_test: np.ndarray, action_test: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Standardized logistic probes (:func:`cmivae.metrics.latent_probe.probe_accuracy`, ``standardize=True``,
    C = 1) from posterior means to labels, fitted on training sequences, scored on test sequences.

    Args:
        z_train, z_test: ``(N, D)`` means of q(z | x).
        s_train, s_test: ``(N, T, D_s)`` means of q(s_{1:T} | x, z), pooled over time ``-> (N, D_s)``.
        attributes_*: ``(N, 4)``; action_*: ``(N,)``.

    Returns:
        ``z_attributes`` (mean over the 4 attributes) and ``s_action`` (higher is better);
        ``z_action`` and ``s_attributes``, the leakage (lower is better).
    """
    s_train, s_test = _pool_time(s_train), _pool_time(s_test)
    attributes_train, attributes_test = np.asarray(attributes_train), np.asarray(attributes_test)

    def fit(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
        return probe_accuracy(train_x, train_y, test_x, test_y, seed=seed, standardize=True)

    def attributes(train_x: np.ndarray, test_x: np.ndarray) -> float:
        return float(np.mean([fit(train_x, attributes_train[:, a], test_x, attributes_test[:, a])
                              for a in range(attributes_train.shape[1])]))

    return {"z_attributes": attributes(z_train, z_test), "s_action": fit(s_train, action_train, s_test, action_test),
            "z_action": fit(z_train, action_train, z_test, action_test), "s_attributes": attributes(s_train, s_test)}
