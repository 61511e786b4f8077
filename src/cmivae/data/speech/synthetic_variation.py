"""Per-utterance variation of the synthetic speech corpus, version 2 (a TIMIT stand-in with headroom).

On the version-1 corpus (:mod:`cmivae.data.speech.synthetic_speakers`: every speaker reads every
sentence with one fixed voice, at one rate, through a perfect channel) every DSAE sits at a
ceiling: EER(z) ~2 % and VC-mCAS ~99 % whatever the objective, so methods cannot be told
apart. Version 2 keeps the speakers (pitch and formants, what a speaker embedding should
find) and adds, per utterance, the nuisances a real corpus has and a speaker embedding must
see through. Each utterance's factors are drawn from ``numpy.random.default_rng([seed,
speaker index, 1000 + utterance index])`` (independent of the corpus size and of the other
utterances) and recorded in the manifest:

* **speaking rate**: ``U(rate_min, rate_max)`` words per minute (espeak-ng ``-s``);
* **pitch contour**: the speaker's base pitch times ``2 ** (U(-1, 1) * pitch_jitter_octaves)``
  and its range (top - base) times ``U(range_min, range_max)`` (espeak-ng's ``pitch`` line);
* **loudness**: gain ``U(gain_min_db, gain_max_db)`` dB;
* **channel**: a high-pass (2nd-order Butterworth) at ``U(highpass_min_hz, highpass_max_hz)``,
  with probability ``lowpass_probability`` a low-pass (4th order) at ``U(lowpass_min_hz,
  lowpass_max_hz)`` (telephone-like bands), and ``eq_bands`` peaking filters (RBJ biquads)
  at log-uniform centres in ``[eq_min_hz, eq_max_hz]``, gain ``U(-eq_gain_db, eq_gain_db)``,
  Q ``U(0.7, 2.0)``: a microphone / room colouring;
* **additive noise**: white, pink (1/f) or brown (1/f^2), equally likely, at an SNR of
  ``U(snr_min_db, snr_max_db)`` dB relative to the RMS of the speech *where it is voiced*
  (espeak-ng writes exact zeros in pauses; the noise fills them);
* **speakers** (``overlapping_genders``): the F and M pitch and formant ranges overlap
  (:func:`cmivae.data.speech.synthetic_speakers.make_voice`).

Everything is numpy/scipy on the 16 kHz signal, seeded, so a build is deterministic for one
espeak-ng version. The default ranges are the mildest of three measured (beta-VAE gamma 0.4,
seed 0, ``dsae-cpu-v2``; ``study/experiments/study-speech.yaml`` has the numbers): stronger ranges
(EQ +-9 dB x 3, low-pass on half the utterances, SNR 5-30 dB, disjoint gender ranges) put
EER(z) at 39 % after the full 3380 updates, past the 5-25 % the corpus is meant for.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.signal import butter, sosfilt

__all__ = ["VariationParams", "DEFAULT_VARIATION", "UtteranceFactors", "draw_factors", "apply_channel"]

NOISE_KINDS = ("white", "pink", "brown")


@dataclass(frozen=True)
class VariationParams:
    """Ranges of the per-utterance factors (module docstring); part of the corpus settings."""

    rate_min: int = 150
    rate_max: int = 200
    pitch_jitter_octaves: float = 0.08
    range_min: float = 0.7
    range_max: float = 1.3
    gain_min_db: float = -12.0
    gain_max_db: float = -1.0
    highpass_min_hz: float = 50.0
    highpass_max_hz: float = 150.0
    lowpass_probability: float = 0.15
    lowpass_min_hz: float = 5000.0
    lowpass_max_hz: float = 7500.0
    eq_bands: int = 2
    eq_min_hz: float = 200.0
    eq_max_hz: float = 6000.0
    eq_gain_db: float = 3.0
    snr_min_db: float = 20.0
    snr_max_db: float = 40.0
    overlapping_genders: bool = True  # speakers: overlapping F/M pitch and formant ranges (make_voice)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_VARIATION = VariationParams()


@dataclass(frozen=True)
class UtteranceFactors:
    """The drawn factors of one utterance (one manifest entry)."""

    words_per_minute: int
    pitch_base_hz: int
    pitch_top_hz: int
    gain_db: float
    highpass_hz: float
    lowpass_hz: float | None
    eq: tuple[tuple[float, float, float], ...] = field(default=())  # (centre Hz, gain dB, Q) per band
    noise: str = "white"
    snr_db: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["eq"] = [list(band) for band in self.eq]
        return out


def draw_factors(pitch_base_hz: int, pitch_top_hz: int, speaker_index: int, utterance_index: int, seed: int,
                 params: VariationParams = DEFAULT_VARIATION) -> UtteranceFactors:
    """The factors of utterance ``utterance_index`` of speaker ``speaker_index`` (seeded, see module docstring)."""
    rng = np.random.default_rng([seed, speaker_index, 1000 + utterance_index])
    wpm = int(round(rng.uniform(params.rate_min, params.rate_max)))
    base = pitch_base_hz * 2.0 ** (rng.uniform(-1, 1) * params.pitch_jitter_octaves)
    top = base + (pitch_top_hz - pitch_base_hz) * rng.uniform(params.range_min, params.range_max)
    gain = rng.uniform(params.gain_min_db, params.gain_max_db)
    highpass = rng.uniform(params.highpass_min_hz, params.highpass_max_hz)
    lowpass = rng.uniform(params.lowpass_min_hz, params.lowpass_max_hz) if rng.uniform() < params.lowpass_probability \
        else None
    eq = tuple((round(float(math.exp(rng.uniform(math.log(params.eq_min_hz), math.log(params.eq_max_hz)))), 1),
                round(float(rng.uniform(-params.eq_gain_db, params.eq_gain_db)), 2),
                round(float(rng.uniform(0.7, 2.0)), 3)) for _ in range(params.eq_bands))
    noise = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    snr = rng.uniform(params.snr_min_db, params.snr_max_db)
    return UtteranceFactors(words_per_minute=wpm, pitch_base_hz=int(round(base)), pitch_top_hz=int(round(top)),
                            gain_db=round(float(gain), 2), highpass_hz=round(float(highpass), 1),
                            lowpass_hz=None if lowpass is None else round(float(lowpass), 1), eq=eq, noise=noise,
                            snr_db=round(float(snr), 2))


def _peaking_sos(centre_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook peaking biquad as one second-order section ``(1, 6)``."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2 * math.pi * centre_hz / sample_rate
    alpha = math.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * math.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * math.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def _coloured_noise(kind: str, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white, pink (1/f power) or brown (1/f^2) noise ``(num_samples,)``."""
    white = rng.standard_normal(num_samples)
    if kind != "white":
        spectrum = np.fft.rfft(white)
        freqs = np.arange(spectrum.shape[0], dtype=np.float64)
        freqs[0] = 1.0
        spectrum /= freqs ** (0.5 if kind == "pink" else 1.0)
        white = np.fft.irfft(spectrum, n=num_samples)
    return white / max(float(np.sqrt(np.mean(white**2))), 1e-12)


