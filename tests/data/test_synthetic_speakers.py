"""The espeak-ng multi-speaker corpus (TIMIT stand-in for Sec. 5.2): determinism, distinct speakers, atomicity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from cmivae.data.speech import synthetic_speakers
from cmivae.data.speech.loader import load_speech, read_gender_table
from cmivae.data.speech.synthetic_speakers import make_synthetic_speech, make_voice
from cmivae.infra.errors import DataError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

TINY = {"num_speakers": 4, "sentences": 2}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _median_f0(audio: np.ndarray, sr: int = 16000) -> float:
    """Crude pitch: autocorrelation peak (60-400 Hz) of loud 40 ms frames, median over frames."""
    size, f0s = 640, []
    threshold = 0.3 * np.sqrt(np.mean(audio**2))
    for start in range(0, audio.shape[0] - size, size // 2):
        frame = audio[start: start + size]
        if np.sqrt(np.mean(frame**2)) < threshold:
            continue
        frame = frame - frame.mean()
        corr = np.correlate(frame, frame, mode="full")[size - 1:]  # (size,) lags 0..size-1
        lo, hi = sr // 400, sr // 60
        f0s.append(sr / (lo + int(np.argmax(corr[lo:hi]))))
    return float(np.median(f0s))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_speech(tmp_path_factory.mktemp("syn") / "speakers", **TINY)


def test_layout_and_manifest(corpus: Path) -> None:
    assert sorted(p.name for p in corpus.iterdir()) == ["F0000", "F0002", "M0001", "M0003", "manifest.json",
                                                        "speakers.csv"]
    manifest = json.loads((corpus / "manifest.json").read_text())
    split = manifest["split"]
    assert sorted(split["train"] + split["val"] + split["test"]) == ["F0000", "F0002", "M0001", "M0003"]
    assert all(split[name] for name in ("train", "val", "test"))  # speaker-disjoint, none empty
    assert manifest["settings"]["sentences"] == list(synthetic_speakers.SENTENCES[:2])
    assert read_gender_table(corpus / "speakers.csv") == {"F0000": "F", "M0001": "M", "F0002": "F", "M0003": "M"}
    for wav in corpus.rglob("*.wav"):
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.duration > 1.5
    assert not list(corpus.parent.glob(".speakers.partial*"))


def test_build_is_byte_identical(corpus: Path, tmp_path: Path) -> None:
    again = make_synthetic_speech(tmp_path / "again", **TINY)
    assert _files(again) == _files(corpus)


def test_speakers_are_distinct(corpus: Path) -> None:
    first = {spk: (corpus / spk / "s00.wav").read_bytes() for spk in ("F0000", "M0001", "F0002", "M0003")}
    assert len(set(first.values())) == 4
    f0 = {spk: _median_f0(sf.read(str(corpus / spk / "s00.wav"))[0]) for spk in first}
    voices = {v.name: v for v in (make_voice(i) for i in range(4))}
    for spk, value in f0.items():  # the pitch we asked for is the pitch we got
        assert voices[spk].pitch_base_hz * 0.8 < value < voices[spk].pitch_top_hz * 1.25, (spk, value)
    assert min(f0["F0000"], f0["F0002"]) > max(f0["M0001"], f0["M0003"])


def test_voices_by_gender() -> None:
    voices = [make_voice(i, seed=3) for i in range(40)]
    for v in voices:
        if v.gender == "F":
            assert v.formant_scale > 1 and v.pitch_base_hz >= 150
        else:
            assert v.formant_scale <= 1 and v.pitch_base_hz <= 135
        text = v.variant_file()
        assert text.startswith("language variant") and f"pitch {v.pitch_base_hz} {v.pitch_top_hz}" in text
    assert make_voice(5, seed=3) == voices[5]  # a speaker does not depend on the corpus size
    assert make_voice(5, seed=4) != voices[5]


def test_load_speech_on_the_corpus(corpus: Path, tmp_path: Path) -> None:
    data = load_speech("synthetic", corpus, cache_dir=tmp_path / "cache")
    manifest = json.loads((corpus / "manifest.json").read_text())
    for name in ("train", "val", "test"):
        part = data.split(name)
        assert part.x.shape[1:] == (20, 201) and len(part) > 0
        assert {data.speaker_names[i] for i in part.speaker.tolist()} == set(manifest["split"][name])
    assert data.speaker_gender == ["F", "F", "M", "M"]
    assert data.source == "synthetic"


def test_existing_corpus_is_reused_or_refused(corpus: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in corpus.rglob("*")}
    assert make_synthetic_speech(corpus, **TINY) == corpus
    assert {p: p.stat().st_mtime_ns for p in corpus.rglob("*")} == before
    with pytest.raises(DataError, match="built with other settings: num_speakers=4 .asked 5."):
        make_synthetic_speech(corpus, num_speakers=5, sentences=2)


def test_interrupted_build_leaves_nothing_and_resumes(corpus: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "interrupted"
    real = synthetic_speakers._to_16k
    calls = []

    def dies_on_the_fifth(wav: bytes) -> np.ndarray:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(wav)

    monkeypatch.setattr(synthetic_speakers, "_to_16k", dies_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_speech(out, **TINY)
    assert not out.exists()  # nothing half-made where the corpus belongs
    partial = tmp_path / ".interrupted.partial"
    assert sorted(p.name for p in partial.iterdir() if not p.name.startswith(".")) == ["F0000", "M0001",
                                                                                        "build.json"]
    monkeypatch.setattr(synthetic_speakers, "_to_16k", real)
    make_synthetic_speech(out, **TINY)  # resumes with the two missing speakers
    assert _files(out) == _files(corpus)
    assert not partial.exists()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="num_speakers must be an integer >= 3"):
        make_synthetic_speech(tmp_path / "x", num_speakers=2)
    with pytest.raises(DataError, match=r"sentences=11: expected 1\.\.10"):
        make_synthetic_speech(tmp_path / "x", sentences=11)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thing.txt").write_text("x")
    with pytest.raises(DataError, match="not empty and holds no manifest.json"):
        make_synthetic_speech(tmp_path / "busy", **TINY)


def test_missing_espeak_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic_speakers.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="apt-get install -y espeak-ng.*make"):
        make_synthetic_speech(tmp_path / "x", **TINY)


def test_load_data_config_builds_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cmivae.config import DataConfig
    from cmivae.data.speech.loader import load_data_config

    config = DataConfig(name="synthetic-speech", data_dir=str(tmp_path), num_speakers=3, val_fraction=0.1)
    data = load_data_config(config)
    assert (tmp_path / "synthetic-speech-3" / "manifest.json").is_file()
    assert data.train_x.shape[1:] == (20, 201) and len(data.speaker_names) == 3
    assert len(data.utterance_names) == 30  # 3 speakers x 10 sentences
    # The existing corpus is used without espeak-ng; a contradicting request is refused.
    monkeypatch.setattr(synthetic_speakers.shutil, "which", lambda name: None)
    assert torch.equal(load_data_config(config).test_x, data.test_x)
    with pytest.raises(DataError, match="num_speakers=3 .asked 4."):
        load_speech("synthetic", tmp_path / "synthetic-speech-3", num_speakers=4)


def test_version_2_records_every_factor_is_deterministic_and_varies_each_utterance(tmp_path: Path) -> None:
    from cmivae.data.speech import synthetic_variation

    lines: list[str] = []
    first = make_synthetic_speech(tmp_path / "a", **TINY, corpus_version=2, progress=lines.append)
    assert lines and lines[-1].startswith("synthesized 4/4 speakers")
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["settings"]["corpus_version"] == 2
    assert manifest["settings"]["variation"] == synthetic_variation.DEFAULT_VARIATION.to_dict()
    factors = manifest["factors"]
    assert sorted(factors) == ["F0000", "F0002", "M0001", "M0003"]
    assert all(sorted(factors[s]) == ["s00.wav", "s01.wav"] for s in factors)
    one = factors["F0000"]["s00.wav"]
    assert set(one) == {"words_per_minute", "pitch_base_hz", "pitch_top_hz", "gain_db", "highpass_hz", "lowpass_hz",
                        "eq", "noise", "snr_db"}
    rates = {factors[s][u]["words_per_minute"] for s in factors for u in factors[s]}
    snrs = {factors[s][u]["snr_db"] for s in factors for u in factors[s]}
    assert len(rates) > 4 and len(snrs) == 8  # drawn per utterance
    second = make_synthetic_speech(tmp_path / "b", **TINY, corpus_version=2)
    assert _files(first) == _files(second)  # byte-identical rebuild
    clean = make_synthetic_speech(tmp_path / "c", **TINY)  # version 1 by default: unchanged corpus
    audio_v1, _ = sf.read(clean / "F0000" / "s00.wav")
    audio_v2, _ = sf.read(first / "F0000" / "s00.wav")
    assert np.mean(audio_v1 == 0.0) > 0.05 and np.mean(audio_v2 == 0.0) < 0.01  # pauses now hold noise
    with pytest.raises(DataError, match="corpus_version"):
        load_speech("synthetic", clean, corpus_version=2)
    data = load_speech("synthetic", first, corpus_version=2)
    assert data.train.x.shape[1:] == (20, 201)
