"""Sanity checks of a sound file's header before any decoding or resampling.

A header is only a claim: a 32 KB WAV saying its sample rate is 1 Hz would make a 16 kHz
loader resample it to ~256 M samples (~5 GB). :func:`check_header` reads the header alone
and refuses, naming the file, a sample rate outside :data:`RATE_RANGE`, a duration over
:data:`MAX_SECONDS`, or a decode-plus-resample estimate over :data:`MAX_BYTES`.
:func:`sound_source` opens the file through Python, so a file name that is not valid UTF-8
is read like any other instead of failing inside libsndfile as a "bad format".
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from cmivae.infra.errors import DataError

RATE_RANGE = (1_000, 384_000)  # Hz: telephone speech to studio audio
MAX_SECONDS = 600.0  # one utterance; corpora cut longer recordings
MAX_BYTES = 2 * 1024**3  # float64 decode + resampled copy


def _shown(path: Path) -> str:
    """The path as printable text (undecodable bytes as ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def sound_source(path: str | Path) -> io.BytesIO:
    """The file's bytes in memory (libsndfile reads file objects; its own ``open`` needs
    a UTF-8 name). Call :func:`check_header` first: it bounds what decoding will cost."""
    path = Path(path)
    try:
        return io.BytesIO(path.read_bytes())
    except OSError as err:
        raise DataError(f"cannot read audio file {_shown(path)}: {err.strerror or err}; check that it exists "
                        f"and is readable") from err


def check_header(path: str | Path, sample_rate: int, *, max_seconds: float = MAX_SECONDS,
                 max_bytes: int = MAX_BYTES) -> None:
    """Refuse a file whose header promises an absurd decode, before decoding it.

    Args:
        path: the sound file.
        sample_rate: the rate it will be resampled to (Hz).

    Raises:
        DataError: sample rate out of :data:`RATE_RANGE`, longer than ``max_seconds``,
            or an estimated ``max_bytes`` or more of memory; the message names the file.
            Files libsndfile cannot parse are left to the reader's own error.
    """
    import soundfile as sf

    path = Path(path)
    try:
        with open(path, "rb") as handle:
            info = sf.info(handle)
    except Exception:  # noqa: BLE001 - unreadable or not a sound file: the reader reports it with its hint
        return
    shown = _shown(path)
    low, high = RATE_RANGE
    if not low <= info.samplerate <= high:
        raise DataError(f"audio file {shown} claims a sample rate of {info.samplerate} Hz, expected {low}-{high} "
                        f"Hz; its header is damaged or it is not speech audio. Remove or re-encode it.")
    frames, channels = max(int(info.frames), 0), max(int(info.channels), 1)
    seconds = frames / info.samplerate
    if seconds > max_seconds:
        raise DataError(f"audio file {shown} claims {seconds:.0f} s of audio, more than the {max_seconds:.0f} s "
                        f"limit of one utterance; split it into utterances or check its header")
    estimate = 8 * frames * channels + 8 * frames * max(sample_rate / info.samplerate, 1.0)
    if estimate > max_bytes:
        raise DataError(f"audio file {shown} would need about {estimate / 1024**3:.1f} GiB to decode and resample "
                        f"to {sample_rate} Hz (limit {max_bytes / 1024**3:.1f} GiB); check its header or split it")
