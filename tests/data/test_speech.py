"""Speech loaders (paper Sec. 5.2, G.1): TIMIT layout, folders, splits, bad inputs, resampling, caching."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from cmivae.data.speech import features as speech_features
from cmivae.data.speech import loader as speech
from cmivae.data.speech.loader import (
    find_timit_utterances,
    load_data_config,
    load_speech,
    read_audio,
    read_gender_table,
    split_speakers,
)
from cmivae.infra.errors import DataError

SR = 16000


def _voice(seed: int, seconds: float = 0.5, sr: int = SR) -> np.ndarray:
    """A crude 'speaker': a tone whose frequency depends on the seed, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return 0.3 * np.sin(2 * np.pi * (200 + 37 * seed) * t) + rng.normal(scale=0.02, size=t.shape)


def _sphere(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SR, format="NIST", subtype="PCM_16")


@pytest.fixture
def timit(tmp_path: Path) -> Path:
    """A tiny TIMIT-shaped tree of SPHERE files with mixed-case names, under two wrapper folders."""
    root = tmp_path / "timit" / "TIMIT"
    speakers = {"Train": {"dr1": ["FCJF0", "MDAB0"], "DR2": ["faem0"]}, "test": {"Dr1": ["MREB0", "FELC0"]}}
    seed = 0
    for split, regions in speakers.items():
        for region, names in regions.items():
            for name in names:
                for utt in ("SA1.WAV", "si648.wav", "SX19.Wav"):
                    _sphere(root / split / region / name / utt, _voice(seed))
                    seed += 1
    (root / "Train" / "DOC").mkdir()  # not a DR* folder: ignored
    (root / "Train" / "readme.txt").write_text("stray file")
    return tmp_path / "timit"


def test_timit_layout_split_and_genders(timit: Path, tmp_path: Path) -> None:
    train, test = find_timit_utterances(timit)
    assert {u.speaker for u in train} == {"FCJF0", "MDAB0", "FAEM0"}
    assert {u.speaker for u in test} == {"MREB0", "FELC0"}
    assert {u.name for u in test if u.speaker == "FELC0"} == {"FELC0/SA1", "FELC0/SI648", "FELC0/SX19"}

    data = load_speech("timit", timit, cache_dir=tmp_path / "cache")
    assert data.speaker_names == ["FAEM0", "FCJF0", "FELC0", "MDAB0", "MREB0"]
    assert data.speaker_gender == ["F", "F", "F", "M", "M"]
    for part in (data.train, data.val, data.test):
        assert part.x.dtype == torch.float32 and part.x.shape[1:] == (20, 201)
        assert part.speaker.dtype == torch.int64 and part.utterance.dtype == torch.int64
        assert part.x.shape[0] == part.speaker.shape[0] == part.utterance.shape[0]
    names = data.speaker_names
    assert {names[i] for i in data.test.speaker.tolist()} == {"MREB0", "FELC0"}  # official test speakers
    # G.1 90/10: validation = held-out utterances of the training speakers (one of 3 each here).
    assert {names[i] for i in data.val.speaker.tolist()} == {"FCJF0", "MDAB0", "FAEM0"}
    assert len(set(data.val.utterance.tolist())) == 3
    assert not set(data.val.utterance.tolist()) & set(data.train.utterance.tolist())
    # 0.5 s utterances -> 2 segments each; 6 train + 3 val + 6 test utterances.
    assert (len(data.train), len(data.val), len(data.test)) == (12, 6, 12)
    # Normalized with training statistics; denormalize undoes it.
    assert data.train.x.mean(dim=(0, 1)).abs().max() < 1e-4
    assert torch.allclose(data.train.x.std(dim=(0, 1), unbiased=False), torch.ones(201), atol=1e-3)
    assert data.mean.shape == data.std.shape == (201,)
    raw = data.denormalize(data.train.x)
    assert raw.mean() < 0  # log magnitudes of quiet audio
    for i, u in zip(data.test.utterance.tolist(), data.test.speaker.tolist(), strict=True):
        assert data.utterance_names[i].split("/")[0] == names[u]


def test_timit_split_is_seeded(timit: Path) -> None:
    a = load_speech("timit", timit, split_seed=0)
    b = load_speech("timit", timit, split_seed=0)
    assert torch.equal(a.val.x, b.val.x)
    vals = set()
    for seed in range(6):
        data = load_speech("timit", timit, split_seed=seed)
        vals.add(tuple(sorted(data.utterance_names[i] for i in set(data.val.utterance.tolist()))))
    assert len(vals) > 1


