"""Speech corpora for the DSAE speaker-verification experiment (paper Sec. 5.2, appendix G.1).

One entry point, :func:`load_speech`, turns a corpus into :class:`SpeechSplits`:
200 ms log-magnitude segments ``x`` of shape ``(N, T=20, F=201)``
(:mod:`cmivae.data.speech_features`), normalized per frequency bin with the *training*
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
* ``"synthetic"`` -- the espeak-ng corpus of :mod:`cmivae.data.synthetic_speakers`
  (built on first use); a folder corpus whose speaker-disjoint split comes from its
  ``manifest.json`` and genders from ``speakers.csv``.

Features are cached under ``cache_dir`` in one ``.npz`` per corpus, keyed by a hash of
the file list (paths, sizes, mtimes), the feature parameters and the segment cap; the file
is written atomically (temporary file, fsync, ``os.replace``), so a second load reads it
instead of recomputing and an interrupted write leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

from cmivae.atomic import atomic_writer
from cmivae.data import audio_checks, speech_features
from cmivae.data.speech_features import DEFAULT_FEATURES, FeatureParams
from cmivae.errors import DataError

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

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac")
SOURCES = {"timit": "timit", "folder": "folder", "synthetic": "synthetic",
           # the names used by cmivae.config.DataConfig
           "speech-folder": "folder", "synthetic-speech": "synthetic"}
_CACHE_FORMAT = 1
_MIN_STD = 1e-5  # floor of the per-bin std used for normalization (a constant bin stays finite)


# --------------------------------------------------------------------------- audio


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Read a sound file as mono float32 in [-1, 1] at ``sample_rate`` Hz.

    Any format libsndfile reads (WAV, FLAC, NIST SPHERE as in TIMIT's ``.WAV`` files; the
    format is detected from the header, not the name). Channels are averaged; other rates
    are resampled with ``scipy.signal.resample_poly`` (polyphase, Kaiser-windowed FIR).

    Raises:
        DataError: unreadable, empty (0 samples) or silent file, naming the file.
    """
    path = Path(path)
    audio_checks.check_header(path, sample_rate)  # before any decode or resampling: rate, duration, memory
    try:
        data, rate = sf.read(audio_checks.sound_source(path), dtype="float64", always_2d=True)  # (num_samples, C)
    except Exception as err:  # soundfile raises LibsndfileError/RuntimeError/TypeError by format
        hint = "Check that it is a WAV, FLAC or NIST SPHERE file, or remove it."
        try:
            with open(path, "rb") as handle:
                head = handle.read(1024)
        except OSError:
            head = b""
        if head.startswith(b"NIST_1A") and b"shorten" in head:
            hint = "It is shorten-compressed SPHERE: decompress it first, e.g. `sph2pipe -f wav in.WAV out.wav`."
        raise DataError(f"cannot read audio file {path}: {err}. {hint}") from err
    if data.shape[0] == 0:
        raise DataError(f"audio file {path} is empty (0 samples); expected speech. Remove or replace it.")
    audio = data.mean(axis=1)  # (num_samples,) mono mixdown
    if rate != sample_rate:
        gcd = math.gcd(int(rate), int(sample_rate))
        audio = resample_poly(audio, sample_rate // gcd, int(rate) // gcd)
    speech_features.check_not_silent(audio, name=f"audio file {path}")
    return audio.astype(np.float32)


# --------------------------------------------------------------------------- corpora


@dataclass(frozen=True)
class Utterance:
    """One audio file: its path, speaker id and a name unique in the corpus (``speaker/utt``)."""

    path: Path
    speaker: str
    name: str


def _casefold_child(parent: Path, name: str) -> Path | None:
    for child in sorted(parent.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _find_timit_root(root: Path) -> Path | None:
    """The folder holding TRAIN and TEST: ``root`` itself or up to two levels below it."""
    level = [root]
    for _ in range(3):
        for folder in level:
            if _casefold_child(folder, "train") and _casefold_child(folder, "test"):
                return folder
        level = [child for folder in level for child in sorted(folder.iterdir())
                 if child.is_dir() and not child.name.startswith(".")]
    return None


def _audio_files(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))


def find_timit_utterances(root: str | Path) -> tuple[list[Utterance], list[Utterance]]:
    """List TIMIT's training and test utterances under ``root``.

    Expects ``root/{TRAIN,TEST}/DR*/<speaker>/<utterance>.WAV`` (any letter case; ``root``
    may also be one or two folders above ``TRAIN``/``TEST``, as on the LDC disc). When one
    utterance has several files (e.g. ``SA1.WAV`` and a converted ``SA1.WAV.wav``), the
    first in sorted order is used.

    Returns:
        ``(train, test)`` utterances sorted by speaker then name.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"TIMIT path {root} is not a folder; expected the TIMIT folder holding TRAIN/ and TEST/ "
                        f"(pass data.root=/path/to/TIMIT)")
    base = _find_timit_root(root)
    if base is None:
        found = ", ".join(sorted(p.name for p in root.iterdir())[:10]) or "nothing"
        raise DataError(f"{root} is not a TIMIT tree: expected TRAIN/ and TEST/ folders (any case) laid out as "
                        f"TRAIN/DR1/FCJF0/SA1.WAV, found {found}. Point data.root at the TIMIT folder from LDC.")
    splits: list[list[Utterance]] = []
    for split in ("train", "test"):
        folder = _casefold_child(base, split)
        assert folder is not None
        utterances: dict[tuple[str, str], Utterance] = {}
        for region in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower().startswith("dr")):
            for speaker_dir in sorted(p for p in region.iterdir() if p.is_dir()):
                speaker = speaker_dir.name.upper()
                for path in _audio_files(speaker_dir, recursive=False):
                    utt = path.name.split(".")[0].upper()
                    utterances.setdefault((speaker, utt), Utterance(path, speaker, f"{speaker}/{utt}"))
        if not utterances:
            raise DataError(f"no audio found in TIMIT folder {folder}: expected {folder.name}/DR*/<speaker>/*.WAV "
                            f"(NIST SPHERE or WAV). Check that the corpus was copied completely.")
        splits.append([utterances[key] for key in sorted(utterances)])
    bad = sorted({u.speaker for split in splits for u in split if u.speaker[:1] not in ("F", "M")})
    if bad:
        raise DataError(f"TIMIT speaker folders must start with F or M (the gender), found {', '.join(bad[:5])}; "
                        f"is {root} really TIMIT? Use source='folder' for other corpora.")
    return splits[0], splits[1]


def find_folder_utterances(root: str | Path, speaker_pattern: str | None = None) -> list[Utterance]:
    """List a generic corpus: ``root/<speaker>/**/*.wav|flac``, or a flat folder with ``speaker_pattern``.

    Args:
        root: the corpus folder.
        speaker_pattern: regex with a named group ``speaker`` searched in each file name of
            the flat folder ``root/*.wav|flac`` (e.g. ``r"^(?P<speaker>[a-z]+\\d+)_"``); every
            file must match. ``None`` means one sub-folder per speaker.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"speech folder {root} does not exist or is not a folder; expected root/<speaker>/*.wav "
                        f"or a flat folder of .wav files with data.speaker_pattern")
    if speaker_pattern is None:
        utterances = []
        for speaker_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in _audio_files(speaker_dir, recursive=True):
                rel = path.relative_to(speaker_dir).with_suffix("").as_posix()
                utterances.append(Utterance(path, speaker_dir.name, f"{speaker_dir.name}/{rel}"))
        if not utterances:
            flat = _audio_files(root, recursive=False)
            hint = (f" It holds {len(flat)} audio files directly: pass a speaker_pattern (data.speaker_pattern) "
                    f"with a (?P<speaker>...) group to read the speaker from each file name.") if flat else ""
            raise DataError(f"no audio found in {root}: expected one folder per speaker with .wav/.flac files "
                            f"inside (root/<speaker>/*.wav).{hint}")
        return utterances
    try:
        regex = re.compile(speaker_pattern)
    except re.error as err:
        raise DataError(f"speaker_pattern {speaker_pattern!r} is not a valid regular expression: {err}") from err
    if "speaker" not in regex.groupindex:
        raise DataError(f"speaker_pattern {speaker_pattern!r} has no named group 'speaker'; expected e.g. "
                        f"r'^(?P<speaker>[^_]+)_' to take the text before the first underscore")
    files = _audio_files(root, recursive=False)
    if not files:
        raise DataError(f"no audio found in {root}: expected .wav/.flac files directly in it "
                        f"(a flat folder, since a speaker_pattern was given)")
    utterances, unmatched = [], []
    for path in files:
        match = regex.search(path.name)
        if match is None or not match.group("speaker"):
            unmatched.append(path.name)
            continue
        speaker = match.group("speaker")
        utterances.append(Utterance(path, speaker, f"{speaker}/{path.stem}"))
    if not utterances:
        raise DataError(f"speaker_pattern {speaker_pattern!r} matches none of the {len(files)} file names in {root} "
                        f"(e.g. {files[0].name!r}); fix the pattern so its (?P<speaker>...) group finds the speaker")
    if unmatched:
        raise DataError(f"speaker_pattern {speaker_pattern!r} does not match {len(unmatched)} of {len(files)} files "
                        f"in {root} (e.g. {', '.join(unmatched[:3])}); every file needs a speaker: fix the pattern "
                        f"or move those files out")
    return sorted(utterances, key=lambda u: (u.speaker, u.name))


_GENDERS = {"f": "F", "female": "F", "w": "F", "woman": "F", "m": "M", "male": "M", "man": "M"}


def read_gender_table(path: str | Path) -> dict[str, str]:
    """Read a CSV or TSV table with a header holding columns ``speaker`` and ``gender``.

    Gender values F/M (also female/male, any case); other columns are ignored.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read gender table {path}: {err}; expected a CSV/TSV file "
                        f"with a header 'speaker,gender'") from err
    lines = text.splitlines()
    delimiter = "\t" if lines and "\t" in lines[0] else ","
    rows = list(csv.DictReader(lines, delimiter=delimiter))
    header = [h.strip().lower() for h in (rows[0].keys() if rows else (lines[0].split(delimiter) if lines else []))]
    if "speaker" not in header or "gender" not in header:
        raise DataError(f"gender table {path} must have a header with columns 'speaker' and 'gender', "
                        f"found {header}; e.g. first line 'speaker,gender' then 'p225,F'")
    table: dict[str, str] = {}
    for line_no, row in enumerate(rows, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        gender = _GENDERS.get(row["gender"].lower())
        if gender is None:
            raise DataError(f"gender table {path} line {line_no}: gender {row['gender']!r} of speaker "
                            f"{row['speaker']!r} is not F or M (female/male)")
        table[row["speaker"]] = gender
    return table


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


def _cache_key(utterances: Sequence[Utterance], params: FeatureParams, max_segments: int | None) -> str:
    files = []
    for utt in utterances:
        stat = utt.path.stat()
        files.append([str(utt.path.resolve()), stat.st_size, stat.st_mtime_ns])
    blob = json.dumps({"format": _CACHE_FORMAT, "files": files, "features": params.to_dict(),
                       "max_segments_per_utterance": max_segments}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _compute_segments(utterances: Sequence[Utterance], params: FeatureParams,
                      max_segments: int | None) -> tuple[np.ndarray, np.ndarray]:
    """All utterances' segments ``(N, T, F)`` and the utterance index of each ``(N,)``."""
    parts, owners = [], []
    for index, utt in enumerate(utterances):
        audio = read_audio(utt.path, params.sample_rate)
        if audio.shape[0] < params.min_samples:
            raise DataError(f"audio file {utt.path} is too short: {1000 * audio.shape[0] / params.sample_rate:.0f} ms, "
                            f"a 20-frame segment needs {1000 * params.min_samples / params.sample_rate:.0f} ms; "
                            f"remove it from the corpus")
        segments = speech_features.segment_utterance(audio, params.sample_rate, params, max_segments)  # (n, T, F)
        parts.append(segments)
        owners.append(np.full(segments.shape[0], index, dtype=np.int64))
        if (index + 1) % 500 == 0:
            log.info("features: %d/%d utterances", index + 1, len(utterances))
    return np.concatenate(parts), np.concatenate(owners)


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``path`` atomically (temporary sibling, fsync, ``os.replace``)."""
    with atomic_writer(path) as handle:
        np.savez(handle, **arrays)


def _cached_segments(utterances: Sequence[Utterance], params: FeatureParams, max_segments: int | None,
                     cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if cache_dir is None:
        return _compute_segments(utterances, params, max_segments)
    key = _cache_key(utterances, params, max_segments)
    path = Path(cache_dir) / f"speech-{key[:20]}.npz"
    names = np.array([u.name for u in utterances])
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                if data["key"].item() == key and np.array_equal(data["names"], names):
                    return data["segments"], data["utterance"]
            log.warning("feature cache %s belongs to another corpus; recomputing", path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            log.warning("feature cache %s is unreadable (%s); recomputing", path, err)
    segments, owners = _compute_segments(utterances, params, max_segments)
    _atomic_save_npz(path, key=np.array(key), names=names, segments=segments, utterance=owners)
    return segments, owners


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


def _subsample(utterances: list[Utterance], max_per_speaker: int | None) -> list[Utterance]:
    if max_per_speaker is None:
        return utterances
    if max_per_speaker < 1:
        raise DataError(f"max_utterances_per_speaker must be a positive integer or None, got {max_per_speaker!r}")
    kept, counts = [], {}
    for utt in utterances:  # sorted by speaker then name: keeps each speaker's first ones
        counts[utt.speaker] = counts.get(utt.speaker, 0) + 1
        if counts[utt.speaker] <= max_per_speaker:
            kept.append(utt)
    return kept


def _split_utterances_within_speakers(utterances: Sequence[Utterance], val_fraction: float,
                                      seed: int) -> tuple[list[Utterance], list[Utterance]]:
    """TIMIT G.1: hold out ``round(val_fraction * n)`` (>= 1 if n >= 2) utterances per training speaker."""
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[Utterance]] = {}
    for utt in utterances:
        by_speaker.setdefault(utt.speaker, []).append(utt)
    train, val = [], []
    for speaker in sorted(by_speaker):
        own = by_speaker[speaker]
        num_val = max(1, round(val_fraction * len(own))) if len(own) >= 2 else 0
        held = set(rng.permutation(len(own))[:num_val].tolist())
        for i, utt in enumerate(own):
            (val if i in held else train).append(utt)
    return train, val


def _synthetic_corpus(root: Path, num_speakers: int | None, seed: int | None) -> tuple[dict[str, list[str]], Path]:
    """The split and speaker table of the synthetic corpus in ``root``, built first if missing.

    An existing corpus is used as it is (no espeak-ng needed) unless it contradicts an
    explicitly asked ``num_speakers`` or ``seed``.
    """
    from cmivae.data import synthetic_speakers  # lazy: synthetic_speakers imports this module

    manifest_path = root / synthetic_speakers.MANIFEST
    wanted = {key: value for key, value in (("num_speakers", num_speakers), ("seed", seed)) if value is not None}
    if not manifest_path.exists():
        synthetic_speakers.make_synthetic_speech(root, **wanted)
    try:
        manifest = json.loads(manifest_path.read_text())
        settings = manifest["settings"]
        split = {name: list(manifest["split"][name]) for name in ("train", "val", "test")}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"synthetic corpus manifest {manifest_path} is unreadable or incomplete ({err}); "
                        f"delete {root} and it is rebuilt on the next load") from err
    clash = {key: value for key, value in wanted.items() if settings.get(key) != value}
    if clash:
        found = ", ".join(f"{key}={settings.get(key)!r} (asked {value!r})" for key, value in clash.items())
        raise DataError(f"{root} holds a synthetic corpus built with other settings: {found}; delete it to "
                        f"rebuild, or choose another folder")
    return split, root / synthetic_speakers.SPEAKER_TABLE


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
    features: FeatureParams = DEFAULT_FEATURES,
) -> SpeechSplits:
    """Load a speech corpus as normalized 200 ms segments split train/val/test (paper Sec. 5.2, G.1).

    Args:
        source: ``"timit"``, ``"folder"`` or ``"synthetic"`` (also the config names
            ``"speech-folder"``, ``"synthetic-speech"``).
        root: the corpus folder (TIMIT from LDC; a speech folder; the synthetic corpus,
            built there by :func:`cmivae.data.synthetic_speakers.make_synthetic_speech` if missing).
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
        features: spectrogram settings (defaults: G.1).

    Returns:
        :class:`SpeechSplits` with ``x`` of shape ``(N, 20, 201)`` per split.
    """
    if source not in SOURCES:
        raise DataError(f"unknown speech source {source!r}; known sources: timit, folder, synthetic")
    kind = SOURCES[source]
    root = Path(root).expanduser()
    if kind != "folder" and (speaker_pattern is not None or gender_table is not None):
        raise DataError(f"speaker_pattern and gender_table apply to source='folder' only, not {kind!r}")

    genders: dict[str, str] = {}
    if kind == "timit":
        train_pool, test_utts = find_timit_utterances(root)
        train_pool = _subsample(train_pool, max_utterances_per_speaker)
        test_utts = _subsample(test_utts, max_utterances_per_speaker)
        train_utts, val_utts = _split_utterances_within_speakers(train_pool, val_fraction, split_seed)
        genders = {u.speaker: u.speaker[0] for u in train_pool + test_utts}
    else:
        if kind == "synthetic":
            fixed_split, table_path = _synthetic_corpus(root, num_speakers, synthetic_seed)
            utterances = find_folder_utterances(root)
        else:
            if num_speakers is not None or synthetic_seed is not None:
                raise DataError("num_speakers and synthetic_seed apply to source='synthetic' only")
            fixed_split, table_path = None, Path(gender_table) if gender_table is not None else None
            utterances = find_folder_utterances(root, speaker_pattern)
        utterances = _subsample(utterances, max_utterances_per_speaker)
        if table_path is not None:
            genders = read_gender_table(table_path)
        speakers = sorted({u.speaker for u in utterances})
        if fixed_split is None:
            fixed_split = split_speakers(speakers, [genders.get(s) for s in speakers], val_fraction=val_fraction,
                                         test_fraction=test_fraction, seed=split_seed)
        else:
            missing = sorted(set(speakers) ^ {s for part in fixed_split.values() for s in part})
            if missing:
                raise DataError(f"the synthetic corpus in {root} does not match its manifest (speakers "
                                f"{', '.join(missing[:5])}); delete {root} and it is rebuilt on the next load")
        which = {s: name for name, part in fixed_split.items() for s in part}
        train_utts = [u for u in utterances if which[u.speaker] == "train"]
        val_utts = [u for u in utterances if which[u.speaker] == "val"]
        test_utts = [u for u in utterances if which[u.speaker] == "test"]
    if not train_utts:
        raise DataError(f"no training utterances in {root}; the corpus needs more speakers or utterances")

    ordered = train_utts + val_utts + test_utts
    speaker_names = sorted({u.speaker for u in ordered})
    speaker_index = {s: i for i, s in enumerate(speaker_names)}
    segments, owner = _cached_segments(ordered, features, max_segments_per_utterance,
                                       Path(cache_dir).expanduser() if cache_dir is not None else None)
    # segments: (N_all, T, F) float32; owner: (N_all,) index into `ordered`

    # Utterances are ordered train, val, test and `owner` is sorted, so each split is a slice of rows.
    bounds = np.searchsorted(owner, np.cumsum([0, len(train_utts), len(val_utts), len(test_utts)]))
    mean, std = _bin_statistics(segments[bounds[0]: bounds[1]])  # (F,), (F,) of the training split
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    utt_speaker = np.array([speaker_index[u.speaker] for u in ordered], dtype=np.int64)  # (num_utterances,)

    def subset(lo: int, hi: int) -> SpeechSubset:
        x = (segments[lo:hi] - mean32) / std32  # (N, T, F) float32
        return SpeechSubset(x=torch.from_numpy(x), speaker=torch.from_numpy(utt_speaker[owner[lo:hi]]),
                            utterance=torch.from_numpy(owner[lo:hi].copy()))

    return SpeechSplits(
        train=subset(bounds[0], bounds[1]), val=subset(bounds[1], bounds[2]), test=subset(bounds[2], bounds[3]),
        speaker_names=speaker_names, speaker_gender=[genders.get(s) for s in speaker_names],
        utterance_names=[u.name for u in ordered],
        mean=torch.from_numpy(mean.astype(np.float32)), std=torch.from_numpy(std.astype(np.float32)),
        features=features, source=kind, root=str(root),
    )


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
    from cmivae.data.fetch import resolve_data_dir

    data_dir = resolve_data_dir(config.data_dir)
    kind = SOURCES.get(config.name)
    if kind is None:
        raise DataError(f"{config.name!r} is not a speech data set; known: {', '.join(sorted(SOURCES))}")
    kwargs: dict[str, Any] = {}
    if kind == "synthetic":
        from cmivae.data.synthetic_speakers import DEFAULT_NUM_SPEAKERS

        num_speakers = config.num_speakers or DEFAULT_NUM_SPEAKERS
        root = Path(config.root) if config.root else data_dir / f"synthetic-speech-{num_speakers}"
        kwargs["num_speakers"] = num_speakers
    else:
        if config.root is None:
            raise DataError(f"data set {config.name!r} needs data.root, the folder holding the corpus")
        root = Path(config.root)
        if kind == "folder":
            kwargs.update(speaker_pattern=config.speaker_pattern, gender_table=config.gender_table)
    splits = load_speech(kind, root, cache_dir=data_dir / "cache", val_fraction=config.val_fraction,
                         split_seed=config.split_seed, **kwargs)
    if config.num_train is not None and config.num_train < len(splits.train):
        num_val = max(1, round(len(splits.val) * config.num_train / len(splits.train)))
        splits.train = _evenly_spaced(splits.train, config.num_train)
        splits.val = _evenly_spaced(splits.val, num_val)
    splits.test = _evenly_spaced(splits.test, config.num_test)
    return splits
