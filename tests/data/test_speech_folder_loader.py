"""The folder loader on real-recording problems (issue 16): short and unreadable files, the last
partial segment, utterance splits, few test speakers, native sample rates, and what a run records."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cmivae.config import load_config
from cmivae.data.speech.features import features_for_rate
from cmivae.data.speech.loader import MIN_TEST_SPEAKERS, load_speech
from cmivae.infra.errors import ConfigError, DataError


def _tone(seed: int, seconds: float, sr: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return 0.3 * np.sin(2 * np.pi * (150 + 23 * (seed % 17)) * t) + rng.normal(scale=0.02, size=t.shape)


def _flat_corpus(root: Path, speakers: int, utterances: int, *, seconds: float = 0.5, sr: int = 16000) -> Path:
    """A flat folder ``<speaker>_<k>.wav`` as in the public corpus of the issue."""
    root.mkdir(parents=True, exist_ok=True)
    for spk in range(speakers):
        for k in range(utterances):
            sf.write(root / f"spk{spk:02d}_{k}.wav", _tone(100 * spk + k, seconds, sr), sr, subtype="PCM_16")
    return root


PATTERN = r"^(?P<speaker>spk\d+)_"


def _load(root: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # few test speakers in most toy corpora
        return load_speech("folder", root, speaker_pattern=PATTERN, **kwargs)


def test_short_and_unreadable_files_are_an_error_naming_the_file_or_skipped_and_listed(tmp_path: Path) -> None:
    root = _flat_corpus(tmp_path / "c", speakers=4, utterances=3)
    sf.write(root / "spk01_short.wav", _tone(7, 0.1, 16000), 16000)  # 100 ms < one 215 ms segment
    (root / "spk02_broken.wav").write_bytes(b"RIFF not really a wav file")
    with pytest.raises(DataError, match="spk01_short.wav is too short"):
        _load(root)
    (root / "spk01_short.wav").rename(tmp_path / "aside.wav")
    with pytest.raises(DataError, match="cannot read audio file .*spk02_broken.wav"):
        _load(root)
    (tmp_path / "aside.wav").rename(root / "spk01_zz.wav")
    with pytest.warns(RuntimeWarning, match="skipped 2 of 14 audio files"):
        data = load_speech("folder", root, speaker_pattern=PATTERN, on_bad_file="skip")
    assert sorted(Path(path).name for path, _ in data.skipped_files) == ["spk01_zz.wav", "spk02_broken.wav"]
    reasons = dict((Path(p).name, r) for p, r in data.skipped_files)
    assert "too short" in reasons["spk01_zz.wav"] and "cannot read" in reasons["spk02_broken.wav"]
    assert data.corpus["skipped_files"] == 2
    assert data.corpus["utterances"]["train"] + data.corpus["utterances"]["val"] + \
        data.corpus["utterances"]["test"] == 12


def test_last_segment_drop_reports_the_share_dropped_and_pad_keeps_it(tmp_path: Path) -> None:
    # 0.5 s = 8000 samples -> 48 frames = 2 segments + 8 frames (dropped); 0.55 s -> 53 frames = 2 + 13.
    root = _flat_corpus(tmp_path / "c", speakers=4, utterances=3, seconds=0.55)
    dropped = _load(root)
    assert dropped.corpus["dropped_frame_fraction"] == pytest.approx(13 / 53, abs=1e-6)
    padded = _load(root, last_segment="pad")
    assert padded.corpus["dropped_frame_fraction"] == 0.0
    total = sum(padded.corpus["segments"].values())
    assert total == 3 * sum(dropped.corpus["segments"].values()) // 2  # 3 segments per file instead of 2
    short = _flat_corpus(tmp_path / "s", speakers=4, utterances=3, seconds=0.16)  # 14 frames: < 1 segment
    with pytest.raises(DataError, match="too short"):
        _load(short)
    assert sum(_load(short, last_segment="pad").corpus["segments"].values()) == 12  # one padded segment each


def test_utterance_split_keeps_every_speaker_in_train_and_test(tmp_path: Path) -> None:
    root = _flat_corpus(tmp_path / "c", speakers=4, utterances=8)
    data = _load(root, split="utterance", test_fraction=0.25, val_fraction=0.125)
    train, test, val = (set(data.split(n).speaker.tolist()) for n in ("train", "test", "val"))
    assert train == test == val == {0, 1, 2, 3}
    utts = [set(data.split(n).utterance.tolist()) for n in ("train", "val", "test")]
    assert not (utts[0] & utts[1]) and not (utts[0] & utts[2]) and not (utts[1] & utts[2])
    assert len(utts[2]) == 4 * 2 and len(utts[1]) == 4 * 1  # 25 % and 12.5 % of 8 per speaker
    assert data.corpus["split"] == "utterance"
    speaker_split = _load(root)
    assert not set(speaker_split.train.speaker.tolist()) & set(speaker_split.test.speaker.tolist())


def test_few_test_speakers_warn_and_are_recorded(tmp_path: Path) -> None:
    root = _flat_corpus(tmp_path / "c", speakers=6, utterances=2)
    with pytest.warns(RuntimeWarning, match=r"only 2 test speakers \(fewer than 10\)"):
        data = load_speech("folder", root, speaker_pattern=PATTERN, test_fraction=0.25)
    assert data.corpus["few_test_speakers"] is True and data.corpus["speakers"]["test"] == 2
    many = _flat_corpus(tmp_path / "m", speakers=4 * MIN_TEST_SPEAKERS, utterances=1, seconds=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert load_speech("folder", many, speaker_pattern=PATTERN).corpus["few_test_speakers"] is False


def test_8khz_corpus_is_refused_at_16khz_and_loads_at_its_native_rate_or_band(tmp_path: Path) -> None:
    root = _flat_corpus(tmp_path / "c", speakers=4, utterances=3, sr=8000)
    with pytest.raises(DataError, match=r"recorded at 8000 Hz.*mirror image.*data.sample_rate=8000: 101 bins"):
        _load(root)
    native = _load(root, features=features_for_rate(8000))
    assert native.train.x.shape[1:] == (20, 101)
    assert native.corpus["native_sample_rates"] == {"8000": 12} and native.corpus["feature_sample_rate"] == 8000
    assert native.corpus["num_bins"] == 101
    banded = _load(root, max_frequency_hz=4000)
    assert banded.train.x.shape[1:] == (20, 101) and banded.corpus["feature_sample_rate"] == 16000
    with pytest.raises(DataError, match="recorded at 8000 Hz"):  # the cache does not hide it
        _load(root, cache_dir=tmp_path / "cache", on_bad_file="skip")
    _load(root, cache_dir=tmp_path / "cache", max_frequency_hz=4000)
    with pytest.raises(DataError, match="recorded at 8000 Hz"):
        _load(root, cache_dir=tmp_path / "cache")


def test_new_data_keys_are_validated() -> None:
    base = {"data": {"name": "speech-folder", "root": "/x"}, "model": {"name": "dsae"}}
    for key, value in (("split", "gender"), ("on_bad_file", "ignore"), ("last_segment", "trim"),
                       ("test_fraction", 0.95), ("synthetic_version", 3)):
        with pytest.raises(ConfigError, match=f"data.{key}"):
            load_config(base, [f"data.{key}={value}"])
    with pytest.raises(ConfigError, match="train.max_steps is not set"):
        load_config(base, ["train.epochs=null"])


TINY_DSAE = ["model.name=dsae", "model.z_dim=4", "model.s_dim=3", "model.hidden_dim=8", "model.rnn_dim=8",
             "model.prior_dim=8", "model.decoder_hidden_dim=8", "model.num_decoder_layers=1",
             "objective.name=beta", "objective.gamma=0.4", "train.batch_size=8", "train.precision=fp32",
             "train.checkpoint_every_minutes=0"]


def test_folder_run_records_its_corpus_and_a_budget_in_updates(tmp_path: Path) -> None:
    from cmivae.training import fit

    root = _flat_corpus(tmp_path / "c", speakers=6, utterances=4, seconds=0.7)
    (root / "spk00_bad.wav").write_bytes(b"junk")
    overrides = [f"data.root={root}", f"data.speaker_pattern={PATTERN}", f"data.data_dir={tmp_path / 'data'}",
                 "data.name=speech-folder", "data.num_speakers=100", *TINY_DSAE]
    # A failed load (the junk file, strict default) leaves no config.json: the rerun needs no --force.
    with pytest.raises(DataError, match="spk00_bad.wav"):
        fit(load_config({}, overrides), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.json").exists()
    config = load_config({}, [*overrides, "data.on_bad_file=skip", "train.epochs=null", "train.max_steps=5"])
    assert config.data.num_speakers is None  # a preset's synthetic-only leftover is not recorded
    with pytest.warns(RuntimeWarning):
        results = fit(config, tmp_path / "run", progress=False)
    assert results["steps"] == 5  # 5 updates although an epoch has 6 (48 segments / 8)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    corpus = saved["corpus"]
    assert sum(corpus["speakers"].values()) == 6 and corpus["native_sample_rates"] == {"16000": 24}
    assert corpus["skipped_files"] == 1 and corpus["few_test_speakers"] is True
    assert "corpus" not in saved["config"]["data"]
    assert (tmp_path / "run" / "skipped_files.txt").read_text().startswith(str(root / "spk00_bad.wav"))
    log = (tmp_path / "run" / "train.log").read_text()
    assert "segments/s" in log and "images/s" not in log and "1 files skipped" in log


def test_convert_checks_its_inputs_before_loading_the_model(tmp_path: Path) -> None:
    from cmivae.voice_conversion import convert

    run = tmp_path / "run"
    run.mkdir()
    config = load_config({}, ["data.name=speech-folder", "data.root=/nowhere", *TINY_DSAE])
    (run / "config.json").write_text(json.dumps({"config": config.to_dict()}))
    (run / "best.pt").write_bytes(b"never read: the inputs fail first")  # no model, no corpus
    sf.write(tmp_path / "ok.wav", _tone(1, 1.0, 16000), 16000)
    sf.write(tmp_path / "short.wav", _tone(2, 0.1, 16000), 16000)
    with pytest.raises(DataError, match="short.wav is too short"):
        convert(run, tmp_path / "short.wav", tmp_path / "ok.wav", tmp_path / "out.wav")
    with pytest.raises(DataError, match="target audio .*missing.wav does not exist"):
        convert(run, tmp_path / "ok.wav", tmp_path / "missing.wav", tmp_path / "out.wav")


def test_dsae_cpu_v2_is_a_budget_in_updates_and_dsae_cpu_is_unchanged() -> None:
    from cmivae.training.loop import _progress_label

    v2 = load_config("dsae-cpu-v2")
    assert v2.train.epochs is None and v2.train.max_steps == 3380
    assert v2.data.synthetic_version == 2 and v2.data.num_speakers == 200
    assert _progress_label(v2, 0, 420) == "epoch 1/~9 (3380 updates)"
    v1 = load_config("dsae-cpu")
    assert v1.train.epochs == 20 and v1.data.synthetic_version == 1
    assert "synthetic_version" not in json.dumps(_hashed(v1)) and "synthetic_version" in json.dumps(_hashed(v2))


def _hashed(config) -> dict:
    from cmivae.runs.legacy import HASH_NEUTRAL_DEFAULTS

    raw = config.to_dict()
    for (section, key), default in HASH_NEUTRAL_DEFAULTS.items():
        if raw[section].get(key, object()) == default:
            del raw[section][key]
    return raw
