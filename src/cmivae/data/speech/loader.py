"""Speech corpora for the DSAE speaker-verification experiment (paper Sec. 5.2, appendix G.1).

One entry point, :func:`load_speech`, turns a corpus into :class:`SpeechSplits`:
200 ms log-magnitude segments ``x`` of shape ``(N, T=20, F=201)``
(:mod:`cmivae.data.speech.features`), normalized per frequency bin with the *training*
split's mean and std, with a speaker and an utterance index per segment (Sec. 5.2 averages
embeddings per utterance before scoring speaker verification).

Sources and their splits:

* ``"timit"`` -- the LDC TIMIT tree at a user's path (never downloaded):
  ``{TRAIN,TEST}/DR*/<speaker>/<utterance>.WAV`` (NIST SPHERE, read by soundfile), names
  matched case-insensitively. Speaker id = folder name, gender = its first letter. The
  official TRAIN/TEST split is kept (test speakers are disjoint, for verification); G.1
  "further split the train subset into 90% of train and 10% of validation": we split *by
  utterance within each training speaker* (seeded), so validation has the training
  speakers and every utterance's segments stay in one split.
* ``"folder"`` -- any folder of audio: ``root/<speaker>/**/*.wav|flac`` or, given
  ``speaker_pattern``, one flat folder ``root/*.wav|flac`` whose file names carry the
  speaker in the regex group ``(?P<speaker>...)``; genders from an optional CSV/TSV
  ``speaker,gender`` table. There is no official split, so speakers are split
  *speaker-disjointly* into train/val/test (seeded, gender-stratified where known): test
  speakers must be unseen for speaker verification.
* ``"synthetic"`` -- the espeak-ng corpus of :mod:`cmivae.data.speech.synthetic_speakers`
  (built on first use); a folder corpus whose speaker-disjoint split comes from its
  ``manifest.json`` and genders from ``speakers.csv``.

Features are cached under ``cache_dir`` (:mod:`cmivae.data.speech.cache`).

The pieces live in modules named after their concept: :mod:`~cmivae.data.speech.audio`
(reading files), :mod:`~cmivae.data.speech.corpora` (which files, which speaker),
:mod:`~cmivae.data.speech.splits`, :mod:`~cmivae.data.speech.cache`; this module assembles
them into :class:`SpeechSplits`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmivae.data.speech.audio import AUDIO_EXTENSIONS, read_audio
from cmivae.data.speech.cache import SampleRateError, cached_segments
from cmivae.data.speech.corpora import (
    Utterance,
    find_folder_utterances,
    find_timit_utterances,
    read_gender_table,
    subsample_per_speaker,
    synthetic_corpus,
)
from cmivae.data.speech.features import DEFAULT_FEATURES, FeatureParams, band_limit_bins, features_for_rate
from cmivae.data.speech.splits import split_speakers, split_utterances, split_utterances_within_speakers
from cmivae.infra.errors import DataError

__all__ = [
    "AUDIO_EXTENSIONS",
    "SpeechSubset",
    "SpeechSplits",
    "Utterance",
    "read_audio",
    "find_timit_utterances",
    "find_folder_utterances",
    "read_gender_table",
    "split_speakers",
    "load_speech",
    "load_data_config",
]

SOURCES = {"timit": "timit", "folder": "folder", "synthetic": "synthetic",
           # the names used by cmivae.config.DataConfig
           "speech-folder": "folder", "synthetic-speech": "synthetic"}
_MIN_STD = 1e-5  # floor of the per-bin std used for normalization (a constant bin stays finite)
# Below this many test speakers a speaker-verification EER measures which speakers were drawn
# more than the model (issue 16: 2 test speakers gave EER(z) 10 % or 28 % by split seed).
MIN_TEST_SPEAKERS = 10


# --------------------------------------------------------------------------- splits


@dataclass
class SpeechSubset:
    """One split's segments.

    Attributes:
        x: float32 ``(N, T, F)`` normalized log spectra (train-set per-bin mean/std).
        speaker: int64 ``(N,)`` index into :attr:`SpeechSplits.speaker_names`.
        utterance: int64 ``(N,)`` index into :attr:`SpeechSplits.utterance_names`
            (average embeddings per utterance with it, Sec. 5.2).
    """

    x: torch.Tensor
    speaker: torch.Tensor
    utterance: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class SpeechSplits:
    """A speech corpus as normalized 200 ms segments, split train/val/test (paper G.1).

    Attributes:
        train, val, test: the splits (test speakers are disjoint from train for every source).
        speaker_names: speaker id per speaker index, all splits together.
        speaker_gender: ``'F'``, ``'M'`` or ``None`` per speaker index.
        utterance_names: ``speaker/utterance`` per utterance index, all splits together.
        mean, std: float32 ``(F,)`` training-set per-bin statistics; ``x * std + mean`` is the log spectrum.
        features: the :class:`FeatureParams` used.
        source: ``timit``, ``folder`` or ``synthetic``.
        root: the corpus folder.
        corpus: what was actually loaded (:func:`corpus_summary`): speakers, utterances and
            segments per split, native sample rates, files skipped, share of audio dropped,
            split kind, whether too few test speakers make EER unreliable. Run metadata:
            written to the run's ``config.json`` under ``corpus``, never hashed.
        skipped_files: ``(path, reason)`` of every file left out (``on_bad_file="skip"``).
    """

    train: SpeechSubset
    val: SpeechSubset
    test: SpeechSubset
    speaker_names: list[str]
    speaker_gender: list[str | None]
    utterance_names: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    features: FeatureParams
    source: str
    root: str
    corpus: dict[str, Any] = field(default_factory=dict)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)

    def split(self, name: str) -> SpeechSubset:
        """The split called ``train``, ``val`` or ``test``."""
        if name not in ("train", "val", "test"):
            raise DataError(f"unknown split {name!r}; known splits: train, val, test")
        return getattr(self, name)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Log spectra from normalized ``x`` of shape ``(..., F)``."""
        return x * self.std.to(x) + self.mean.to(x)

    # Flat names shared with ImageSplits (``train_x``, ``val_x``, ``test_x``) for the training loop.
    @property
    def train_x(self) -> torch.Tensor:
        return self.train.x

    @property
    def val_x(self) -> torch.Tensor:
        return self.val.x

    @property
    def test_x(self) -> torch.Tensor:
        return self.test.x

    @property
    def train_speaker(self) -> torch.Tensor:
        return self.train.speaker

    @property
    def val_speaker(self) -> torch.Tensor:
        return self.val.speaker

    @property
    def test_speaker(self) -> torch.Tensor:
        return self.test.speaker

    @property
    def train_utterance(self) -> torch.Tensor:
        return self.train.utterance

    @property
    def val_utterance(self) -> torch.Tensor:
        return self.val.utterance

    @property
    def test_utterance(self) -> torch.Tensor:
        return self.test.utterance


