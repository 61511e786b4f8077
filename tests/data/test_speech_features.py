"""Log spectra and T = 20 segmentation (paper G.1): shapes, frame timing, eps, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmivae.data.speech.features import (
    DEFAULT_FEATURES,
    FeatureParams,
    check_not_silent,
    log_spectrogram,
    num_segments,
    segment_utterance,
)
from cmivae.infra.errors import DataError

SR = 16000


def _tone(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return amplitude * np.sin(2 * np.pi * freq * t)


def test_shapes_match_the_paper() -> None:
    audio = np.random.default_rng(0).normal(scale=0.1, size=SR)  # 1 s
    spec = log_spectrogram(audio, SR)
    assert spec.shape == (1 + (SR - 400) // 160, 201) == (98, 201)
    assert spec.dtype == np.float32
    segments = segment_utterance(audio, SR)
    assert segments.shape == (4, 20, 201)  # 98 frames -> 4 blocks of T = 20, 18 dropped
    assert DEFAULT_FEATURES.num_bins == 201 and DEFAULT_FEATURES.min_samples == 3440


def test_num_segments_boundaries() -> None:
    assert num_segments(3439) == 0 and num_segments(3440) == 1
    assert num_segments(3200 * 2 + 240 - 1) == 1 and num_segments(3200 * 2 + 240) == 2
    for n in (3440, 5000, 16000, 33333):
        assert segment_utterance(np.full(n, 0.1), SR).shape[0] == num_segments(n)


def test_segments_are_consecutive_blocks_of_the_utterance_frames() -> None:
    audio = np.random.default_rng(1).normal(scale=0.1, size=3 * 3200 + 500)
    spec = log_spectrogram(audio, SR)
    segments = segment_utterance(audio, SR)
    for j in range(segments.shape[0]):
        np.testing.assert_array_equal(segments[j], spec[20 * j: 20 * j + 20])


@pytest.mark.parametrize("freq, bin_index", [(1000.0, 25), (3000.0, 75), (440.0, 11)])
def test_pure_tone_peaks_in_its_bin(freq: float, bin_index: int) -> None:
    spec = log_spectrogram(_tone(freq, 0.5), SR)
    assert (spec.argmax(axis=1) == bin_index).all()  # 40 Hz per bin


@pytest.mark.parametrize("sample", [5000, 7400, 200])
def test_click_lands_in_the_expected_frame_and_segment(sample: int) -> None:
    audio = np.zeros(SR)
    audio[sample] = 1.0
    energy = log_spectrogram(audio, SR).sum(axis=1)
    # Frame k covers [160 k, 160 k + 400); the Hann window weighs the click most where it is central.
    covering = [k for k in range(energy.shape[0]) if 160 * k <= sample < 160 * k + 400]
    best = max(covering, key=lambda k: np.hanning(400)[sample - 160 * k])  # symmetric approx is fine here
    assert int(energy.argmax()) == best
    segments = segment_utterance(audio, SR)
    j, t = divmod(best, 20)
    assert np.unravel_index(segments.sum(axis=2).argmax(), segments.shape[:2]) == (j, t)
    assert 3200 * j + 160 * t <= sample < 3200 * j + 160 * t + 400


def test_matches_torch_stft() -> None:
    audio = np.random.default_rng(2).normal(scale=0.1, size=5000)
    spec = log_spectrogram(audio, SR)
    ref = torch.stft(torch.from_numpy(audio), n_fft=400, hop_length=160, win_length=400,
                     window=torch.hann_window(400, dtype=torch.float64), center=False, return_complex=True)
    ref = torch.log(ref.abs() + DEFAULT_FEATURES.eps).T.numpy()  # (num_frames, F)
    np.testing.assert_allclose(spec, ref, atol=1e-5)


def test_digital_silence_is_bounded_by_eps() -> None:
    spec = log_spectrogram(np.zeros(4000), SR)
    np.testing.assert_allclose(spec, np.log(1e-5), rtol=1e-6)
    spec = log_spectrogram(np.zeros(4000), SR, FeatureParams(eps=1e-3))
    np.testing.assert_allclose(spec, np.log(1e-3), rtol=1e-6)


def test_max_segments_keeps_evenly_spaced_segments() -> None:
    audio = np.random.default_rng(3).normal(scale=0.1, size=10 * 3200 + 240)
    full = segment_utterance(audio, SR)
    assert full.shape[0] == 10
    few = segment_utterance(audio, SR, max_segments=3)
    np.testing.assert_array_equal(few, full[[0, 4, 9]])
    assert segment_utterance(audio, SR, max_segments=50).shape[0] == 10


def test_short_audio_gives_no_segments() -> None:
    assert segment_utterance(np.full(3000, 0.1), SR).shape == (0, 20, 201)
    assert log_spectrogram(np.full(100, 0.1), SR).shape == (0, 201)


def test_bad_inputs_are_errors() -> None:
    with pytest.raises(DataError, match="22050 Hz given.*expect 16000 Hz.*resample"):
        log_spectrogram(np.zeros(4000), 22050)
    with pytest.raises(DataError, match="mono audio"):
        log_spectrogram(np.zeros((4000, 2)), SR)
    with pytest.raises(DataError, match="n_fft"):
        FeatureParams(n_fft=256)


def test_silence_check() -> None:
    assert check_not_silent(_tone(500, 0.1), "x") == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    with pytest.raises(DataError, match="clip.wav is silent"):
        check_not_silent(np.zeros(1600), "clip.wav")
    with pytest.raises(DataError, match="empty"):
        check_not_silent(np.zeros(0), "clip.wav")
    with pytest.raises(DataError, match="NaN"):
        check_not_silent(np.full(10, np.nan), "clip.wav")
