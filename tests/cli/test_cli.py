"""The command line: presets, bad input (exit 2 with one line), a smoke run on real data."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cmivae.cli import main
from cmivae.config import PRESET_DIR, list_presets, load_config
from cmivae.registry import DATASETS, MODELS, OBJECTIVES

KNOWN = {"objective": ", ".join(sorted(OBJECTIVES)), "model": ", ".join(sorted(MODELS)),
         "data set": ", ".join(DATASETS)}  # the registries' names, as the error lists them
TINY = ["--set", "data.num_train=96", "--set", "data.num_test=64", "--set", "train.epochs=1",
        "--set", "train.batch_size=32", "--set", "model.kernel_sizes=[5,3,3]", "--set", "model.channels=8",
        "--set", "model.inject_after=2", "--set", "objective.critic_hidden_dim=8"]


@pytest.mark.parametrize("name", list_presets())
def test_every_shipped_preset_loads(name: str) -> None:
    from cmivae.registry import resolve

    config = load_config(name)
    assert config.to_dict()["model"]["name"] in MODELS
    resolve(config)  # model params, objective params and the data set's modality all check out
    assert (PRESET_DIR / f"{name}.yaml").read_text().startswith("#"), "presets open with a describing comment"


def test_presets_are_listed(capsys) -> None:
    assert main(["presets"]) == 0
    assert "pixelcnn-paper" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["train", "nope-preset"], "no config file or preset named 'nope-preset'; presets:"),
    (["train", "pixelcnn-cpu", "--set", "objective.gamma=1.0"], "objective.gamma must be in [0, 1)"),
    (["train", "pixelcnn-cpu", "--set", "objective.gamma=-0.1"], "objective.gamma must be in [0, 1)"),
    (["train", "pixelcnn-cpu", "--set", "objective.name=info"],
     f"unknown objective 'info'; known objectives: {KNOWN['objective']}"),
    (["train", "pixelcnn-cpu", "--set", "model.name=vqvae"], f"unknown model 'vqvae'; known models: {KNOWN['model']}"),
    (["train", "pixelcnn-cpu", "--set", "data.name=cifar"],
     f"unknown data set 'cifar'; known data sets: {KNOWN['data set']}"),
    (["train", "pixelcnn-cpu", "--set", "train.batch_size=0"], "train.batch_size must be a positive number"),
    (["train", "pixelcnn-cpu", "--set", "model.z_dim=-3"], "model.z_dim must be positive"),
    (["train", "pixelcnn-cpu", "--set", "train.lrate=3"], "unknown key(s) train.lrate of train; known keys:"),
    (["train", "pixelcnn-cpu", "--set", "model.zdim=3"], "model.zdim of model 'pixelcnn_vae'; known keys:"),
    (["train", "pixelcnn-cpu", "--set", "gamma=0.3"], "--set key 'gamma' must be section.key"),
    (["train", "pixelcnn-cpu", "--set", "objective.gamma"], "--set expects section.key=value"),
    (["train", "pixelcnn-cpu", "--set", "train.precision=fp8"], "train.precision must be auto, bf16, fp16"),
    (["train", "pixelcnn-cpu", "--set", "data.name=timit"], "needs data.root"),
])
def test_bad_input_exits_2_with_a_message(capsys, args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1, "one line saying what to do"


def test_missing_config_file(capsys, tmp_path) -> None:
    assert main(["train", str(tmp_path / "x.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_smoke_on_real_fashion_mnist_writes_all_run_files(tmp_path, fashion_mnist_dir) -> None:
    """A CLI run on a tiny subset of the real data (``python -m cmivae``)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "cmivae", "train", "pixelcnn-cpu", "--out", str(out), "--no-progress",
           "--set", f"data.data_dir={fashion_mnist_dir}", *TINY]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ("config.json", "metrics.jsonl", "results.json"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    assert {"elbo", "recon", "kl_z"} <= set(results)
    assert "recon" in proc.stdout
    # Rerunning the finished run is refused with exit code 2 and a hint.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "--force" in again.stderr
    # compare prints the run's results.
    assert main(["compare", str(out)]) == 0


def test_split_is_recorded_and_fixed(fashion_mnist_dir) -> None:
    from cmivae.data.images.binarized import load_binarized_images

    a = load_binarized_images("fashion-mnist", fashion_mnist_dir, num_train=50, split_seed=0)
    b = load_binarized_images("fashion-mnist", fashion_mnist_dir, num_train=50, split_seed=0)
    assert (a.train_x == b.train_x).all() and a.split_seed == 0
    assert set(a.train_x.unique().tolist()) <= {0, 1}


def test_module_entry_point_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "cmivae", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "train" in proc.stdout
    assert Path(sys.executable).with_name("cmivae").exists(), "the console script is installed"