def _bin_statistics(x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std (floored at ``_MIN_STD``) of ``x`` ``(N, T, F)``, in float64 chunks."""
    total = np.zeros(x.shape[-1])
    squares = np.zeros(x.shape[-1])
    for start in range(0, x.shape[0], chunk):
        part = x[start: start + chunk].reshape(-1, x.shape[-1]).astype(np.float64)  # (chunk * T, F)
        total += part.sum(axis=0)
        squares += np.square(part).sum(axis=0)
    count = x.shape[0] * x.shape[1]
    mean = total / count
    return mean, np.maximum(np.sqrt(np.maximum(squares / count - mean**2, 0.0)), _MIN_STD)



def _select_utterances(kind: str, root: Path, *, speaker_pattern: str | None, gender_table: str | Path | None,
                       val_fraction: float, test_fraction: float, split_seed: int,
                       max_utterances_per_speaker: int | None, num_speakers: int | None, synthetic_seed: int | None,
                       corpus_version: int | None, split: str
                       ) -> tuple[list[Any], list[Any], list[Any], dict[str, str]]:
    """The train, val and test utterances of a corpus and the speakers' genders: TIMIT's official
    split (val: utterances of training speakers, G.1), a synthetic corpus's manifest split, or a
    folder split by speaker (or by utterance, ``split="utterance"``)."""
    genders: dict[str, str] = {}
    if kind == "timit":
        train_pool, test_utts = find_timit_utterances(root)
        train_pool = subsample_per_speaker(train_pool, max_utterances_per_speaker)
        test_utts = subsample_per_speaker(test_utts, max_utterances_per_speaker)
        train_utts, val_utts = split_utterances_within_speakers(train_pool, val_fraction, split_seed)
        genders = {u.speaker: u.speaker[0] for u in train_pool + test_utts}
    else:
        if kind == "synthetic":
            fixed_split, table_path = synthetic_corpus(root, num_speakers, synthetic_seed, corpus_version)
            utterances = find_folder_utterances(root)
        else:
            if num_speakers is not None or synthetic_seed is not None or corpus_version is not None:
                raise DataError("num_speakers, synthetic_seed and corpus_version apply to source='synthetic' only")
            fixed_split, table_path = None, Path(gender_table) if gender_table is not None else None
            utterances = find_folder_utterances(root, speaker_pattern)
        utterances = subsample_per_speaker(utterances, max_utterances_per_speaker)
        if table_path is not None:
            genders = read_gender_table(table_path)
        speakers = sorted({u.speaker for u in utterances})
        if split == "utterance":
            fixed_split = None
        elif fixed_split is None:
            fixed_split = split_speakers(speakers, [genders.get(s) for s in speakers], val_fraction=val_fraction,
                                         test_fraction=test_fraction, seed=split_seed)
        else:
            missing = sorted(set(speakers) ^ {s for part in fixed_split.values() for s in part})
            if missing:
                raise DataError(f"the synthetic corpus in {root} does not match its manifest (speakers "
                                f"{', '.join(missing[:5])}); delete {root} and it is rebuilt on the next load")
        if fixed_split is None:  # split == "utterance"
            train_utts, val_utts, test_utts = split_utterances(utterances, val_fraction=val_fraction,
                                                               test_fraction=test_fraction, seed=split_seed)
        else:
            which = {s: name for name, part in fixed_split.items() for s in part}
            train_utts = [u for u in utterances if which[u.speaker] == "train"]
            val_utts = [u for u in utterances if which[u.speaker] == "val"]
            test_utts = [u for u in utterances if which[u.speaker] == "test"]
    return train_utts, val_utts, test_utts, genders


def _rate_checker(features: FeatureParams, max_frequency_hz: float | None) -> Callable[[Path, int], None]:
    """Refuses (:class:`SampleRateError`) a file recorded below twice the top of the feature band:
    its top bins would hold only the resampler's mirror image."""
    top_hz = features.sample_rate / 2 if max_frequency_hz is None else min(max_frequency_hz, features.sample_rate / 2)

    def check_rate(path: Path, rate: int) -> None:
        if rate / 2 < top_hz * 0.999:
            native = features_for_rate(rate).num_bins if rate >= 640 else 0
            raise SampleRateError(
                f"audio file {path} is recorded at {rate} Hz, so it holds nothing above {rate / 2:.0f} Hz, but the "
                f"features cover 0-{top_hz:.0f} Hz: the bins above {rate / 2:.0f} Hz would hold only the "
                f"resampler's mirror image. Compute the features at the native rate (data.sample_rate={rate}: "
                f"{native} bins, so also model.x_dim={native}) or limit the band (data.max_frequency_hz="
                f"{rate // 2}: {band_limit_bins(features, rate / 2)} bins, model.x_dim="
                f"{band_limit_bins(features, rate / 2)})")

    return check_rate


def _normalized_splits(segments: np.ndarray, owner: np.ndarray, ordered: list[Any],
                       parts: tuple[list[Any], list[Any], list[Any]], genders: dict[str, str], *,
                       features: FeatureParams, kind: str, root: Path, skipped: dict[int, str]) -> SpeechSplits:
    """The segments ``(N_all, T, F)`` (``owner``: ``(N_all,)`` index into ``ordered``, sorted) as
    train/val/test subsets normalized per bin by the training split's mean and std."""
    train_utts, val_utts, test_utts = parts
    speaker_names = sorted({u.speaker for u in ordered})
    speaker_index = {s: i for i, s in enumerate(speaker_names)}
    # Utterances are ordered train, val, test and `owner` is sorted, so each split is a slice of rows.
    bounds = np.searchsorted(owner, np.cumsum([0, len(train_utts), len(val_utts), len(test_utts)]))
    mean, std = _bin_statistics(segments[bounds[0]: bounds[1]])  # (F,), (F,) of the training split
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    utt_speaker = np.array([speaker_index[u.speaker] for u in ordered], dtype=np.int64)  # (num_utterances,)

    def subset(lo: int, hi: int) -> SpeechSubset:
        x = (segments[lo:hi] - mean32) / std32  # (N, T, F) float32
        return SpeechSubset(x=torch.from_numpy(x), speaker=torch.from_numpy(utt_speaker[owner[lo:hi]]),
                            utterance=torch.from_numpy(owner[lo:hi].copy()))

    splits = SpeechSplits(
        train=subset(bounds[0], bounds[1]), val=subset(bounds[1], bounds[2]), test=subset(bounds[2], bounds[3]),
        speaker_names=speaker_names, speaker_gender=[genders.get(s) for s in speaker_names],
        utterance_names=[u.name for u in ordered],
        mean=torch.from_numpy(mean.astype(np.float32)), std=torch.from_numpy(std.astype(np.float32)),
        features=features, source=kind, root=str(root),
        skipped_files=[(str(ordered[i].path), reason) for i, reason in sorted(skipped.items())],
    )
    return splits


def load_speech(
    source: str,
    root: str | Path,
    *,
    cache_dir: str | Path | None = None,
    speaker_pattern: str | None = None,
    gender_table: str | Path | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.25,
    split_seed: int = 0,
    max_utterances_per_speaker: int | None = None,
    max_segments_per_utterance: int | None = None,
    num_speakers: int | None = None,
    synthetic_seed: int | None = None,
    corpus_version: int | None = None,
    features: FeatureParams = DEFAULT_FEATURES,
    split: str = "speaker",
    on_bad_file: str = "error",
    last_segment: str = "drop",
    max_frequency_hz: float | None = None,
) -> SpeechSplits:
    """Load a speech corpus as normalized 200 ms segments split train/val/test (paper Sec. 5.2, G.1).

    Args:
        source: ``"timit"``, ``"folder"`` or ``"synthetic"`` (also the config names
            ``"speech-folder"``, ``"synthetic-speech"``).
        root: the corpus folder (TIMIT from LDC; a speech folder; the synthetic corpus,
            built there by :func:`cmivae.data.speech.synthetic_speakers.make_synthetic_speech` if missing).
        cache_dir: where the feature cache goes (e.g. ``data_dir/cache``); ``None`` disables it.
        speaker_pattern: folder only: regex with ``(?P<speaker>...)`` for a flat folder.
        gender_table: folder only: CSV/TSV ``speaker,gender``.
        val_fraction: TIMIT: utterances held out per training speaker (0.1, G.1);
            folder/synthetic: speakers held out for validation.
        test_fraction: folder only: speakers held out for testing (synthetic: fixed by its
            manifest; TIMIT: the official TEST set).
        split_seed: seed of the train/val(/test) split.
        max_utterances_per_speaker: keep each speaker's first k utterances (CPU presets).
        max_segments_per_utterance: keep at most k evenly spaced segments per utterance.
        num_speakers: synthetic only: speakers to build (``None``: the existing corpus or the default).
        synthetic_seed: synthetic only: voice seed of the build (``None``: existing or 0).
        features: spectrogram settings (defaults: G.1; :func:`~cmivae.data.speech.features.features_for_rate`
            for other rates). A file recorded below ``features.sample_rate`` (below twice the
            band limit) is refused: its top bins would hold only the resampler's mirror image.
        split: folder/synthetic: ``"speaker"`` (speaker-disjoint; synthetic: its manifest's
            split) or ``"utterance"`` (every speaker's utterances split train/val/test, so the
            test speakers are training speakers). TIMIT keeps its official split.
        on_bad_file: ``"error"`` (the first unreadable, silent or too-short file stops the
            load, naming it) or ``"skip"`` (such files are left out: one warning line, and
            :attr:`SpeechSplits.skipped_files` lists them).
        last_segment: ``"drop"`` or ``"pad"`` the last partial segment of each utterance
            (:mod:`cmivae.data.speech.features`); the share of frames dropped is in ``corpus``.
        max_frequency_hz: keep only the bins up to this frequency (an explicit band limit).

    Returns:
        :class:`SpeechSplits` with ``x`` of shape ``(N, 20, 201)`` per split.
    """
    if source not in SOURCES:
        raise DataError(f"unknown speech source {source!r}; known sources: timit, folder, synthetic")
    kind = SOURCES[source]
    root = Path(root).expanduser()
    if split not in ("speaker", "utterance"):
        raise DataError(f"split must be 'speaker' or 'utterance', got {split!r}")
    if kind != "folder" and (speaker_pattern is not None or gender_table is not None):
        raise DataError(f"speaker_pattern and gender_table apply to source='folder' only, not {kind!r}")

    train_utts, val_utts, test_utts, genders = _select_utterances(
        kind, root, speaker_pattern=speaker_pattern, gender_table=gender_table, val_fraction=val_fraction,
        test_fraction=test_fraction, split_seed=split_seed, max_utterances_per_speaker=max_utterances_per_speaker,
        num_speakers=num_speakers, synthetic_seed=synthetic_seed, corpus_version=corpus_version, split=split)
    if not train_utts:
        raise DataError(f"no training utterances in {root}; the corpus needs more speakers or utterances")

    ordered = train_utts + val_utts + test_utts
    num_bins = band_limit_bins(features, max_frequency_hz)
    check_rate = _rate_checker(features, max_frequency_hz)

    found = cached_segments(ordered, features, max_segments_per_utterance,
                            Path(cache_dir).expanduser() if cache_dir is not None else None,
                            on_bad_file=on_bad_file, last_segment=last_segment, check_rate=check_rate)
    segments, owner = found.segments, found.owner
    if num_bins < segments.shape[-1]:
        segments = np.ascontiguousarray(segments[..., :num_bins])  # (N_all, T, F) -> (N_all, T, F'), band limit
    # segments: (N_all, T, F) float32; owner: (N_all,) index into `ordered`

    splits = _normalized_splits(segments, owner, ordered, (train_utts, val_utts, test_utts), genders,
                                features=features, kind=kind, root=root, skipped=found.skipped)
    if found.skipped:
        first = splits.skipped_files[0]
        warnings.warn(f"skipped {len(found.skipped)} of {len(ordered)} audio files (data.on_bad_file=skip), e.g. "
                      f"{first[1]}; the list is written to the run directory (skipped_files.txt)",
                      RuntimeWarning, stacklevel=2)
    rates = Counter(int(r) for r in found.native_rate.tolist() if r)
    splits.corpus = corpus_summary(splits, split_kind="official" if kind == "timit" else split,
                                   native_rates=dict(sorted(rates.items())), num_bins=num_bins,
                                   max_frequency_hz=max_frequency_hz, last_segment=last_segment,
                                   total_frames=found.total_frames, dropped_frames=found.dropped_frames)
    if splits.corpus["few_test_speakers"]:
        warnings.warn(f"only {splits.corpus['speakers']['test']} test speakers (fewer than {MIN_TEST_SPEAKERS}): "
                      f"EER(z) and EER(s) then measure which speakers were drawn more than the model; add speakers, "
                      f"raise data.test_fraction, or use data.split=utterance (recorded as corpus.few_test_speakers "
                      f"in config.json)", RuntimeWarning, stacklevel=2)
    return splits


def corpus_summary(splits: SpeechSplits, *, split_kind: str, native_rates: dict[int, int], num_bins: int,
                   max_frequency_hz: float | None, last_segment: str, total_frames: int, dropped_frames: int
                   ) -> dict[str, Any]:
    """What a load actually produced, as plain JSON data (:attr:`SpeechSplits.corpus`)."""
    parts = {name: splits.split(name) for name in ("train", "val", "test")}
    return {
        "source": splits.source, "root": splits.root, "split": split_kind,
        "speakers": {name: int(torch.unique(part.speaker).numel()) for name, part in parts.items()},
        "utterances": {name: int(torch.unique(part.utterance).numel()) for name, part in parts.items()},
        "segments": {name: len(part) for name, part in parts.items()},
        "genders": dict(sorted(Counter(g or "unknown" for g in splits.speaker_gender).items())),
        "native_sample_rates": {str(rate): count for rate, count in native_rates.items()},
        "feature_sample_rate": splits.features.sample_rate, "num_bins": num_bins,
        "max_frequency_hz": max_frequency_hz, "last_segment": last_segment,
        "dropped_frame_fraction": round(dropped_frames / total_frames, 6) if total_frames else 0.0,
        "skipped_files": len(splits.skipped_files),
        "few_test_speakers": int(torch.unique(splits.test.speaker).numel()) < MIN_TEST_SPEAKERS,
    }


def _evenly_spaced(subset: SpeechSubset, count: int | None) -> SpeechSubset:
    if count is None or count >= len(subset):
        return subset
    keep = torch.from_numpy(np.unique(np.linspace(0, len(subset) - 1, max(1, count)).round().astype(np.int64)))
    return SpeechSubset(x=subset.x[keep], speaker=subset.speaker[keep], utterance=subset.utterance[keep])


def load_data_config(config: Any) -> SpeechSplits:
    """Load a speech data set (``synthetic-speech``, ``timit``, ``speech-folder``) from a ``DataConfig``.

    The feature cache goes to ``<data_dir>/cache``; the synthetic corpus is built in
    ``<data_dir>/synthetic-speech-<num_speakers>`` unless ``config.root`` names a folder.
    ``num_train`` / ``num_test`` keep that many evenly spaced segments of the train / test
    split (every speaker stays represented); validation shrinks in proportion to train.
    Normalization statistics are those of the full training split.
    """
    from cmivae.data.images.fetch import resolve_data_dir

    data_dir = resolve_data_dir(config.data_dir)
    kind = SOURCES.get(config.name)
    if kind is None:
        raise DataError(f"{config.name!r} is not a speech data set; known: {', '.join(sorted(SOURCES))}")
    kwargs: dict[str, Any] = {}
    if kind == "synthetic":
        from cmivae.data.speech.synthetic_speakers import (
            DEFAULT_NUM_SPEAKERS,
            DEFAULT_NUM_SPEAKERS_V2,
            corpus_folder_name,
        )

        version = config.synthetic_version
        num_speakers = config.num_speakers or (DEFAULT_NUM_SPEAKERS_V2 if version == 2 else DEFAULT_NUM_SPEAKERS)
        root = Path(config.root) if config.root else data_dir / corpus_folder_name(num_speakers, version)
        kwargs.update(num_speakers=num_speakers, corpus_version=version)
    else:
        if config.root is None:
            raise DataError(f"data set {config.name!r} needs data.root, the folder holding the corpus")
        root = Path(config.root)
        if kind == "folder":
            kwargs.update(speaker_pattern=config.speaker_pattern, gender_table=config.gender_table)
    if kind == "timit" and config.split != "speaker":
        raise DataError("TIMIT keeps its official speaker-disjoint TRAIN/TEST split; data.split=utterance applies "
                        "to speech-folder and synthetic-speech")
    if kind != "timit":
        kwargs.update(split=config.split, test_fraction=config.test_fraction)
    splits = load_speech(kind, root, cache_dir=data_dir / "cache", val_fraction=config.val_fraction,
                         split_seed=config.split_seed, features=features_for_rate(config.sample_rate),
                         on_bad_file=config.on_bad_file, last_segment=config.last_segment,
                         max_frequency_hz=config.max_frequency_hz, **kwargs)
    if config.num_train is not None and config.num_train < len(splits.train):
        num_val = max(1, round(len(splits.val) * config.num_train / len(splits.train)))
        splits.train = _evenly_spaced(splits.train, config.num_train)
        splits.val = _evenly_spaced(splits.val, num_val)
    splits.test = _evenly_spaced(splits.test, config.num_test)
    if config.num_train is not None or config.num_test is not None:
        splits.corpus["segments"] = {name: len(splits.split(name)) for name in ("train", "val", "test")}
    return splits