def apply_channel(audio: np.ndarray, factors: UtteranceFactors, sample_rate: int, seed: int) -> np.ndarray:
    """The utterance through its channel: filters, gain, then noise at the SNR; float64 in [-1, 1].

    Args:
        audio: mono speech ``(num_samples,)`` in [-1, 1] at ``sample_rate``.
        factors: from :func:`draw_factors`.
        sample_rate: Hz (16000).
        seed: seeds the noise (the caller passes one derived from speaker and utterance).
    """
    x = np.asarray(audio, dtype=np.float64)
    nyquist = sample_rate / 2
    sections = [butter(2, factors.highpass_hz / nyquist, btype="highpass", output="sos")]
    if factors.lowpass_hz is not None and factors.lowpass_hz < nyquist:
        sections.append(butter(4, factors.lowpass_hz / nyquist, btype="lowpass", output="sos"))
    sections += [_peaking_sos(c, g, q, sample_rate) for c, g, q in factors.eq if c < 0.95 * nyquist]
    x = sosfilt(np.concatenate(sections), x)
    voiced = np.abs(x) > 1e-4 * max(float(np.max(np.abs(x))), 1e-12)
    speech_rms = float(np.sqrt(np.mean(x[voiced] ** 2))) if voiced.any() else 0.0
    if speech_rms > 0:
        x *= 10.0 ** (factors.gain_db / 20.0) * 0.1 / speech_rms  # speech at -20 dBFS RMS, then the gain
        noise = _coloured_noise(factors.noise, x.shape[0], np.random.default_rng(seed))
        x += noise * 0.1 * 10.0 ** (factors.gain_db / 20.0) * 10.0 ** (-factors.snr_db / 20.0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.99:  # never clip: scale the whole utterance down
        x *= 0.99 / peak
    return x
