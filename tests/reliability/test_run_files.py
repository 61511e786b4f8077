"""In-process faults of run files: checkpoint rotation and fallback, a checkpoint of
another config, the history across a kill, divergence under ``nonfinite=skip``, strict
JSON, damaged files in ``report``/``sweep-status``/sweeps, CLI writes, audio headers."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from cmivae.cli import main
from cmivae.data.speech import audio_checks
from cmivae.infra import json_files
from cmivae.infra.atomic import atomic_write_json
from cmivae.infra.errors import CheckpointError, ConfigError, DataError, TrainingError
from cmivae.runs import checkpoint as ckpt
from cmivae.training import loop
from tests.helpers import tiny_config, tiny_images
from tests.training.resume_check import killed_after


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def _strict(path: Path) -> object:
    """Parse with NaN/Infinity refused (what every JSON reader but Python's does)."""
    return json.loads(path.read_text(), parse_constant=lambda token: pytest.fail(f"{path} holds {token}"))


def _run_killed_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: int, **train: object) -> Path:
    """A run that died after ``steps`` steps (checkpoints every step)."""
    killed_after(tiny_config("mi", checkpoint_every_steps=1, **train), tiny_images(), tmp_path / "run", monkeypatch,
                 steps)
    return tmp_path / "run"


# ---------------------------------------------------------------------------- checkpoint rotation


def test_an_unverified_last_is_set_aside_never_rotated_over_previous(tmp_path: Path) -> None:
    last, previous = tmp_path / "last.pt", tmp_path / "previous.pt"
    ckpt.save_checkpoint(previous, {"step": 1})
    good = previous.read_bytes()
    last.write_bytes(b"CMIVAE1\n" + b"0" * 64 + b"half a checkpoint")
    warnings: list[str] = []
    ckpt.save_rotating(last, previous, {"step": 2}, warn=warnings.append)
    assert previous.read_bytes() == good  # the only good checkpoint survived
    assert ckpt.load_checkpoint(last)["step"] == 2
    assert [p.name.split("-")[0] for p in tmp_path.glob("last.pt.damaged-*")] == ["last.pt.damaged"]
    assert "does not verify; set aside" in warnings[0]