def test_not_a_timit_tree(tmp_path: Path) -> None:
    (tmp_path / "TRAIN" / "DR1").mkdir(parents=True)
    with pytest.raises(DataError, match=r"is not a TIMIT tree: expected TRAIN/ and TEST/ .* found TRAIN"):
        load_speech("timit", tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        load_speech("timit", tmp_path / "missing")
    (tmp_path / "test" / "dr1" / "FAAA0").mkdir(parents=True)
    with pytest.raises(DataError, match="no audio found in TIMIT folder"):
        load_speech("timit", tmp_path)


def _nested(root: Path, speakers: dict[str, int], seconds: float = 0.5) -> None:
    seed = 0
    for speaker, count in speakers.items():
        for k in range(count):
            path = root / speaker / f"utt{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, _voice(seed, seconds), SR)
            seed += 1


def test_folder_nested_with_gender_table(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    _nested(root, {f"spk{i}": 2 for i in range(8)})
    table = tmp_path / "genders.tsv"
    table.write_text("speaker\tgender\n" + "".join(f"spk{i}\t{'female' if i % 2 else 'M'}\n" for i in range(7)))
    data = load_speech("folder", root, gender_table=table, val_fraction=0.2, test_fraction=0.25)
    assert data.speaker_gender == ["M", "F", "M", "F", "M", "F", "M", None]
    spk = {name: {data.speaker_names[i] for i in getattr(data, name).speaker.tolist()}
           for name in ("train", "val", "test")}
    assert (len(spk["train"]), len(spk["val"]), len(spk["test"])) == (4, 2, 2)
    assert not (spk["train"] & spk["test"]) and not (spk["train"] & spk["val"]) and not (spk["val"] & spk["test"])


def test_folder_flat_with_pattern(tmp_path: Path) -> None:
    for i, name in enumerate(["alice_01.wav", "alice_02.WAV", "bob_01.wav", "carol_01.wav", "dave_7.wav"]):
        sf.write(tmp_path / name, _voice(i), SR)
    data = load_speech("folder", tmp_path, speaker_pattern=r"^(?P<speaker>[a-z]+)_")
    assert data.speaker_names == ["alice", "bob", "carol", "dave"]
    assert sorted(data.utterance_names) == ["alice/alice_01", "alice/alice_02", "bob/bob_01", "carol/carol_01",
                                            "dave/dave_7"]
    assert data.speaker_gender == [None] * 4


def test_folder_pattern_errors(tmp_path: Path) -> None:
    sf.write(tmp_path / "alice_01.wav", _voice(0), SR)
    sf.write(tmp_path / "bob_01.wav", _voice(1), SR)
    with pytest.raises(DataError, match=r"matches none of the 2 file names .*e\.g\. 'alice_01\.wav'"):
        load_speech("folder", tmp_path, speaker_pattern=r"^(?P<speaker>\d+)-")
    with pytest.raises(DataError, match="no named group 'speaker'"):
        load_speech("folder", tmp_path, speaker_pattern=r"^([a-z]+)_")
    with pytest.raises(DataError, match="not a valid regular expression"):
        load_speech("folder", tmp_path, speaker_pattern=r"^(?P<speaker>[a-z+_")
    with pytest.raises(DataError, match="does not match 1 of 2 files .* bob_01.wav"):
        load_speech("folder", tmp_path, speaker_pattern=r"^(?P<speaker>alice)_")
    # Nested layout asked for, flat folder found: the error suggests the pattern.
    with pytest.raises(DataError, match="no audio found .* holds 2 audio files directly: pass a speaker_pattern"):
        load_speech("folder", tmp_path)


def test_no_audio_found(tmp_path: Path) -> None:
    (tmp_path / "spk1").mkdir()
    (tmp_path / "spk1" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"no audio found in .*root/<speaker>/\*\.wav"):
        load_speech("folder", tmp_path)
    with pytest.raises(DataError, match="at least 3 speakers"):
        _nested(tmp_path / "two", {"a": 1, "b": 1})
        load_speech("folder", tmp_path / "two")


@pytest.mark.parametrize("kind, message", [
    ("garbage", r"cannot read audio file .*bad\.wav.*WAV, FLAC or NIST SPHERE"),
    ("zero_bytes", r"cannot read audio file .*bad\.wav"),
    ("empty", r"audio file .*bad\.wav is empty \(0 samples\)"),
    ("silent", r"audio file .*bad\.wav is silent"),
    ("short", r"audio file .*bad\.wav is too short: 100 ms"),
])
def test_bad_files_are_named(tmp_path: Path, kind: str, message: str) -> None:
    _nested(tmp_path, {"a": 1, "b": 1, "c": 1})
    bad = tmp_path / "c" / "bad.wav"
    if kind == "garbage":
        bad.write_bytes(b"this is not audio at all" * 10)
    elif kind == "zero_bytes":
        bad.write_bytes(b"")
    elif kind == "empty":
        sf.write(bad, np.zeros(0), SR)
    elif kind == "silent":
        sf.write(bad, np.zeros(SR), SR)
    else:
        sf.write(bad, _voice(9, 0.1), SR)
    with pytest.raises(DataError, match=message):
        load_speech("folder", tmp_path)


def test_shorten_sphere_hint(tmp_path: Path) -> None:
    bad = tmp_path / "SA1.WAV"
    header = b"NIST_1A\n   1024\nsample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n"
    bad.write_bytes(header.ljust(1024) + b"\x00" * 99)
    with pytest.raises(DataError, match="shorten-compressed SPHERE.*sph2pipe"):
        read_audio(bad)


@pytest.mark.parametrize("rate", [22050, 8000, 44100])
def test_read_audio_resamples(tmp_path: Path, rate: int) -> None:
    t = np.arange(int(0.5 * rate)) / rate
    path = tmp_path / f"tone_{rate}.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 1000 * t), rate)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.shape[0] - 8000) <= 1
    spec = speech_features.log_spectrogram(audio, SR)
    assert (spec[2:-2].argmax(axis=1) == 25).all()  # 1 kHz stays in bin 25
    assert np.sqrt(np.mean(audio[800:-800] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_read_audio_mixes_down_and_reads_sphere(tmp_path: Path) -> None:
    left = _voice(3)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), SR, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(path), (left / 2).astype(np.float32), atol=1e-6)
    sph = tmp_path / "X.WAV"
    _sphere(sph, left)
    assert sf.info(str(sph)).format == "NIST"
    np.testing.assert_allclose(read_audio(sph), left, atol=1 / 32768)


def test_gender_table_errors(tmp_path: Path) -> None:
    bad = tmp_path / "g.csv"
    bad.write_text("name,sex\na,F\n")
    with pytest.raises(DataError, match="columns 'speaker' and 'gender'"):
        read_gender_table(bad)
    bad.write_text("speaker,gender\na,X\n")
    with pytest.raises(DataError, match="line 2: gender 'X' of speaker 'a' is not F or M"):
        read_gender_table(bad)
    good = tmp_path / "ok.csv"
    good.write_text("speaker,gender,age\na,Female,30\nb,m,40\n")
    assert read_gender_table(good) == {"a": "F", "b": "M"}


def test_split_speakers_is_disjoint_stratified_and_seeded() -> None:
    speakers = [f"s{i:02d}" for i in range(40)]
    genders = ["F" if i < 10 else "M" for i in range(40)]
    split = split_speakers(speakers, genders, val_fraction=0.1, test_fraction=0.25, seed=0)
    assert sorted(split["train"] + split["val"] + split["test"]) == speakers
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (26, 4, 10)
    females = {s for s, g in zip(speakers, genders, strict=True) if g == "F"}
    assert 2 <= len(females & set(split["test"])) <= 3  # ~ the corpus ratio of 1/4
    assert split == split_speakers(speakers, genders, val_fraction=0.1, test_fraction=0.25, seed=0)
    assert split != split_speakers(speakers, genders, val_fraction=0.1, test_fraction=0.25, seed=1)


def test_feature_cache_is_reused_and_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "corpus"
    _nested(root, {"a": 2, "b": 2, "c": 2})
    cache = tmp_path / "cache"
    calls = []
    original = speech_features.log_spectrogram

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(speech_features, "log_spectrogram", counting)
    first = load_speech("folder", root, cache_dir=cache)
    assert len(calls) == 6
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    second = load_speech("folder", root, cache_dir=cache)
    assert len(calls) == 6  # read from the cache, nothing recomputed
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.utterance, second.test.utterance)
    # Another segment cap is another cache entry; a changed file invalidates the key.
    load_speech("folder", root, cache_dir=cache, max_segments_per_utterance=1)
    assert len(calls) == 12 and len(list(cache.iterdir())) == 2
    target = root / "a" / "utt0.wav"
    sf.write(target, _voice(42), SR)
    os.utime(target, ns=(1, 1))
    load_speech("folder", root, cache_dir=cache)
    assert len(calls) == 18
    # A corrupt cache file is recomputed, not trusted.
    for path in cache.iterdir():
        path.write_bytes(b"junk")
    again = load_speech("folder", root, cache_dir=cache, max_segments_per_utterance=1)
    assert len(calls) == 24 and again.train.x.shape[0] > 0


def test_failed_cache_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "corpus"
    _nested(root, {"a": 1, "b": 1, "c": 1})
    cache = tmp_path / "cache"

    def broken(handle, **arrays):
        handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(speech.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        load_speech("folder", root, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_subset_knobs(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    _nested(root, {"a": 3, "b": 3, "c": 3}, seconds=1.0)  # 1 s -> 4 segments each
    full = load_speech("folder", root)
    assert len(full.train) + len(full.val) + len(full.test) == 36
    small = load_speech("folder", root, max_utterances_per_speaker=2, max_segments_per_utterance=2)
    assert len(small.train) + len(small.val) + len(small.test) == 12
    assert len(small.utterance_names) == 6


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown speech source 'mp3'; known sources: timit, folder, synthetic"):
        load_speech("mp3", tmp_path)
    with pytest.raises(DataError, match="apply to source='folder' only"):
        load_speech("timit", tmp_path, speaker_pattern="(?P<speaker>.)")


def test_load_data_config(tmp_path: Path) -> None:
    from cmivae.config import DataConfig

    root = tmp_path / "corpus"
    _nested(root, {f"spk{i}": 2 for i in range(6)}, seconds=1.0)  # 4 segments per utterance
    config = DataConfig(name="speech-folder", root=str(root), data_dir=str(tmp_path / "data"), val_fraction=0.2,
                        num_train=5, num_test=3)
    data = load_data_config(config)
    assert data.train_x.shape == (5, 20, 201) and data.test_x.shape == (3, 20, 201)
    assert data.val_x.shape[0] >= 1 and data.train_speaker.shape == (5,) and data.test_utterance.shape == (3,)
    assert len(set(data.train_speaker.tolist())) == 3  # 6 speakers: 3 train, 1 val, 2 test; all 3 kept
    assert len(list((tmp_path / "data" / "cache").glob("speech-*.npz"))) == 1


def test_speech_modules_have_no_import_loop() -> None:
    """The synthetic-speaker builder imports only the split module, never the loader or the
    corpus discovery that imports it (issue 11: no data/speech <-> synthetic_speakers loop)."""
    import ast

    import cmivae.data.speech.synthetic_speakers as builder

    tree = ast.parse(Path(builder.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "cmivae.data.speech.splits" in imported
    assert not imported & {"cmivae.data.speech.loader", "cmivae.data.speech.corpora", "cmivae.data.speech.cache"}


def _rewrite_cache(path: Path, **changes: np.ndarray) -> None:
    """Replace arrays of a cache file, keeping its key: a valid .npz whose content is wrong."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("damage", ["bins", "empty", "nan", "dtype", "owner", "frames"])
def test_a_cache_that_does_not_fit_its_config_is_named_and_recomputed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage: str) -> None:
    """Issue 31, item 22: a valid .npz with 100 instead of 201 bins, an empty array or NaN features was
    trusted (ValueError / IndexError tracebacks, or "Lower train.lr" advice that never named the cache)."""
    root, cache = tmp_path / "corpus", tmp_path / "cache"
    _nested(root, {"a": 2, "b": 2, "c": 2})
    first = load_speech("folder", root, cache_dir=cache)
    (path,) = cache.iterdir()
    with np.load(path, allow_pickle=False) as data:
        segments, owner = data["segments"], data["utterance"]
    n, t, f = segments.shape
    changes = {"bins": {"segments": segments[:, :, :100]},
               "empty": {"segments": segments[:0], "utterance": owner[:0]},
               "nan": {"segments": np.where(np.arange(f) == 3, np.nan, segments).astype(np.float32)},
               "dtype": {"segments": segments.astype(np.float16)},
               "owner": {"utterance": owner[:-1]},
               "frames": {"frames": np.array([], dtype=np.int64)}}[damage]
    _rewrite_cache(path, **changes)
    calls = []
    original = speech_features.log_spectrogram
    monkeypatch.setattr(speech_features, "log_spectrogram", lambda *a, **k: calls.append(1) or original(*a, **k))
    with caplog.at_level("WARNING"):
        again = load_speech("folder", root, cache_dir=cache)
    assert len(calls) == 6  # recomputed, not trusted
    assert torch.equal(first.train.x, again.train.x)
    assert any(str(path) in r.getMessage() and "does not fit" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]
    with np.load(path, allow_pickle=False) as data:  # and rewritten whole
        assert data["segments"].shape == (n, t, f) and np.isfinite(data["segments"]).all()
