"""Log-magnitude spectra cut into T = 20 frame segments (paper appendix G.1, Sec. 5.2).

G.1 (following Hsu et al. 2017 and Yingzhen & Mandt 2018): 16 kHz speech, a 25 ms
window (400 samples) shifted by 10 ms (160 samples), the magnitude of a 400-point FFT
(201 bins), its log, and sub-sequences of 200 ms, "which results in T = 20".

**The T = 20 choice.** A 200 ms segment is 3200 samples, which holds only 18 complete
25 ms windows (21 when frames are centred), so T = 20 needs a decision. We compute frames
on the *whole utterance* and cut it into non-overlapping blocks of 20 consecutive frames:

* frame ``k`` of an utterance covers samples ``[160 k, 160 k + 400)`` (no centring, no
  padding: only complete windows, so an ``n``-sample utterance has
  ``1 + (n - 400) // 160`` frames);
* segment ``j`` is frames ``20 j ... 20 j + 19``: its frame grid starts at sample
  ``3200 j`` and advances by one hop per frame, i.e. each segment is exactly 200 ms of
  hop, and consecutive segments tile the utterance's frame grid without overlap or gap;
  the last window of a segment reads 240 samples (15 ms) past its 200 ms into the real
  following audio;
* leftover frames at the end of the utterance (fewer than 20) are dropped. The shortest
  utterance giving one segment has ``19 * 160 + 400 = 3440`` samples (215 ms).

Why this rather than framing each 3200-sample segment on its own with the last windows
zero-padded: zero padding would put an artificial energy drop into frames 18-19 of
*every* segment, a fixed pattern the sequential model would spend capacity on; framing
the whole utterance uses real audio throughout and is how the prior work cuts its
spectrograms into 20-frame segments (features first, then segmentation).

**The last partial segment.** ``last_segment="drop"`` (the default, as above) drops the
leftover frames; ``"pad"`` keeps a leftover of at least ``T // 2`` frames (100 ms) as one
more segment, filled up to T frames by mirroring its own frames backwards (reflection at
the end, so the padding has the utterance's own spectra, not an artificial silence); a
shorter leftover is still dropped. :func:`segment_frames` reports the frames dropped, so a
loader can say what share of the audio it did not use.

**Other sample rates.** :func:`features_for_rate` keeps the 25 ms / 10 ms framing at any
rate: at 8 kHz a 200-sample window, an 80-sample hop and a 200-point FFT give **101 bins**
(0-4 kHz, 40 Hz apart, the same spacing as G.1's 201 bins at 16 kHz), and one segment
needs ``19 * 80 + 200 = 1720`` samples (215 ms). ``max_frequency_hz`` instead keeps the
16 kHz framing and only the bins up to a frequency (4000 Hz: bins 0-100, again 101).

**Window and log.** A periodic Hann window of 400 samples (``scipy.signal.get_window``,
the same as ``torch.hann_window``); ``log(|X| + eps)`` with ``eps = 1e-5`` for audio in
[-1, 1]. With this window a full-scale sine peaks at ``|X| = 100``, and 16-bit
quantization noise gives ``|X|`` about ``1e-4`` per bin, so ``eps`` sits ~20 dB below the
noise floor of any real recording: it only bounds digital silence (exact zeros, as
espeak-ng writes in pauses) at ``log(1e-5) = -11.5`` instead of ``-inf``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.signal import get_window

from cmivae.infra.errors import DataError

__all__ = [
    "FeatureParams",
    "DEFAULT_FEATURES",
    "SILENT_RMS",
    "log_spectrogram",
    "segment_utterance",
    "segment_frames",
    "features_for_rate",
    "band_limit_bins",
    "num_segments",
    "check_not_silent",
]

# An utterance whose RMS (audio in [-1, 1]) is below this is silent: -100 dBFS, i.e. well
# below one 16-bit quantization step (3e-5). It holds no speaker to learn from.
SILENT_RMS = 1e-5


@dataclass(frozen=True)
class FeatureParams:
    """Spectrogram settings of paper G.1; part of every feature-cache key.

    Attributes:
        sample_rate: Hz; audio is resampled to this before framing.
        window_length: samples per analysis window (25 ms at 16 kHz).
        hop_length: samples between frame starts (10 ms at 16 kHz).
        n_fft: FFT size; ``n_fft // 2 + 1`` bins (201).
        segment_frames: frames per segment, T (20 = 200 ms of hop).
        eps: added to the magnitude before the log (see the module docstring).
    """

    sample_rate: int = 16000
    window_length: int = 400
    hop_length: int = 160
    n_fft: int = 400
    segment_frames: int = 20
    eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("sample_rate", "window_length", "hop_length", "n_fft", "segment_frames"):
            value = getattr(self, name)
            if int(value) != value or value <= 0:
                raise DataError(f"FeatureParams.{name} must be a positive integer, got {value!r}")
        if self.n_fft < self.window_length:
            raise DataError(f"FeatureParams.n_fft ({self.n_fft}) must be >= window_length ({self.window_length}); "
                            f"use n_fft=400 for the paper's 201 bins")
        if not self.eps > 0:
            raise DataError(f"FeatureParams.eps must be > 0 (it keeps log finite on silence), got {self.eps!r}")

    @property
    def num_bins(self) -> int:
        """F, frequency bins per frame (201 for the paper)."""
        return self.n_fft // 2 + 1

    @property
    def min_samples(self) -> int:
        """Samples needed for one segment: ``(T - 1) * hop + window`` (3440)."""
        return (self.segment_frames - 1) * self.hop_length + self.window_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_FEATURES = FeatureParams()


def check_not_silent(audio: np.ndarray, name: str = "audio", threshold: float = SILENT_RMS) -> float:
    """Return the RMS of ``audio``; raise :class:`DataError` if it is empty or (nearly) silent."""
    audio = np.asarray(audio)
    if audio.size == 0:
        raise DataError(f"{name} is empty (0 samples); expected speech audio. Remove or replace the file.")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if not np.isfinite(rms):
        raise DataError(f"{name} contains NaN or infinite samples; expected finite audio in [-1, 1]. "
                        f"Re-export the file.")
    if rms < threshold:
        raise DataError(f"{name} is silent (RMS {rms:.2e} < {threshold:.0e}); expected speech. "
                        f"Remove the file or check the recording.")
    return rms


def _check_audio(audio: np.ndarray, sample_rate: int, params: FeatureParams) -> np.ndarray:
    if sample_rate != params.sample_rate:
        raise DataError(f"audio at {sample_rate} Hz given, but the features expect {params.sample_rate} Hz; "
                        f"resample first (cmivae.data.speech.loader.read_audio does it)")
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise DataError(f"expected mono audio of shape (num_samples,), got shape {audio.shape}; "
                        f"mix the channels down first")
    return audio


def num_segments(num_samples: int, params: FeatureParams = DEFAULT_FEATURES) -> int:
    """How many T-frame segments an utterance of ``num_samples`` samples gives."""
    if num_samples < params.window_length:
        return 0
    num_frames = 1 + (num_samples - params.window_length) // params.hop_length
    return num_frames // params.segment_frames


def log_spectrogram(audio: np.ndarray, sample_rate: int, params: FeatureParams = DEFAULT_FEATURES) -> np.ndarray:
    """Log-magnitude spectrum of every complete window (paper G.1).

    Args:
        audio: mono samples in [-1, 1], shape ``(num_samples,)``.
        sample_rate: Hz; must equal ``params.sample_rate``.
        params: window, hop, FFT size and eps.

    Returns:
        float32 array ``(num_frames, F)`` with ``num_frames = 1 + (num_samples - 400) // 160``
        (0 if shorter than one window); frame ``k`` covers samples ``[160 k, 160 k + 400)``.
    """
    audio = _check_audio(audio, sample_rate, params)
    if audio.shape[0] < params.window_length:
        return np.zeros((0, params.num_bins), dtype=np.float32)
    window = get_window("hann", params.window_length, fftbins=True)  # periodic Hann, (400,)
    frames = np.lib.stride_tricks.sliding_window_view(audio, params.window_length)[:: params.hop_length]
    # frames: (num_frames, window_length), a strided view; the product below copies it.
    spectrum = np.fft.rfft(frames * window, n=params.n_fft, axis=-1)  # (num_frames, F) complex
    return np.log(np.abs(spectrum) + params.eps).astype(np.float32)


def segment_utterance(
    audio: np.ndarray,
    sample_rate: int,
    params: FeatureParams = DEFAULT_FEATURES,
    max_segments: int | None = None,
) -> np.ndarray:
    """Cut an utterance's log spectrogram into non-overlapping T-frame segments (G.1, T = 20).

    Segment ``j`` is frames ``T j ... T j + T - 1`` of :func:`log_spectrogram` (its first
    window starts at sample ``j * T * hop``, i.e. 3200 j); leftover frames are dropped.

    Args:
        audio: mono samples in [-1, 1], shape ``(num_samples,)``.
        sample_rate: Hz; must equal ``params.sample_rate``.
        params: feature settings.
        max_segments: keep at most this many segments, evenly spaced over the utterance
            (first and last included), to shrink corpora for CPU runs; ``None`` keeps all.

    Returns:
        float32 array ``(num_segments, T, F)``, e.g. ``(n, 20, 201)``; ``n`` may be 0 for
        audio shorter than ``params.min_samples``.
    """
    if max_segments is not None and max_segments < 1:
        raise DataError(f"max_segments must be a positive integer or None, got {max_segments!r}")
    spec = log_spectrogram(audio, sample_rate, params)  # (num_frames, F)
    count = spec.shape[0] // params.segment_frames
    segments = spec[: count * params.segment_frames].reshape(count, params.segment_frames, params.num_bins)  # (n, T, F)
    if max_segments is not None and count > max_segments:
        keep = np.unique(np.round(np.linspace(0, count - 1, max_segments)).astype(np.int64))
        segments = segments[keep]  # (max_segments, T, F)
    return np.ascontiguousarray(segments)


def features_for_rate(sample_rate: int | None) -> FeatureParams:
    """G.1's framing (25 ms windows, 10 ms hop, FFT of the window length) at ``sample_rate``.

    ``None`` or 16000 is :data:`DEFAULT_FEATURES` (201 bins); 8000 gives 101 bins (module docstring).
    """
    if sample_rate is None or sample_rate == DEFAULT_FEATURES.sample_rate:
        return DEFAULT_FEATURES
    window = int(round(0.025 * sample_rate))
    if window < 16:
        raise DataError(f"sample rate {sample_rate} Hz is too low for 25 ms speech frames; expected e.g. 8000 or 16000")
    return FeatureParams(sample_rate=int(sample_rate), window_length=window, hop_length=int(round(0.01 * sample_rate)),
                         n_fft=window)


def band_limit_bins(params: FeatureParams, max_frequency_hz: float | None) -> int:
    """How many of the lowest bins lie at or below ``max_frequency_hz`` (all of them for ``None``)."""
    if max_frequency_hz is None:
        return params.num_bins
    if not 0 < max_frequency_hz:
        raise DataError(f"max_frequency_hz must be positive, got {max_frequency_hz!r}")
    return min(params.num_bins, int(max_frequency_hz * params.n_fft / params.sample_rate) + 1)


def segment_frames(spec: np.ndarray, params: FeatureParams = DEFAULT_FEATURES, last_segment: str = "drop"
                   ) -> tuple[np.ndarray, int]:
    """Cut a log spectrogram ``(num_frames, F)`` into T-frame segments ``(n, T, F)``.

    Returns the segments and the number of frames dropped (the leftover at the end, see the
    module docstring for ``last_segment`` ``"drop"`` / ``"pad"``).
    """
    if last_segment not in ("drop", "pad"):
        raise DataError(f"last_segment must be 'drop' or 'pad', got {last_segment!r}")
    steps = params.segment_frames
    count, leftover = divmod(spec.shape[0], steps)
    segments = spec[: count * steps].reshape(count, steps, spec.shape[1])  # (n, T, F)
    if last_segment == "pad" and leftover >= max(1, steps // 2):
        tail = spec[count * steps:]  # (leftover, F)
        mirrored = np.pad(tail, ((0, steps - leftover), (0, 0)), mode="symmetric")  # (T, F), mirrored backwards
        return np.concatenate([segments, mirrored[None]]), 0
    return segments, leftover