@pytest.mark.parametrize("damaged_last", [False, True])
def test_a_kill_inside_any_save_leaves_a_verified_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             damaged_last: bool) -> None:
    last, previous = tmp_path / "last.pt", tmp_path / "previous.pt"
    ckpt.save_checkpoint(previous, {"step": 1})
    if damaged_last:
        last.write_bytes(b"garbage")
    else:
        ckpt.save_checkpoint(last, {"step": 2})

    def killed(path, state):
        raise KeyboardInterrupt  # dies while writing the new last.pt

    monkeypatch.setattr(ckpt, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_rotating(last, previous, {"step": 3})
    verified = [p for p in (last, previous) if ckpt.verify_checkpoint(p)]
    assert verified and ckpt.load_checkpoint(previous)["step"] == (1 if damaged_last else 2)


def test_a_checksum_valid_checkpoint_of_the_wrong_shapes_falls_back(tmp_path: Path, monkeypatch, capsys) -> None:
    run = _run_killed_after(tmp_path, monkeypatch, steps=3)
    last = run / "checkpoints" / "last.pt"
    state = ckpt.load_checkpoint(last)
    name = next(iter(state["model"]))
    state["model"][name] = torch.zeros(3, 1, 7)  # valid file, another architecture
    ckpt.save_checkpoint(last, state)
    capsys.readouterr()
    loop.fit(tiny_config("mi", checkpoint_every_steps=1), run, data=tiny_images(), progress=False)
    err = capsys.readouterr().err
    assert f"checkpoint {last} does not fit this model (RuntimeError" in err and "previous.pt at epoch 0, step 2" in err
    assert "does not fit this model" in (run / "train.log").read_text()
    assert (run / "results.json").exists() and list(run.glob("checkpoints/last.pt.damaged-*"))


def test_a_checkpoint_of_another_config_is_refused_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    run = _run_killed_after(tmp_path, monkeypatch, steps=3)
    (run / "config.json").unlink()  # the guard of the run directory is gone; the checkpoint still knows
    with pytest.raises(ConfigError, match=r"checkpoint .*last\.pt was written by a different config "
                                          r"\(objective\.gamma: 0\.5 -> 0\.3\); use another --out, or --force"):
        loop.fit(tiny_config("mi", gamma=0.3, checkpoint_every_steps=1), run, data=tiny_images(), progress=False)
    assert not (run / "config.json").exists() and ckpt.verify_checkpoint(run / "checkpoints" / "last.pt")


def test_the_history_is_rebuilt_from_the_checkpoint(tmp_path: Path) -> None:
    """A kill after the final checkpoint but before metrics.jsonl (and results.json) were written."""
    config, data = tiny_config("beta"), tiny_images()
    loop.fit(config, tmp_path / "straight", data=data, progress=False)
    run = tmp_path / "run"
    loop.fit(config, run, data=data, progress=False)
    (run / "results.json").unlink()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text(lines[0] + "\n")  # the last epoch's line lost
    loop.fit(config, run, data=data, progress=False)
    history = [[{k: v for k, v in json.loads(line).items() if k != "images_per_second"}  # timing differs
                for line in (r / "metrics.jsonl").read_text().splitlines()] for r in (tmp_path / "straight", run)]
    assert history[0] == history[1] and len(history[1]) == 2


# ---------------------------------------------------------------------------- divergence, strict JSON


def test_skip_that_drops_most_batches_fails_the_run(tmp_path: Path) -> None:
    data = tiny_images()
    data.train_x = data.train_x.float()
    data.train_x[:48] = float("nan")  # in 3 of 4 batches on average
    with pytest.raises(TrainingError, match=r"[1-4] of 4 batches were skipped .*max_skipped_fraction=0\.1\).*"
                                            r"no checkpoint was written"):
        loop.fit(tiny_config("beta", nonfinite="skip"), tmp_path, data=data, progress=False)
    failure = _strict(tmp_path / "failure.json")
    assert "batches were skipped" in failure["error"] and not (tmp_path / "results.json").exists()


def test_non_finite_validation_fails_the_run_and_a_successful_rerun_drops_failure_json(tmp_path: Path) -> None:
    data = tiny_images()
    data.val_x = data.val_x.float()
    data.val_x[0] = float("inf")
    with pytest.raises(TrainingError, match="validation is not finite after epoch 1"):
        loop.fit(tiny_config("beta", nonfinite="skip"), tmp_path / "run", data=data, progress=False)
    assert (tmp_path / "run" / "failure.json").exists() and not (tmp_path / "run" / "results.json").exists()
    loop.fit(tiny_config("beta", nonfinite="skip"), tmp_path / "run", data=tiny_images(), progress=False)
    assert (tmp_path / "run" / "results.json").exists() and not (tmp_path / "run" / "failure.json").exists()


def test_skip_divergence_at_the_cli_exits_1(tmp_path: Path, write_config, capsys) -> None:
    out = tmp_path / "run"
    config = write_config("beta", num_train=64)
    assert main(["train", str(config), "--out", str(out), "--no-progress", "--set", "train.lr=1.0e+30",
                 "--set", "train.nonfinite=skip"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: ") and ("batches were skipped" in line or "validation is not finite" in line)
    assert _strict(out / "failure.json") and not (out / "results.json").exists()


def test_results_files_are_strict_json_with_null_and_a_flag(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    atomic_write_json(path, {"elbo": float("nan"), "kl": float("inf"), "val": {"total": -math.inf}, "ok": 1.5})
    value = _strict(path)
    assert value == {"elbo": None, "kl": None, "val": {"total": None}, "ok": 1.5,
                     "nonfinite": ["elbo", "kl", "val.total"]}
    assert json_files.dumps([float("nan")]) == "[null]"


# ---------------------------------------------------------------------------- damaged files


@pytest.fixture(scope="module")
def _finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cmivae.sweeps.runner import run_sweep
    from tests.sweeps.test_sweeps import fake_evaluate, tiny_data, write_sweep

    folder = tmp_path_factory.mktemp("sweep")
    out = folder / "sweep"
    index = run_sweep(write_sweep(folder, grid={"objective.gamma": [0.1, 0.2, 0.3, 0.4, 0.5]}), out,
                      data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    assert [e["status"] for e in index["runs"]] == ["done"] * 5
    return out


@pytest.fixture
def tiny_sweep(tmp_path: Path, _finished_sweep: Path) -> Path:
    """A copy of a finished 5-run sweep directory (trained once per module)."""
    shutil.copytree(_finished_sweep, tmp_path / "sweep")
    return tmp_path / "sweep"


DAMAGE = {  # file -> bytes written, reason expected in the report
    "config.json": (b'{"config": {"objective": {"name": "cmi", "gamma": 0.\xff}}}', "not UTF-8"),
    "results.json": (b'{"elbo": -80.', "not valid JSON"),
    "eval.json": (b'{"aolr": NaN}', "NaN is not JSON"),
}


def test_report_and_sweep_status_list_damaged_runs_with_file_and_reason(tmp_path: Path, tiny_sweep: Path,
                                                                       capsys) -> None:
    out = tiny_sweep
    runs = sorted((out / "runs").iterdir())
    for run, (name, (content, _)) in zip(runs, DAMAGE.items(), strict=False):
        (run / name).write_bytes(content)
    typed = runs[3] / "config.json"  # wrongly typed, valid JSON
    saved = json.loads(typed.read_text())
    saved["config"]["objective"] = ["cmi"]
    typed.write_text(json.dumps(saved))

    assert main(["report", str(out), "--out", str(tmp_path / "report"), "--no-paper"]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    for run, (name, (_, reason)) in zip(runs, DAMAGE.items(), strict=False):
        assert f"`{run.name}`" in report and f"damaged: {name}: " in report and reason in report
    assert f"`{runs[3].name}`" in report and "objective.name is None, expected a str" in report
    assert "with damaged files (listed below): 4" in report

    capsys.readouterr()
    assert main(["sweep-status", str(out)]) == 0
    status = capsys.readouterr().out
    assert "1 damaged" not in status and "damaged" in status and "Traceback" not in status
    for run in runs[:4]:
        assert any(line.startswith(run.name) and "damaged" in line for line in status.splitlines()), status

    (out / "sweep.json").write_bytes(b'{"sweep": {"file": "x"}, "runs": [')
    assert main(["sweep-status", str(out)]) == 2
    assert "sweep.json is damaged (not valid JSON" in _one_error_line(capsys)
    (out / "sweep.json").write_text('{"sweep": {"file": "x"}, "runs": [{"run_id": 3}]}')
    assert main(["sweep-status", str(out), "-v"]) == 0
    assert "run entry 0 is malformed" in capsys.readouterr().out


def test_one_damaged_json_does_not_abort_the_sweep(tmp_path: Path, tiny_sweep: Path) -> None:
    from cmivae.sweeps.runner import run_sweep
    from tests.sweeps.test_sweeps import fake_evaluate, tiny_data, write_sweep

    out = tiny_sweep
    runs = sorted((out / "runs").iterdir())
    for run, (name, (content, _)) in zip(runs, DAMAGE.items(), strict=False):
        (run / name).write_bytes(content)
    index = run_sweep(write_sweep(tmp_path, grid={"objective.gamma": [0.1, 0.2, 0.3, 0.4, 0.5]}), out,
                      data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    by_dir = {e["run_dir"].split("/")[-1]: e for e in index["runs"]}
    for run, name in zip(runs, DAMAGE, strict=False):
        entry = by_dir[run.name]
        assert entry["status"] == "failed" and f"{name} is damaged" in entry["error"]
    assert sorted(e["status"] for e in index["runs"]) == ["done", "done", "failed", "failed", "failed"]


# ---------------------------------------------------------------------------- CLI writes


def test_an_unwritable_train_log_is_one_line(tmp_path: Path, write_config, capsys) -> None:
    out = tmp_path / "run"
    (out / "train.log").mkdir(parents=True)  # cannot be appended to, like a read-only file as root
    assert main(["train", str(write_config("beta", num_train=64, epochs=1)), "--out", str(out),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()  # the epoch line is printed before it is appended
    assert err[-1].startswith(f"error: could not write {out / 'train.log'}") and "Traceback" not in "".join(err)


def test_an_out_below_a_file_is_one_line(tmp_path: Path, write_config, capsys) -> None:
    (tmp_path / "file").write_text("")
    assert main(["train", str(write_config()), "--out", str(tmp_path / "file" / "run"), "--no-progress"]) == 1
    line = _one_error_line(capsys)
    assert f"could not write {tmp_path / 'file' / 'run'}" in line


def test_the_checkpoint_refusal_is_one_line_without_torchs_advice(tmp_path: Path) -> None:
    import pickle

    payload = pickle.dumps({"model": shutil.rmtree}, protocol=2)  # a global torch will not load
    path = tmp_path / "evil.pt"
    path.write_bytes(ckpt.MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + payload)
    with pytest.raises(CheckpointError) as info:
        ckpt.load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and "weights_only" not in message and "cannot be loaded safely" in message


# ---------------------------------------------------------------------------- audio headers


def _wav(path: Path, rate: int = 16000, seconds: float = 1.0) -> Path:
    sf.write(io.BytesIO(), np.zeros(1), rate, format="WAV")  # soundfile works
    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(0).normal(size=int(rate * seconds)) * 0.1, rate, format="WAV",
             subtype="PCM_16")
    path.write_bytes(buffer.getvalue())
    return path


def _claim_rate(path: Path, rate: int) -> None:
    blob = bytearray(path.read_bytes())
    blob[24:28] = struct.pack("<I", rate)  # fmt chunk: sample rate
    blob[28:32] = struct.pack("<I", rate * 2)  # byte rate
    path.write_bytes(bytes(blob))


def test_a_wav_claiming_1_hz_is_refused_before_resampling(tmp_path: Path) -> None:
    from cmivae.data.speech.loader import read_audio

    path = _wav(tmp_path / "liar.wav")
    _claim_rate(path, 1)
    tracemalloc.start()
    with pytest.raises(DataError, match=rf"audio file {path} claims a sample rate of 1 Hz, expected 1000-384000"):
        read_audio(path, 16000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 1024**2  # not the ~5 GB a resample to 16 kHz would take


def test_long_and_huge_claims_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = _wav(tmp_path / "long.wav", rate=8000, seconds=2.0)
    with pytest.raises(DataError, match=r"long\.wav claims 2 s of audio, more than the 1 s limit"):
        audio_checks.check_header(path, 16000, max_seconds=1.0)
    with pytest.raises(DataError, match=r"long\.wav would need about .* GiB to decode and resample"):
        audio_checks.check_header(path, 16000, max_bytes=1000)
    audio_checks.check_header(path, 16000)  # within the defaults


def test_a_file_name_that_is_not_utf8_is_read(tmp_path: Path) -> None:
    from cmivae.data.speech.loader import read_audio

    name = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.wav"))
    shutil.copy(_wav(tmp_path / "plain.wav"), name)
    assert read_audio(name, 16000).shape == (16000,)
    _claim_rate(name, 1)
    with pytest.raises(DataError, match=r"caf\\xe9\.wav claims a sample rate of 1 Hz"):
        read_audio(name, 16000)
