"""Bytes that are not text (issue 31, item 23): each is one ``error:`` line and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cmivae.cli.main import main
from tests.reliability.runs import cli_env, tiny_raw_config

REPO = Path(__file__).resolve().parents[2]


def _one_error_line(capsys: pytest.CaptureFixture, *words: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("content, words", [
    (bytes(range(256)) * 2, ("is not UTF-8 text",)),  # random bytes
    (b"train:\n  lr: \xff\xfe\n", ("is not UTF-8 text", "byte 13")),  # a Latin-1 file
    (b"train:\n  lr: !!float x\n", ("is not valid YAML", "'x'")),  # a tag whose constructor fails
    (b"model:\n  name: pixelcnn_vae\n  kernel_sizes: &x [1, *x]\n", ("refers to itself",)),  # a cycle
    (b"objective:\n  name: cmi\n  gamma: &g {a: *g}\n", ("refers to itself",)),
])
def test_a_config_file_that_is_not_text_or_not_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                content: bytes, words: tuple[str, ...]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    for command in (["show-config", str(path)], ["train", str(path), "--out", str(tmp_path / "run")]):
        assert main(command) == 2
        _one_error_line(capsys, str(path), *words)
    assert not (tmp_path / "run").exists()


def test_a_self_referencing_set_value_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["show-config", "pixelcnn-cpu", "--set", "model.kernel_sizes=&x [1, *x]"]) == 2
    _one_error_line(capsys, "--set", "refers to itself")
    assert main(["show-config", "pixelcnn-cpu", "--set", "train.lr=!!float x"]) == 2
    _one_error_line(capsys, "--set", "not valid YAML")


def test_a_truncated_data_pack_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pack = tmp_path / "fashion-mnist.npz"
    pack.write_bytes(b"PK\x03\x04" + bytes(100))  # a zip's magic, then nothing a zip reader accepts
    assert main(["data", "import", str(pack), "--data-dir", str(tmp_path / "data")]) == 2
    _one_error_line(capsys, str(pack), "not a complete data pack")


def test_report_of_a_run_directory_whose_path_is_not_utf8(tmp_path: Path, fashion_mnist_dir: str) -> None:
    root = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/runs\xff"))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_raw_config(fashion_mnist_dir, "beta", 64, epochs=1)))
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "LC_ALL": "C.UTF-8"}
    trained = subprocess.run([sys.executable, "-m", "cmivae", "train", str(config), "--out", str(root / "r"),
                              "--no-progress"], env=env, capture_output=True, timeout=300)
    assert trained.returncode == 0, trained.stderr.decode(errors="replace")
    report = subprocess.run([sys.executable, "-m", "cmivae", "report", str(root), "--out", str(tmp_path / "rep")],
                            env=env, capture_output=True, timeout=300)
    assert report.returncode == 0, report.stderr.decode(errors="replace")
    assert b"Traceback" not in report.stderr
    written = b"".join(p.read_bytes() for p in (tmp_path / "rep").rglob("*.md"))
    written.decode("utf-8")  # the report is UTF-8 text, the undecodable byte shown as \xff
    assert b"runs\\xff" in written
