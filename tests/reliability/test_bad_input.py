"""Bad input and failures at the command line: one line on stderr saying what to do, exit 2
for bad input and 1 for failures. (Config values, presets and ``--set`` keys are covered in
``tests/cli/test_cli.py::test_bad_input_exits_2_with_a_message``.)"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cmivae.cli import main
from cmivae.config import load_config
from cmivae.data.images.fetch import IDX_FILENAMES
from cmivae.runs.directory import RunDirectory


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), f"not one error line: {err!r}"
    return err.strip()


def _train(config: Path, out: Path, *extra: str) -> int:
    return main(["train", str(config), "--out", str(out), "--no-progress", *extra])


def test_corrupt_data_file_is_named(tmp_path: Path, fashion_mnist_dir: str, capsys) -> None:
    folder = tmp_path / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in IDX_FILENAMES:
        os.symlink(Path(fashion_mnist_dir, "fashion-mnist", name), folder / name)
    bad = folder / "train-labels-idx1-ubyte"
    content = bad.read_bytes()
    bad.unlink()
    bad.write_bytes(content[:1000])  # cut short, e.g. an interrupted copy
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"name": "fashion-mnist", "data_dir": str(tmp_path / "data")}}))
    assert _train(config, tmp_path / "run") == 2
    line = _error_line(capsys)
    assert f"{bad} has md5" in line and "Delete it and re-run `cmivae data fetch fashion-mnist`" in line


def test_run_directory_with_another_config_is_refused_unless_force(tmp_path: Path, write_config: Callable[..., Path],
                                                                   capsys) -> None:
    config, out = write_config("beta", num_train=64, epochs=1), tmp_path / "run"
    assert _train(config, out) == 0
    capsys.readouterr()
    assert _train(config, out, "--set", "objective.gamma=0.3") == 2
    line = _error_line(capsys)
    assert f"run directory {out} holds a different config (objective.gamma: 0.5 -> 0.3)" in line
    assert "use another --out, or --force to discard that run" in line
    assert _train(config, out, "--set", "objective.gamma=0.3", "--force") == 0
    assert json.loads((out / "config.json").read_text())["config"]["objective"]["gamma"] == 0.3


def test_unreadable_run_config_is_refused(tmp_path: Path, write_config: Callable[..., Path], capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{not json")
    assert _train(write_config(), out) == 2
    assert "config.json is unreadable" in _error_line(capsys)


def test_training_failure_exits_1_with_what_to_do(tmp_path: Path, write_config: Callable[..., Path], capsys) -> None:
    out = tmp_path / "run"
    assert _train(write_config("mi", num_train=64), out, "--set", "train.lr=1.0e+30") == 1  # diverges at once
    line = _error_line(capsys)
    assert "is nan at step" in line and f"no checkpoint was written yet ({out})" in line
    assert "Lower train.lr, or set train.nonfinite=skip" in line
    assert "is nan at step" in json.loads((out / "failure.json").read_text())["error"]


def test_damaged_checkpoints_exit_1_suggesting_force(tmp_path: Path, write_config: Callable[..., Path],
                                                     capsys) -> None:
    config, out = write_config("mi", num_train=64), tmp_path / "run"
    RunDirectory(out).prepare(load_config(str(config)), force=False, resume=False)
    (out / "checkpoints").mkdir()
    for name in ("last.pt", "previous.pt"):
        (out / "checkpoints" / name).write_bytes(b"CMIVAE1\n" + b"0" * 64 + b"garbage")
    assert _train(config, out) == 1
    err = capsys.readouterr().err.splitlines()
    assert [e.split(":")[0] for e in err] == ["warning", "error"], err  # the fallback warning, then one error
    line = err[-1]
    assert "no usable checkpoint" in line and "checksum mismatch" in line and "use --force to start over" in line
    assert _train(config, out, "--force") == 0


def test_resume_without_a_checkpoint_exits_2(tmp_path: Path, write_config: Callable[..., Path], capsys) -> None:
    assert _train(write_config(), tmp_path / "run", "--resume") == 2  # bad input (issue 31 item 15)
    assert "has no checkpoint; drop --resume to start a new run" in _error_line(capsys)


def test_batch_larger_than_the_data_exits_2(tmp_path: Path, write_config: Callable[..., Path], capsys) -> None:
    assert _train(write_config(num_train=16), tmp_path / "run") == 2
    assert "train.batch_size=32 is larger than the training set (data.num_train=16)" in _error_line(capsys)


def test_a_run_that_failed_before_training_does_not_block_the_corrected_rerun(
        tmp_path: Path, write_config: Callable[..., Path], capsys) -> None:
    """Issue 12 item 5: config.json is written only once training starts."""
    out = tmp_path / "run"
    assert _train(write_config(num_train=16), out) == 2  # batch larger than the data
    assert _train(write_config("beta", num_train=20), out) == 2  # another config failing the same way
    capsys.readouterr()
    assert not (out / "config.json").exists() and not (out / "checkpoints").exists()
    assert _train(write_config(num_train=64, epochs=1), out) == 0  # another config, no --force needed


def test_number_without_a_dot_is_accepted_or_named(tmp_path: Path, write_config: Callable[..., Path], capsys) -> None:
    """PyYAML reads 1e-3 as a string; the config turns it into the declared float."""
    code = _train(write_config(), tmp_path / "run", "--set", "train.lr=1e-3")
    first_run = capsys.readouterr().err  # also clears the captured epoch lines
    assert code == 0, first_run
    assert _train(write_config(), tmp_path / "run2", "--set", "train.lr=fast") == 2
    assert "train.lr must be a number (float), got 'fast'" in _error_line(capsys)
