"""The feature cache of the speech corpora: one ``.npz`` per corpus under ``cache_dir``,
keyed by a hash of the file list (paths, sizes, mtimes), the feature parameters and the
segment cap; written atomically (temporary file, fsync, ``os.replace``), so a second load
reads it instead of recomputing and an interrupted write leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmivae.data.speech import features as speech_features
from cmivae.data.speech.audio import read_audio_with_rate
from cmivae.data.speech.corpora import Utterance
from cmivae.data.speech.features import FeatureParams
from cmivae.infra.atomic import atomic_writer
from cmivae.infra.errors import DataError

__all__ = ["CorpusSegments", "SampleRateError", "cached_segments", "compute_segments"]

log = logging.getLogger(__name__)

_CACHE_FORMAT = 2  # 2: native rates, skipped files and dropped frames are stored too


class SampleRateError(DataError):
    """A file recorded below the rate the features need: a corpus-wide setting, never skipped."""


@dataclass
class CorpusSegments:
    """Every utterance's segments and what was left out.

    Attributes:
        segments: float32 ``(N, T, F)`` log spectra.
        owner: int64 ``(N,)`` index of each segment's utterance (sorted).
        native_rate: int64 ``(U,)`` the sample rate each file was recorded at (0: skipped).
        skipped: ``{utterance index: reason}`` of the files left out (``on_bad_file="skip"``).
        total_frames: frames of all kept utterances.
        dropped_frames: frames not in any segment (the last partial segment, dropped).
    """

    segments: np.ndarray
    owner: np.ndarray
    native_rate: np.ndarray
    skipped: dict[int, str] = field(default_factory=dict)
    total_frames: int = 0
    dropped_frames: int = 0


def _cache_key(utterances: Sequence[Utterance], params: FeatureParams, max_segments: int | None,
               on_bad_file: str, last_segment: str) -> str:
    files = []
    for utt in utterances:
        stat = utt.path.stat()
        files.append([str(utt.path.resolve()), stat.st_size, stat.st_mtime_ns])
    blob = json.dumps({"format": _CACHE_FORMAT, "files": files, "features": params.to_dict(),
                       "max_segments_per_utterance": max_segments, "on_bad_file": on_bad_file,
                       "last_segment": last_segment}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _utterance_segments(utt: Utterance, params: FeatureParams, max_segments: int | None, last_segment: str,
                        check_rate: Callable[[Path, int], None] | None) -> tuple[np.ndarray, int, int, int]:
    """``(segments (n, T, F), native rate, frames, dropped frames)`` of one file; DataError if unusable."""
    audio, rate = read_audio_with_rate(utt.path, params.sample_rate)
    if check_rate is not None:
        check_rate(utt.path, rate)
    spec = speech_features.log_spectrogram(audio, params.sample_rate, params)  # (num_frames, F)
    segments, dropped = speech_features.segment_frames(spec, params, last_segment)  # (n, T, F)
    if segments.shape[0] == 0:
        need = params.min_samples if last_segment == "drop" else \
            (params.segment_frames // 2 - 1) * params.hop_length + params.window_length
        raise DataError(f"audio file {utt.path} is too short: {1000 * audio.shape[0] / params.sample_rate:.0f} ms, "
                        f"a {params.segment_frames}-frame segment needs {1000 * need / params.sample_rate:.0f} ms "
                        f"(last_segment={last_segment}); remove it from the corpus, or set data.on_bad_file=skip "
                        f"to leave such files out (listed in the run directory)")
    if max_segments is not None and segments.shape[0] > max_segments:
        keep = np.unique(np.round(np.linspace(0, segments.shape[0] - 1, max_segments)).astype(np.int64))
        segments = segments[keep]  # (max_segments, T, F), evenly spaced, first and last included
    return np.ascontiguousarray(segments), rate, int(spec.shape[0]), int(dropped)


def compute_segments(utterances: Sequence[Utterance], params: FeatureParams, max_segments: int | None,
                     on_bad_file: str = "error", last_segment: str = "drop",
                     check_rate: Callable[[Path, int], None] | None = None) -> CorpusSegments:
    """All utterances' segments; an unreadable, silent or too-short file stops the load naming it
    (``on_bad_file="error"``) or is left out and recorded (``"skip"``)."""
    if on_bad_file not in ("error", "skip"):
        raise DataError(f"on_bad_file must be 'error' or 'skip', got {on_bad_file!r}")
    parts, owners = [], []
    rates = np.zeros(len(utterances), dtype=np.int64)
    skipped: dict[int, str] = {}
    total = dropped = 0
    for index, utt in enumerate(utterances):
        try:
            segments, rates[index], frames, lost = _utterance_segments(utt, params, max_segments, last_segment,
                                                                       check_rate)
        except DataError as err:
            if on_bad_file == "error" or isinstance(err, SampleRateError):
                raise
            skipped[index] = str(err)
            continue
        total, dropped = total + frames, dropped + lost
        parts.append(segments)
        owners.append(np.full(segments.shape[0], index, dtype=np.int64))
        if (index + 1) % 500 == 0:
            log.info("features: %d/%d utterances", index + 1, len(utterances))
    if not parts:
        raise DataError(f"none of the {len(utterances)} audio files is usable (e.g. {next(iter(skipped.values()))})")
    return CorpusSegments(np.concatenate(parts), np.concatenate(owners), rates, skipped, total, dropped)


class CacheMismatch(ValueError):
    """A cache file that reads, but whose arrays do not fit the config that keyed it."""


def check_cached(found: CorpusSegments, params: FeatureParams, num_utterances: int) -> None:
    """Check a cached :class:`CorpusSegments` against the feature params and corpus that keyed
    it: ``segments`` float32 ``(N, T, F)`` with ``T = segment_frames``, ``F = num_bins``,
    ``N > 0`` and every value finite; ``owner`` ``(N,)`` sorted utterance indices;
    ``native_rate`` ``(U,)``; skipped indices in range.

    Raises:
        CacheMismatch: what does not fit (the caller recomputes the cache, naming it).
    """
    segments, owner, rates = found.segments, found.owner, found.native_rate
    expected = (params.segment_frames, params.num_bins)
    if segments.ndim != 3 or tuple(segments.shape[1:]) != expected:
        raise CacheMismatch(f"segments have shape {segments.shape}, expected (N, {expected[0]}, {expected[1]})")
    if segments.dtype != np.float32:
        raise CacheMismatch(f"segments are {segments.dtype}, expected float32")
    if segments.shape[0] == 0:
        raise CacheMismatch("it holds no segment")
    if not np.isfinite(segments).all():
        raise CacheMismatch(f"{int((~np.isfinite(segments)).sum())} feature values are NaN or infinite")
    if owner.shape != (segments.shape[0],) or not np.issubdtype(owner.dtype, np.integer):
        raise CacheMismatch(f"utterance indices have shape {owner.shape} ({owner.dtype}), expected "
                            f"({segments.shape[0]},) integers")
    if owner.min() < 0 or owner.max() >= num_utterances or np.any(np.diff(owner) < 0):
        raise CacheMismatch(f"utterance indices are not sorted indices of the {num_utterances} files")
    if rates.shape != (num_utterances,) or not np.issubdtype(rates.dtype, np.integer):
        raise CacheMismatch(f"native rates have shape {rates.shape}, expected ({num_utterances},)")
    if any(not 0 <= index < num_utterances for index in found.skipped):
        raise CacheMismatch("a skipped-file index is out of range")


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``path`` atomically (temporary sibling, fsync, ``os.replace``)."""
    with atomic_writer(path) as handle:
        np.savez(handle, **arrays)


