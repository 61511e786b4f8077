"""Item 4 of issue 12: a data directory that cannot be created and a Ray address with no
cluster behind it are one ``error:`` line and exit 2, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cmivae import cli
from tests.sweeps.test_sweeps import write_sweep


@pytest.mark.parametrize("how", ["env", "flag", "config"])
def test_a_data_directory_that_cannot_be_created_is_one_error_line(how: str, tmp_path: Path, monkeypatch,
                                                                   capsys) -> None:
    bad = "/dev/null/cmivae-data"  # under a file: cannot be created, even by root
    monkeypatch.delenv("CMIVAE_DATA", raising=False)
    if how == "env":
        monkeypatch.setenv("CMIVAE_DATA", bad)
        args = ["data", "fetch", "mnist", "--no-download"]
    elif how == "flag":
        args = ["data", "fetch", "fashion-mnist", "--no-download", "--data-dir", bad]
    else:
        args = ["train", "pixelcnn-cpu", "--set", f"data.data_dir={bad}", "--out", str(tmp_path / "run")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot create the data folder {bad}") and err.count("\n") == 1, err
    assert "CMIVAE_DATA" in err


def test_no_ray_cluster_at_the_address_is_one_error_line(tmp_path: Path, monkeypatch, capsys) -> None:
    ray = pytest.importorskip("ray")

    def no_cluster(*args, **kwargs):  # what ray.init(address="auto") raises with no cluster running
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to.")

    monkeypatch.setattr(ray, "init", no_cluster)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    sweep = write_sweep(tmp_path)
    assert cli.main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--executor", "ray",
                     "--address", "auto"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no Ray cluster at --address auto (Could not find any running Ray instance")
    assert err.count("\n") == 1 and "ray start --head" in err


@pytest.mark.slow
def test_no_ray_cluster_for_real(tmp_path: Path) -> None:
    """The README's own example with no cluster running (``RAY_ADDRESS`` unset)."""
    pytest.importorskip("ray")
    sweep = write_sweep(tmp_path)
    env = {k: v for k, v in __import__("os").environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-m", "cmivae", "sweep", str(sweep), "--out", str(tmp_path / "out"),
                           "--executor", "ray", "--address", "auto"], capture_output=True, text=True, timeout=300,
                          env=env)
    if proc.returncode == 0:
        pytest.skip("a Ray cluster is running on this machine")
    assert proc.returncode == 2 and proc.stderr.startswith("error: no Ray cluster"), proc.stderr
    assert "Traceback" not in proc.stderr
