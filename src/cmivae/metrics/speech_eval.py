"""DSAE speech metrics: EER(z), EER(s) (paper Sec. 5.2) and VC-mCAS (appendix J).

**EER(z), EER(s)** (Sec. 5.2). The test utterances are encoded with the *means* of the
encoders (:meth:`DSAE.encode`): z ``(N, D)`` per segment and s ``(N, T, D_s)``, the latter
averaged over time ``(N, T, D_s) -> (N, D_s)``. Each is then averaged over the segments of
its utterance (one embedding per utterance), and every pair of test utterances is one
cosine-similarity verification trial (:func:`cmivae.metrics.eer.speaker_verification_eer`).
Percent, as in Table 1: a low EER(z) means z holds the speaker, a high EER(s) means s
does not.

**VC-mCAS** (appendix J), percent as in Table 2:

1. 500 real segments ``x`` with gender labels ``y``, 250 per gender, drawn (seeded,
   without replacement) from ``source_split``. The paper only says "real speeches" and
   evaluates on "real test speeches"; we draw them from the **validation split** by
   default: its speakers are never in the test split (TIMIT: validation utterances
   belong to training speakers; folder/synthetic corpora: validation speakers are
   disjoint from train and test), and it is never fitted by the VAE, so the classifier
   is trained on conversions of held-out speech and tested on speakers it has never
   seen, with no overlap between the two sets. ``source_split="train"`` (the analogue
   of the training images of AoLR/mCAS, Sec. 5.3) or ``"test"`` are allowed.
2. 250 random cross-gender pairs ``(i, j)``, ``y_i != y_j`` (a random permutation of the
   250 female and of the 250 male segments, zipped).
3. Swap z: ``x_hat_{i,j} = decode(z_i, s_j)`` labelled ``y_i`` and ``x_hat_{j,i} =
   decode(z_j, s_i)`` labelled ``y_j``: 500 converted segments, 250 per label.
4. A logistic classifier on the time-averaged converted spectra ``(B, T, F) -> (B, F)``
   is scored on every real test segment (time-averaged) whose speaker's gender is known.

Everything happens on the model's normalized spectra (training-set per-bin mean/std), an
affine map of the log spectra. When ``source_split`` has fewer than 250 segments of a
gender, the number of pairs shrinks to what it has (a :class:`RuntimeWarning` says so);
when a gender is missing or unknown there, or the test split has no segment of known
gender, ``vc_mcas`` is NaN (with a warning) and the EERs are still reported.

**VC-mCAS by speaker** (``vc_mcas_speaker``, ours, for corpora where cross-gender pairs do
not exist: a single-gender corpus, or genders unknown). Appendix J's question -- does the
converted segment carry the voice of its z source? -- asked with the speaker as the label:
up to ``2 * 250`` test segments are drawn (seeded), zipped into pairs of *different
speakers*, converted both ways (``decode(z_i, s_j)`` labelled with i's speaker), a
logistic classifier is fitted on the time-averaged conversions and scored on the *other*
real test segments of those speakers (never the segments converted). Chance is one over
the number of test speakers, not 50 %; it is reported next to ``vc_mcas`` (NaN then), never
in its place.

The pure functions (arrays in, numbers out) are :func:`utterance_embeddings`,
:func:`speaker_verification_eers`, :func:`draw_conversion_pairs` and :func:`vc_mcas`;
:func:`encode_means`, :func:`decode_swapped` and :func:`evaluate_speech` are the thin
model adapter.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cmivae.metrics.eer import speaker_verification_eer
from cmivae.metrics.latent_probe import classification_accuracy_score

__all__ = [
    "VC_PAIRS",
    "utterance_embeddings",
    "speaker_verification_eers",
    "draw_conversion_pairs",
    "draw_speaker_pairs",
    "vc_mcas",
    "encode_means",
    "decode_swapped",
    "evaluate_speech",
]

VC_PAIRS = 250  # appendix J: 250 cross-gender pairs -> 500 converted segments


# --------------------------------------------------------------------------- pure functions


def utterance_embeddings(features: np.ndarray, utterance: np.ndarray, speaker: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Average per-segment embeddings over each utterance (Sec. 5.2).

    Args:
        features: ``(N, D)`` one embedding per segment.
        utterance: ``(N,)`` utterance index of each segment.
        speaker: ``(N,)`` speaker of each segment (constant within an utterance).

    Returns:
        ``(U, D)`` utterance embeddings and ``(U,)`` their speakers, in ascending utterance order.
    """
    features = np.asarray(features, dtype=np.float64)
    utterance, speaker = np.asarray(utterance), np.asarray(speaker)
    if features.ndim != 2 or utterance.shape != (features.shape[0],) or speaker.shape != utterance.shape:
        raise ValueError(f"expected features (N, D) with utterance and speaker (N,), got {features.shape}, "
                         f"{utterance.shape} and {speaker.shape}")
    names, inverse = np.unique(utterance, return_inverse=True)  # (U,), (N,)
    sums = np.zeros((names.shape[0], features.shape[1]))  # (U, D)
    np.add.at(sums, inverse, features)
    counts = np.bincount(inverse, minlength=names.shape[0])  # (U,)
    first = np.zeros(names.shape[0], dtype=np.int64)
    first[inverse[::-1]] = np.arange(features.shape[0])[::-1]  # (U,) first segment of each utterance
    utt_speaker = speaker[first]  # (U,)
    if np.any(utt_speaker[inverse] != speaker):
        raise ValueError("every segment of an utterance must have the same speaker")
    return sums / counts[:, None], utt_speaker


