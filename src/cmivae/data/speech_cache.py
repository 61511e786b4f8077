"""The feature cache of the speech corpora: one ``.npz`` per corpus under ``cache_dir``,
keyed by a hash of the file list (paths, sizes, mtimes), the feature parameters and the
segment cap; written atomically (temporary file, fsync, ``os.replace``), so a second load
reads it instead of recomputing and an interrupted write leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cmivae.atomic import atomic_writer
from cmivae.data import speech_features
from cmivae.data.speech_audio import read_audio
from cmivae.data.speech_corpora import Utterance
from cmivae.data.speech_features import FeatureParams
from cmivae.errors import DataError

__all__ = ["cached_segments", "compute_segments"]

log = logging.getLogger(__name__)

_CACHE_FORMAT = 1


def _cache_key(utterances: Sequence[Utterance], params: FeatureParams, max_segments: int | None) -> str:
    files = []
    for utt in utterances:
        stat = utt.path.stat()
        files.append([str(utt.path.resolve()), stat.st_size, stat.st_mtime_ns])
    blob = json.dumps({"format": _CACHE_FORMAT, "files": files, "features": params.to_dict(),
                       "max_segments_per_utterance": max_segments}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def compute_segments(utterances: Sequence[Utterance], params: FeatureParams,
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


def cached_segments(utterances: Sequence[Utterance], params: FeatureParams, max_segments: int | None,
                     cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if cache_dir is None:
        return compute_segments(utterances, params, max_segments)
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
    segments, owners = compute_segments(utterances, params, max_segments)
    _atomic_save_npz(path, key=np.array(key), names=names, segments=segments, utterance=owners)
    return segments, owners

