"""Voice conversion (appendix J's z swap, as audio): Griffin-Lim round trip, ``convert`` end to end, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cmivae.cli.main import build_parser
from cmivae.config import load_config
from cmivae.data.speech.features import log_spectrogram, segment_utterance
from cmivae.infra.errors import CheckpointError
from cmivae.training.loop import fit
from cmivae.voice_conversion import convert, griffin_lim, log_spectrum_to_audio

SR = 16000


def test_griffin_lim_round_trip_keeps_a_tone() -> None:
    t = np.arange(SR // 2) / SR
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)  # 1 kHz -> bin 1000 / 40 = 25
    spec = log_spectrogram(tone, SR)  # (K, F)
    audio = log_spectrum_to_audio(spec, num_iters=30)
    assert audio.dtype == np.float32 and audio.shape == ((spec.shape[0] - 1) * 160 + 400,)
    rebuilt = log_spectrogram(audio.astype(np.float64), SR)  # (K, F)
    assert (rebuilt[2:-2].argmax(axis=1) == 25).all()
    rms = np.sqrt(np.mean(audio[800:-800] ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # the level survives too
    assert np.array_equal(audio, log_spectrum_to_audio(spec, num_iters=30))  # seeded phase


def test_griffin_lim_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"magnitude must be \(K, 201\)"):
        griffin_lim(np.ones((5, 10)))


def _voice(seed: int, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return 0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t) + rng.normal(scale=0.02, size=t.shape)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DSAE trained for 2 steps on a 6-speaker folder corpus."""
    root = tmp_path_factory.mktemp("vc")
    for k in range(6):
        for u in range(2):
            path = root / "corpus" / f"spk{k}" / f"utt{u}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, _voice(k + 10 * u), SR)
    config = load_config({
        "data": {"name": "speech-folder", "root": str(root / "corpus"), "data_dir": str(root / "data"),
                 "val_fraction": 0.2},
        "model": {"name": "dsae", "x_dim": 201, "num_steps": 20, "z_dim": 4, "s_dim": 3, "hidden_dim": 8,
                  "rnn_dim": 8, "prior_dim": 8, "decoder_hidden_dim": 8, "num_decoder_layers": 1},
        "objective": {"name": "beta", "gamma": 0.4},
        "train": {"epochs": 1, "max_steps": 2, "batch_size": 4, "precision": "fp32", "checkpoint_every_minutes": 0},
    })
    fit(config, root / "run", progress=False)
    return root


def test_convert_writes_audio_and_a_picture(run_dir: Path) -> None:
    source, target = run_dir / "corpus" / "spk0" / "utt0.wav", run_dir / "corpus" / "spk5" / "utt1.wav"
    out = convert(run_dir / "run", source, target, run_dir / "out" / "converted.wav", run_dir / "out" / "vc.png",
                  num_iters=5)
    audio, rate = sf.read(out)
    num_segments = segment_utterance(_voice(0), SR).shape[0]  # 1 s -> 4 segments of 20 frames
    assert rate == SR and audio.shape == ((num_segments * 20 - 1) * 160 + 400,)
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() <= 1.0
    assert (run_dir / "out" / "vc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_cli_convert(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = run_dir / "corpus" / "spk1" / "utt0.wav"
    out = run_dir / "cli.wav"
    assert _cli(["convert", str(run_dir / "run"), str(wav), str(wav), "--out", str(out), "--iters", "2"]) == 0
    assert out.is_file() and "converted speech" in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="best.pt is missing"):
        (run_dir / "empty").mkdir(exist_ok=True)
        (run_dir / "empty" / "config.json").write_text("{}")
        _cli(["convert", str(run_dir / "empty"), str(wav), str(wav), "--out", str(out)])


def test_cli_make_speech_is_registered() -> None:
    args = build_parser().parse_args(["data", "make-speech", "--num-speakers", "4", "--jobs", "2", "--out", "x"])
    assert (args.num_speakers, args.jobs, args.out) == (4, 2, "x")