def speaker_verification_eers(z: np.ndarray, s: np.ndarray, utterance: np.ndarray, speaker: np.ndarray
                              ) -> dict[str, float]:
    """EER(z) and EER(s) in percent from encoder means of the test segments (Sec. 5.2).

    Args:
        z: ``(N, D)`` means of q(z | x) per segment.
        s: ``(N, T, D_s)`` means of q(s_t | .) per segment (averaged over t here).
        utterance: ``(N,)`` utterance index per segment (embeddings are averaged per utterance).
        speaker: ``(N,)`` speaker per segment.

    Returns:
        ``{"eer_z": ..., "eer_s": ...}``: cosine scoring over all utterance pairs.
    """
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 3:
        raise ValueError(f"s must be (N, T, D_s), got shape {s.shape}")
    z_utt, utt_speaker = utterance_embeddings(z, utterance, speaker)  # (U, D), (U,)
    s_utt, _ = utterance_embeddings(s.mean(axis=1), utterance, speaker)  # (N, T, D_s) -> (N, D_s) -> (U, D_s)
    return {"eer_z": speaker_verification_eer(z_utt, utt_speaker),
            "eer_s": speaker_verification_eer(s_utt, utt_speaker)}


def draw_conversion_pairs(gender: Sequence[Any] | np.ndarray, num_pairs: int, rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Random cross-gender pairs of appendix J: ``num_pairs`` female and male segments, zipped.

    Args:
        gender: ``(N,)`` ``"F"``, ``"M"`` or ``None`` (unknown, never drawn) per segment.
        num_pairs: pairs to draw (250 in the paper); each gender needs that many segments.
        rng: e.g. ``np.random.default_rng(seed)``.

    Returns:
        ``(female, male)``, two ``(num_pairs,)`` index arrays; pair k is ``(female[k], male[k])``.
    """
    gender = np.asarray(gender, dtype=object)
    female, male = np.flatnonzero(gender == "F"), np.flatnonzero(gender == "M")  # (N_F,), (N_M,)
    if num_pairs < 1 or num_pairs > min(female.shape[0], male.shape[0]):
        raise ValueError(f"cannot draw {num_pairs} cross-gender pairs from {female.shape[0]} female and "
                         f"{male.shape[0]} male segments")
    # Both draws are random permutations, so zipping them pairs segments at random.
    return rng.choice(female, num_pairs, replace=False), rng.choice(male, num_pairs, replace=False)


def draw_speaker_pairs(speaker: np.ndarray, num_pairs: int, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``num_pairs`` pairs of segments of different speakers, each segment used once.

    Args:
        speaker: ``(N,)`` speaker of each segment.
        num_pairs: pairs wanted (fewer if ``N < 2 * num_pairs`` or a drawn pair shares a speaker).
        rng: e.g. ``np.random.default_rng(seed)``.

    Returns:
        ``(first, second)``, two ``(P,)`` index arrays with ``speaker[first] != speaker[second]``.
    """
    speaker = np.asarray(speaker)
    rows = rng.permutation(speaker.shape[0])[: 2 * num_pairs]  # (<= 2P,) distinct segments
    half = rows.shape[0] // 2
    first, second = rows[:half], rows[half: 2 * half]
    keep = speaker[first] != speaker[second]
    return first[keep], second[keep]


def vc_mcas(converted: np.ndarray, converted_gender: np.ndarray, real: np.ndarray, real_gender: np.ndarray,
            seed: int = 0) -> float:
    """VC-mCAS in percent (appendix J, Table 2): logistic classifier fitted on time-averaged
    converted spectra labelled with the gender of their z source, accuracy on real ones.

    Args:
        converted: ``(B, T, F)`` voice-converted segments.
        converted_gender: ``(B,)`` gender of the segment each one's z came from.
        real: ``(M, T, F)`` real test segments.
        real_gender: ``(M,)`` their speakers' genders.
        seed: ``random_state`` of the classifier.
    """
    converted, real = np.asarray(converted), np.asarray(real)
    if converted.ndim != 3 or real.ndim != 3:
        raise ValueError(f"converted and real must be (B, T, F) spectra, got {converted.shape} and {real.shape}")
    accuracy = classification_accuracy_score(converted.mean(axis=1), np.asarray(converted_gender),  # (B, F)
                                             real.mean(axis=1), np.asarray(real_gender), seed=seed)  # (M, F)
    return 100.0 * accuracy


# --------------------------------------------------------------------------- model adapter


@torch.no_grad()
def encode_means(model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 500,
                 device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Encoder means (``model.encode``) of ``x`` ``(N, T, F)``: z ``(N, D)`` and s ``(N, T, D_s)``, float32."""
    zs, ss = [], []
    for start in range(0, x.shape[0], batch_size):
        z, s = model.encode(x[start:start + batch_size].to(device))  # (B, D), (B, T, D_s)
        zs.append(z.float().cpu())
        ss.append(s.float().cpu())
    return torch.cat(zs).numpy(), torch.cat(ss).numpy()


@torch.no_grad()
def decode_swapped(model: torch.nn.Module, z: np.ndarray, s: np.ndarray, z_rows: np.ndarray, s_rows: np.ndarray,
                   *, batch_size: int = 500, device: str | torch.device = "cpu") -> np.ndarray:
    """``decode(z[z_rows[k]], s[s_rows[k]])`` for every k (appendix J): ``(K, T, F)`` float32."""
    out = []
    for start in range(0, len(z_rows), batch_size):
        z_batch = torch.from_numpy(np.asarray(z[z_rows[start:start + batch_size]])).to(device)  # (B, D)
        s_batch = torch.from_numpy(np.asarray(s[s_rows[start:start + batch_size]])).to(device)  # (B, T, D_s)
        out.append(model.decode(z_batch, s_batch).float().cpu())  # (B, T, F)
    return torch.cat(out).numpy()


def _segment_gender(subset: Any, speaker_gender: Sequence[str | None]) -> np.ndarray:
    table = np.array(list(speaker_gender), dtype=object)  # (num_speakers,)
    return table[subset.speaker.numpy()]  # (N,) "F" / "M" / None


def evaluate_speech(model: torch.nn.Module, splits: Any, *, seed: int = 0, device: str | torch.device = "cpu",
                    batch_size: int = 500, num_pairs: int = VC_PAIRS, source_split: str = "val",
                    convert: bool = True) -> dict[str, float]:
    """EER(z), EER(s) (Sec. 5.2) and VC-mCAS (appendix J) of a DSAE, all in percent.

    Args:
        model: a DSAE (``encode(x) -> (z (B, D), s (B, T, D_s))``, ``decode(z, s) -> (B, T, F)``),
            already on ``device``; it is put in eval mode for the evaluation and restored.
        splits: :class:`cmivae.data.speech.loader.SpeechSplits` (normalized segments, speakers,
            utterances, ``speaker_gender``).
        seed: seeds the draw of the VC source segments and pairs, and the classifier.
        device: where batches are encoded and decoded.
        batch_size: segments per forward pass.
        num_pairs: cross-gender pairs for VC-mCAS (250, appendix J); fewer if ``source_split``
            lacks segments of a gender (warned).
        source_split: where the real segments that are converted come from (see the module
            docstring): ``"val"`` (default), ``"train"`` or ``"test"``.
        convert: also VC-mCAS (needs ``model.decode``); ``False``: the EERs only.

    Returns:
        ``{"eer_z", "eer_s", "vc_mcas"}``; ``vc_mcas`` is NaN when genders are unknown (warned).
    """
    if source_split not in ("train", "val", "test"):
        raise ValueError(f"source_split must be 'train', 'val' or 'test', got {source_split!r}")
    was_training = model.training
    model.eval()
    try:
        test = splits.test
        z, s = encode_means(model, test.x, batch_size=batch_size, device=device)  # (N, D), (N, T, D_s)
        results = speaker_verification_eers(z, s, test.utterance.numpy(), test.speaker.numpy())
        if not convert:
            return results
        results["vc_mcas"] = _vc_mcas_of_model(model, splits, encoded_test=(z, s), seed=seed, device=device,
                                               batch_size=batch_size, num_pairs=num_pairs, source_split=source_split)
        if math.isnan(results["vc_mcas"]):
            results["vc_mcas_speaker"] = vc_mcas_by_speaker(model, z, s, test, seed=seed, device=device,
                                                            batch_size=batch_size, num_pairs=num_pairs)
    finally:
        model.train(was_training)
    return results


def vc_mcas_by_speaker(model: torch.nn.Module, z: np.ndarray, s: np.ndarray, test: Any, *, seed: int,
                       device: str | torch.device, batch_size: int, num_pairs: int = VC_PAIRS) -> float:
    """VC-mCAS with speakers as labels (module docstring), percent; NaN (warned) under 2 test speakers.

    Args:
        model: the DSAE (``decode``).
        z, s: encoder means of the test segments, ``(N, D)`` and ``(N, T, D_s)``.
        test: the test :class:`~cmivae.data.speech.loader.SpeechSubset` (``x``, ``speaker``).
    """
    speaker = test.speaker.numpy()  # (N,)
    first, second = draw_speaker_pairs(speaker, num_pairs, np.random.default_rng(seed))  # 2 x (P,)
    used = np.zeros(speaker.shape[0], dtype=bool)
    used[first], used[second] = True, True
    scored = np.flatnonzero(~used & np.isin(speaker, speaker[np.concatenate([first, second])]))  # (M,)
    if first.shape[0] == 0 or scored.shape[0] == 0 or np.unique(speaker).shape[0] < 2:
        warnings.warn("vc_mcas_speaker needs at least 2 test speakers with segments left over for scoring; NaN",
                      RuntimeWarning, stacklevel=3)
        return math.nan
    z_rows = np.concatenate([first, second])  # z of each pair's first segment, then of its second
    s_rows = np.concatenate([second, first])  # s of the other one
    converted = decode_swapped(model, z, s, z_rows, s_rows, batch_size=batch_size, device=device)  # (2P, T, F)
    return vc_mcas(converted, speaker[z_rows], test.x[torch.from_numpy(scored)].numpy(), speaker[scored], seed=seed)


def _vc_mcas_of_model(model: torch.nn.Module, splits: Any, *, encoded_test: tuple[np.ndarray, np.ndarray],
                      seed: int, device: str | torch.device, batch_size: int, num_pairs: int,
                      source_split: str) -> float:
    source = getattr(splits, source_split)
    source_gender = _segment_gender(source, splits.speaker_gender)  # (N_src,)
    test_gender = _segment_gender(splits.test, splits.speaker_gender)  # (N_test,)
    available = min(int(np.sum(source_gender == "F")), int(np.sum(source_gender == "M")))
    known_test = np.flatnonzero((test_gender == "F") | (test_gender == "M"))  # (M,)
    if available == 0 or known_test.shape[0] == 0:
        known = sorted({g for g in splits.speaker_gender if g in ("F", "M")})
        if len(known) == 1:
            why = (f"every speaker with a known gender is {known[0]} (a single-gender corpus), so there are no "
                   f"cross-gender pairs")
        elif not known:
            why = "no speaker's gender is known (give the corpus a gender table: data.gender_table)"
        else:
            why = (f"the {source_split} split has {available} segments of its rarer gender and the test split "
                   f"{known_test.shape[0]} segments of known gender")
        warnings.warn(f"VC-mCAS (appendix J) is undefined here: {why}; vc_mcas is NaN, and vc_mcas_speaker "
                      f"(the same test with speakers as labels, chance 1/number of test speakers) is reported "
                      f"instead", RuntimeWarning, stacklevel=3)
        return math.nan
    if available < num_pairs:
        warnings.warn(f"VC-mCAS: the {source_split} split has only {available} segments of one gender, so "
                      f"{available} cross-gender pairs are used instead of {num_pairs} (appendix J)",
                      RuntimeWarning, stacklevel=3)
        num_pairs = available
    female, male = draw_conversion_pairs(source_gender, num_pairs, np.random.default_rng(seed))  # 2 x (P,)
    rows = np.concatenate([female, male])  # (2P,) the 500 real segments
    if source_split == "test":  # already encoded for the EERs
        z_src, s_src = encoded_test[0][rows], encoded_test[1][rows]  # (2P, D), (2P, T, D_s)
    else:
        z_src, s_src = encode_means(model, source.x[torch.from_numpy(rows)], batch_size=batch_size, device=device)
    local = np.arange(num_pairs)
    z_rows = np.concatenate([local, local + num_pairs])  # z of the female, then of the male segment of each pair
    s_rows = np.concatenate([local + num_pairs, local])  # s of the other one
    converted = decode_swapped(model, z_src, s_src, z_rows, s_rows, batch_size=batch_size, device=device)
    converted_gender = source_gender[rows][z_rows].astype(str)  # (2P,) the gender of the z source
    return vc_mcas(converted, converted_gender, splits.test.x[torch.from_numpy(known_test)].numpy(),
                   test_gender[known_test].astype(str), seed=seed)
