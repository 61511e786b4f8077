"""Reading sound files for the speech corpora (paper appendix G.1): any format libsndfile
reads, mixed down to mono float32 and resampled to the feature rate."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from cmivae.data.speech import audio_checks
from cmivae.data.speech import features as speech_features
from cmivae.infra.errors import DataError

__all__ = ["AUDIO_EXTENSIONS", "read_audio", "read_audio_with_rate"]

AUDIO_EXTENSIONS = (".wav", ".flac")


def _reason(err: Exception) -> str:
    """libsndfile's reason without its internals: ``Error opening <_io.BytesIO object at 0x...>:
    Format not recognised.`` -> ``format not recognised``."""
    text = re.sub(r"^\s*Error opening <[^>]*>:\s*", "", str(err).splitlines()[0] if str(err) else type(err).__name__)
    text = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>", "the file", text).strip().rstrip(".").strip()
    return (text[:1].lower() + text[1:]) or type(err).__name__


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Read a sound file as mono float32 in [-1, 1] at ``sample_rate`` Hz (:func:`read_audio_with_rate`)."""
    return read_audio_with_rate(path, sample_rate)[0]


def read_audio_with_rate(path: str | Path, sample_rate: int = 16000) -> tuple[np.ndarray, int]:
    """Read a sound file as mono float32 in [-1, 1] at ``sample_rate`` Hz, and its native rate.

    Any format libsndfile reads (WAV, FLAC, NIST SPHERE as in TIMIT's ``.WAV`` files; the
    format is detected from the header, not the name). Channels are averaged; other rates
    are resampled with ``scipy.signal.resample_poly`` (polyphase, Kaiser-windowed FIR).

    Raises:
        DataError: unreadable, empty (0 samples) or silent file, naming the file.
    """
    path = Path(path)
    audio_checks.check_header(path, sample_rate)  # before any decode or resampling: rate, duration, memory
    try:
        source = audio_checks.sound_source(path)  # opened through Python: non-UTF-8 names work
        data, rate = sf.read(source, dtype="float64", always_2d=True)  # (num_samples, channels)
    except Exception as err:  # soundfile raises LibsndfileError/RuntimeError/TypeError by format
        hint = "check that it is a WAV, FLAC or NIST SPHERE file, or remove it"
        try:
            with open(path, "rb") as handle:
                head = handle.read(1024)
        except OSError:
            head = b""
        if head.startswith(b"NIST_1A") and b"shorten" in head:
            hint = "it is shorten-compressed SPHERE: decompress it first, e.g. `sph2pipe -f wav in.WAV out.wav`"
        raise DataError(f"cannot read audio file {audio_checks._shown(path)} ({_reason(err)}); {hint}") from err
    if data.shape[0] == 0:
        raise DataError(f"audio file {path} is empty (0 samples); expected speech. Remove or replace it.")
    audio = data.mean(axis=1)  # (num_samples,) mono mixdown
    if rate != sample_rate:
        gcd = math.gcd(int(rate), int(sample_rate))
        audio = resample_poly(audio, sample_rate // gcd, int(rate) // gcd)
    speech_features.check_not_silent(audio, name=f"audio file {path}")
    return audio.astype(np.float32), int(rate)
