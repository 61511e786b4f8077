"""Train/validation/test splits of a speech corpus (paper Sec. 5.2, appendix G.1).

* :func:`split_speakers`: speaker-disjoint, seeded, gender-stratified (folder and synthetic
  corpora: test speakers must be unseen for speaker verification);
* :func:`split_utterances_within_speakers`: hold out utterances of every speaker (TIMIT's
  validation split, G.1 "90% of train and 10% of validation");
* :func:`split_utterances`: the same into train/val/test (``data.split=utterance``): every
  speaker is in every split, so EER is closed-set verification over the training speakers,
  for corpora with too few speakers for a speaker-disjoint test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from cmivae.infra.errors import DataError

__all__ = ["split_speakers", "split_utterances", "split_utterances_within_speakers"]

U = TypeVar("U")


def split_speakers(speakers: Sequence[str], genders: Sequence[str | None], *, val_fraction: float,
                   test_fraction: float, seed: int) -> dict[str, list[str]]:
    """Seeded speaker-disjoint train/val/test split, stratified by gender.

    Speakers of each gender (unknown counts as one more group) are shuffled, then
    interleaved in proportion to the group sizes; test takes the first
    ``round(test_fraction * n)`` (at least 1), val the next ``round(val_fraction * n)`` (at
    least 1), train the rest, so every split has about the corpus's gender ratio.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in (0, 1) "
                        f"with a sum below 1")
    if len(speakers) < 3:
        raise DataError(f"a speaker-disjoint train/val/test split needs at least 3 speakers, found {len(speakers)} "
                        f"({', '.join(speakers)}); add speakers to the corpus")
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = {}
    for speaker, gender in sorted(zip(speakers, genders, strict=True), key=lambda sg: sg[0]):
        groups.setdefault(gender or "?", []).append(speaker)
    keyed = []
    for gender in sorted(groups):
        members = [groups[gender][i] for i in rng.permutation(len(groups[gender]))]
        keyed.extend(((i + 0.5) / len(members), gender, speaker) for i, speaker in enumerate(members))
    order = [speaker for _, _, speaker in sorted(keyed)]
    num_test = max(1, round(test_fraction * len(order)))
    num_val = max(1, round(val_fraction * len(order)))
    if num_test + num_val >= len(order):
        raise DataError(f"{len(order)} speakers leave none for training with test_fraction={test_fraction} and "
                        f"val_fraction={val_fraction}; add speakers or lower the fractions")
    return {"train": sorted(order[num_test + num_val:]), "val": sorted(order[num_test: num_test + num_val]),
            "test": sorted(order[:num_test])}


def split_utterances_within_speakers(utterances: Sequence[U], val_fraction: float,
                                     seed: int) -> tuple[list[U], list[U]]:
    """TIMIT G.1: hold out ``round(val_fraction * n)`` (>= 1 if n >= 2) utterances per training speaker."""
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[U]] = {}
    for utt in utterances:
        by_speaker.setdefault(utt.speaker, []).append(utt)
    train: list[U] = []
    val: list[U] = []
    for speaker in sorted(by_speaker):
        own = by_speaker[speaker]
        num_val = max(1, round(val_fraction * len(own))) if len(own) >= 2 else 0
        held = set(rng.permutation(len(own))[:num_val].tolist())
        for i, utt in enumerate(own):
            (val if i in held else train).append(utt)
    return train, val


def split_utterances(utterances: Sequence[U], *, val_fraction: float, test_fraction: float,
                     seed: int) -> tuple[list[U], list[U], list[U]]:
    """Seeded train/val/test split of each speaker's utterances (``utterances`` have ``.speaker``).

    A speaker with ``n >= 3`` utterances gives ``max(1, round(test_fraction * n))`` to test
    and ``max(1, round(val_fraction * n))`` to validation (at least one stays in train);
    a speaker with fewer stays in train only.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in (0, 1) "
                        f"with a sum below 1")
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[U]] = {}
    for utt in utterances:
        by_speaker.setdefault(utt.speaker, []).append(utt)  # type: ignore[attr-defined]
    train: list[U] = []
    val: list[U] = []
    test: list[U] = []
    for speaker in sorted(by_speaker):
        own = by_speaker[speaker]
        n = len(own)
        num_test = min(max(1, round(test_fraction * n)), n - 2) if n >= 3 else 0
        num_val = min(max(1, round(val_fraction * n)), n - 1 - num_test) if n >= 3 else 0
        order = rng.permutation(n).tolist()
        role = {i: "test" for i in order[:num_test]} | {i: "val" for i in order[num_test:num_test + num_val]}
        for i, utt in enumerate(own):
            {"test": test, "val": val}.get(role.get(i, ""), train).append(utt)
    if not test:
        raise DataError("an utterance split needs speakers with at least 3 utterances (train, val and test); "
                        "none has")
    return train, val, test
