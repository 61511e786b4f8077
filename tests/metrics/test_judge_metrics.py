"""The judge's metrics on oracles: a perfect and a random "model" (probability tables and latents)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmivae.metrics.judge_metrics import (
    attribute_scores,
    conditional_entropy,
    inception_score,
    judge_scores,
    label_accuracy,
    marginal_entropy,
    repeated_scores,
    representation_probes,
    swap_scores,
)


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[labels]


def balanced_actions(per_class: int = 50) -> np.ndarray:
    return np.repeat(np.arange(9), per_class)


def test_a_perfect_judge_reading_a_perfect_model() -> None:
    labels = balanced_actions()
    scores = judge_scores(one_hot(labels, 9), labels)
    assert scores["acc"] == 1.0
    assert scores["h_yx"] == pytest.approx(0.0, abs=1e-12)
    assert scores["h_y"] == pytest.approx(math.log(9))  # the maximum: every action equally often
    assert scores["is"] == pytest.approx(9.0)


def test_a_uniform_judge_is_chance() -> None:
    labels = balanced_actions()
    uniform = np.full((labels.shape[0], 9), 1 / 9)
    scores = judge_scores(uniform, labels)
    assert scores["h_yx"] == pytest.approx(math.log(9)) and scores["h_y"] == pytest.approx(math.log(9))
    assert scores["is"] == pytest.approx(1.0)


def test_a_random_model_scores_chance_accuracy_and_a_collapsed_one_no_diversity() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(9), 2000)
    random_model = one_hot(rng.integers(0, 9, labels.shape[0]), 9)  # confident, random actions
    assert label_accuracy(random_model, labels) == pytest.approx(1 / 9, abs=0.01)
    assert marginal_entropy(random_model) == pytest.approx(math.log(9), abs=0.01)
    collapsed = one_hot(np.zeros(labels.shape[0], dtype=int), 9)  # always the same action
    assert label_accuracy(collapsed, labels) == pytest.approx(1 / 9)
    assert marginal_entropy(collapsed) == pytest.approx(0.0) and inception_score(collapsed) == pytest.approx(1.0)
    soft = rng.dirichlet(np.ones(9), size=500)
    assert 1.0 <= inception_score(soft) <= 9.0
    assert 0.0 < conditional_entropy(soft) < math.log(9)


def test_attribute_scores_average_the_four_attributes() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, size=(600, 4))
    perfect = one_hot(labels, 6)  # (N, 4, 6)
    assert attribute_scores(perfect, labels)["acc"] == 1.0
    half = perfect.copy()
    half[:, :2] = one_hot((labels[:, :2] + 1) % 6, 6)  # body and bottom always wrong
    assert attribute_scores(half, labels)["acc"] == pytest.approx(0.5)
    repeated = repeated_scores([perfect, half], labels, attributes=True)
    assert repeated["acc"] == pytest.approx(0.75)


def test_swaps_read_a_s_attributes_and_b_s_action() -> None:
    rng = np.random.default_rng(2)
    attributes_a, action_b = rng.integers(0, 6, size=(300, 4)), rng.integers(0, 9, size=300)
    action_a = (action_b + 1 + rng.integers(0, 8, size=300)) % 9  # A's action always differs from B's
    perfect = swap_scores(one_hot(action_b, 9), one_hot(attributes_a, 6), action_b, attributes_a)
    assert perfect == {"action": 1.0, "attributes": 1.0, "both": 1.0}
    # a model that ignores the swap (decodes A again) reads A's action: never B's
    ignores = swap_scores(one_hot(action_a, 9), one_hot(attributes_a, 6), action_b, attributes_a)
    assert ignores["action"] == 0.0 and ignores["attributes"] == 1.0 and ignores["both"] == 0.0
    random = swap_scores(one_hot(rng.integers(0, 9, 300), 9), one_hot(rng.integers(0, 6, (300, 4)), 6),
                         action_b, attributes_a)
    assert random["action"] < 0.25 and random["attributes"] < 0.3 and random["both"] < 0.02


def test_probes_on_a_disentangled_and_a_random_representation() -> None:
    rng = np.random.default_rng(3)

    def sequences(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.integers(0, 6, size=(n, 4)), rng.integers(0, 9, size=n)

    (attr_tr, act_tr), (attr_te, act_te) = sequences(900), sequences(450)

    def disentangled(attributes: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.concatenate([one_hot(attributes, 6).reshape(-1, 24), 0.01 * rng.normal(size=(len(action), 4))], 1)
        s_step = one_hot(action, 9) + 0.01 * rng.normal(size=(len(action), 9))  # (N, 9)
        s = np.repeat(s_step[:, None], 8, axis=1) + 0.01 * rng.normal(size=(len(action), 8, 9))  # (N, T, 9)
        return z, s

    z_tr, s_tr = disentangled(attr_tr, act_tr)
    z_te, s_te = disentangled(attr_te, act_te)
    good = representation_probes(z_tr, s_tr, attr_tr, act_tr, z_te, s_te, attr_te, act_te)
    assert good["z_attributes"] > 0.99 and good["s_action"] > 0.99
    assert good["z_action"] < 0.2 and good["s_attributes"] < 0.25  # no leakage: chance is 1/9 and 1/6
    noise = representation_probes(rng.normal(size=(900, 8)), rng.normal(size=(900, 8, 4)), attr_tr, act_tr,
                                  rng.normal(size=(450, 8)), rng.normal(size=(450, 8, 4)), attr_te, act_te)
    assert max(noise.values()) < 0.25


@pytest.mark.parametrize("bad", [np.ones((3, 9)), np.full((3, 9), np.nan), np.zeros((0, 9)), np.ones(9) / 9])
def test_malformed_tables_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="probabilities"):
        conditional_entropy(bad)
