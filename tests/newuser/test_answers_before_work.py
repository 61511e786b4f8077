"""Issue 31 items 10 and 15: refusals that need only a run's files answer before importing torch
and before measuring the load; a failed or refused ``train`` leaves no ``--out`` behind;
``--resume`` without a checkpoint is bad input (exit 2); a batch larger than the training set
is refused before the run directory exists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cmivae import cli
from cmivae.config import load_config

ROOT = Path(__file__).resolve().parents[2]
# Runs `cmivae ARGS` in a fresh interpreter; prints whether torch was imported and whether the
# load was measured (the threads policy was applied) when the command returned.
WRAPPER = """
import sys
import cmivae.infra.threads as threads
def measured(*args, **kwargs):
    print("MEASURED", file=sys.stderr)
    raise SystemExit(99)
threads.apply_threads = measured
from cmivae.cli.main import main
code = main(sys.argv[1:])
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
raise SystemExit(code)
"""


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=env,
                          timeout=300)


def write_run(path: Path, preset: str = "pixelcnn-cpu", finished: bool = True, **files: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"config": load_config(preset).to_dict()}))
    if finished:
        (path / "results.json").write_text(json.dumps({"elbo": -90.0}))
    for name, text in files.items():
        (path / name.replace("_", ".")).write_text(text)
    return path


@pytest.mark.parametrize("case", ["finished", "other-config", "resume-without-checkpoint", "damaged-eval",
                                  "show-config"])
def test_refusals_from_files_answer_before_torch_and_the_load(case: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    if case == "finished":
        write_run(run)
        args = ["train", "pixelcnn-cpu", "--out", str(run)]
    elif case == "other-config":
        write_run(run, finished=False)
        args = ["train", "pixelcnn-cpu", "--set", "objective.gamma=0.9", "--out", str(run)]
    elif case == "resume-without-checkpoint":
        args = ["train", "pixelcnn-cpu", "--resume", "--out", str(run)]
    elif case == "damaged-eval":
        write_run(run, eval_json="{not json")
        args = ["evaluate", str(run)]
    else:
        args = ["show-config", "pixelcnn-cpu", "--set", "train.epochs=-1"]
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: ") and lines[-1] == "NO-TORCH", proc.stderr
    assert "MEASURED" not in proc.stderr
    if case == "resume-without-checkpoint":
        assert "has no checkpoint" in lines[0] and not run.exists(), "nothing created"


def test_a_refused_train_leaves_no_out_directory(tmp_path: Path, capsys) -> None:
    """The batch fits no training set: refused from the config alone, nothing created."""
    out = tmp_path / "run"
    assert cli.main(["train", "pixelcnn-cpu", "--set", "train.batch_size=7000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "train.batch_size=7000 is larger than the training set (data.num_train=6000)" in err, err
    assert not out.exists()


def test_a_failed_train_removes_the_directory_it_created(tmp_path: Path, capsys, monkeypatch) -> None:
    """Data that does not load leaves no run directory holding only ``.cmivae.lock``."""
    import cmivae.training.loop
    from cmivae.infra.errors import DataError

    def no_data(config):
        raise DataError("no fashion-mnist here")

    monkeypatch.setattr(cmivae.training.loop, "load_dataset", no_data)
    out = tmp_path / "run"
    assert cli.main(["train", "pixelcnn-cpu", "--out", str(out)]) == 2
    assert "no fashion-mnist here" in capsys.readouterr().err
    assert not out.exists(), sorted(p.name for p in out.iterdir())


def test_resume_without_checkpoint_is_bad_input_in_the_api_too(tmp_path: Path) -> None:
    from cmivae.infra.errors import ConfigError
    from cmivae.training.loop import fit
    from tests.helpers import tiny_config, tiny_images

    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="has no checkpoint"):
        fit(tiny_config(epochs=1), out, resume=True, progress=False, data=tiny_images())
    assert not out.exists()


def test_a_batch_larger_than_the_loaded_training_set_leaves_nothing(tmp_path: Path) -> None:
    from cmivae.infra.errors import ConfigError
    from cmivae.training.loop import fit
    from tests.helpers import tiny_config, tiny_images

    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="larger than the training set"):
        fit(tiny_config(epochs=1, batch_size=128), out, progress=False, data=tiny_images(n_train=64))
    assert not out.exists(), sorted(p.name for p in out.iterdir())