def cached_segments(utterances: Sequence[Utterance], params: FeatureParams, max_segments: int | None,
                    cache_dir: Path | None, on_bad_file: str = "error", last_segment: str = "drop",
                    check_rate: Callable[[Path, int], None] | None = None) -> CorpusSegments:
    """:func:`compute_segments`, read from / written to the cache in ``cache_dir`` (``None``: no cache).

    ``check_rate(path, native_rate)`` is called for every file read (and for every cached
    rate), so a corpus recorded below the feature rate is refused either way.
    """
    if cache_dir is None:
        return compute_segments(utterances, params, max_segments, on_bad_file, last_segment, check_rate)
    key = _cache_key(utterances, params, max_segments, on_bad_file, last_segment)
    path = Path(cache_dir) / f"speech-{key[:20]}.npz"
    names = np.array([u.name for u in utterances])
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                if data["key"].item() == key and np.array_equal(data["names"], names):
                    reasons = [str(r) for r in data["skipped_reason"]]
                    frames = data["frames"]
                    if frames.shape != (2,):
                        raise CacheMismatch(f"frames has shape {frames.shape}, expected (2,)")
                    found = CorpusSegments(data["segments"], data["utterance"], data["native_rate"],
                                           dict(zip(data["skipped"].tolist(), reasons, strict=True)),
                                           int(frames[0]), int(frames[1]))
                    check_cached(found, params, len(utterances))
                    if check_rate is not None:
                        for utt, rate in zip(utterances, found.native_rate.tolist(), strict=True):
                            if rate:
                                check_rate(utt.path, rate)
                    return found
            log.warning("feature cache %s belongs to another corpus; recomputing", path)
        except CacheMismatch as err:
            log.warning("feature cache %s does not fit its config (%s); recomputing it", path, err)
        except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile) as err:
            log.warning("feature cache %s is unreadable (%s); recomputing", path, err)
    found = compute_segments(utterances, params, max_segments, on_bad_file, last_segment, check_rate)
    _atomic_save_npz(path, key=np.array(key), names=names, segments=found.segments, utterance=found.owner,
                     native_rate=found.native_rate, skipped=np.array(sorted(found.skipped), dtype=np.int64),
                     skipped_reason=np.array([found.skipped[i] for i in sorted(found.skipped)], dtype=str),
                     frames=np.array([found.total_frames, found.dropped_frames], dtype=np.int64))
    return found
