"""Every config field is checked by type and range before any work (issue 15, item 8).

A seeded generator (no extra dependency) throws >= 500 malformed ``--set`` values at
``cmivae train`` through :func:`cmivae.cli.main` in-process, and a handful through real
subprocesses. Each must exit 2 with exactly one ``error:`` line, no traceback, no run
directory, and never reach training (``fit``) or data loading.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from cmivae.cli import main
from cmivae.training import loop

# Malformed YAML texts by category.
NULL = ["null", "~", ""]
BOOL = ["true", "false", "True", "no", "on"]
NONFINITE = [".nan", ".inf", "-.inf", ".NaN", "1e400"]
FRACTION = ["1.5", "0.25", "-2.5", "3.75"]
NEGATIVE_INT = ["-1", "-7", "-100"]
ZERO = ["0", "0.0"]
WORD = ["abc", "maybe", "'1.2.3'", "'ten'", "nan-ish"]
LIST = ["[1, 2]", "[]", "[a]", "[[1]]"]
DICT = ["{a: 1}", "{}", "{x: [1]}"]
DATE = ["2020-01-01"]
NUMBER = ["5", "1.5", "0", "-3"]
EMPTY_STRING = ["''", "'   '"]

STRUCTURED = LIST + DICT + DATE
POS_INT = NULL + BOOL + NONFINITE + FRACTION + NEGATIVE_INT + ZERO + WORD + STRUCTURED
POS_INT_OR_NULL = BOOL + NONFINITE + FRACTION + NEGATIVE_INT + ZERO + WORD + STRUCTURED
NON_NEGATIVE_INT = NULL + BOOL + NONFINITE + FRACTION + NEGATIVE_INT + WORD + STRUCTURED
SEED = NON_NEGATIVE_INT + ["4294967296"]
POS_FLOAT = NULL + BOOL + NONFINITE + NEGATIVE_INT + ZERO + WORD + STRUCTURED + ["-0.5"]
NON_NEGATIVE_FLOAT = NULL + BOOL + NONFINITE + NEGATIVE_INT + WORD + STRUCTURED + ["-0.5"]
BOOLEAN = NULL + NUMBER + WORD + STRUCTURED
PATH_OR_NULL = BOOL + NUMBER + STRUCTURED + EMPTY_STRING
NAME = NULL + BOOL + NUMBER + STRUCTURED + EMPTY_STRING
AUTO_OR_BOOL = NULL + NUMBER + WORD + STRUCTURED + EMPTY_STRING + ["Auto", "xauto"]


def choice(*valid: str) -> list[str]:
    others = [word for word in ("GPU", "fp16", "cuda:x") if word not in valid]
    return NULL + BOOL + NUMBER + STRUCTURED + EMPTY_STRING + [f"x{v}" for v in valid] + others


# Every field of the pixelcnn-cpu preset's config (cmi objective, pixelcnn_vae model) and its malformed values.
FIELDS: dict[str, list[str]] = {
    "data.name": NAME + ["imagenet", "MNIST"],
    "data.data_dir": PATH_OR_NULL,
    "data.root": PATH_OR_NULL,
    "data.speaker_pattern": PATH_OR_NULL + ["'(['"],
    "data.gender_table": PATH_OR_NULL,
    "data.val_fraction": NULL + BOOL + NONFINITE + WORD + STRUCTURED + ["0", "1", "1.5", "-0.1"],
    "data.split_seed": SEED,
    "data.num_train": POS_INT_OR_NULL,
    "data.num_test": POS_INT_OR_NULL,
    "data.num_speakers": POS_INT_OR_NULL,
    "model.name": NAME + ["dsae", "pixelcnn", "vae"],
    "model.z_dim": POS_INT,
    "model.channels": POS_INT,
    "model.z_channels": POS_INT,
    "model.inject_after": POS_INT + ["7", "100"],
    "model.encoder_hidden": POS_INT,
    "model.kernel_sizes": NULL + BOOL + NUMBER + WORD + DICT + ["[]", "[2, 4]", "[7, a]", "[7, 1.5]", "[1, 3]"],
    "model.encoder_channels": NULL + BOOL + NUMBER + WORD + DICT + ["[]", "[0]", "[a, 3]", "[-2]"],
    "model.image_shape": NULL + BOOL + NUMBER + WORD + DICT + ["[1, 28]", "[1, 28, -2]", "[a, b, c]"],
    "model.block": choice("plain", "residual") + ["Residual", "gated"],
    "model.unknown_key": NUMBER,
    "objective.name": NAME + ["info", "vae", "CMI"],
    "objective.gamma": NULL + BOOL + NONFINITE + WORD + STRUCTURED + ["1", "1.5", "-0.1", "2"],
    "objective.alpha": NULL + BOOL + NONFINITE + WORD + STRUCTURED + ["-1", "-0.5"],
    "objective.critic_lr": POS_FLOAT,
    "objective.critic_steps": POS_INT,
    "objective.critic_hidden_dim": POS_INT_OR_NULL,
    "objective.similarity": BOOL + NUMBER + STRUCTURED + EMPTY_STRING + ["l2", "Dot"],
    "objective.unknown_key": NUMBER,
    "train.epochs": POS_INT,
    "train.batch_size": POS_INT,
    "train.eval_batch_size": POS_INT,
    "train.lr": POS_FLOAT,
    "train.seed": SEED,
    "train.precision": choice("auto", "bf16", "fp16", "tf32", "fp32") + ["FP16", "bf32"],
    "train.device": choice("auto", "cpu") + ["cuda:-1", "cuda0", "tpu"],
    "train.max_steps": POS_INT_OR_NULL,
    "train.checkpoint_every_steps": NON_NEGATIVE_INT,
    "train.checkpoint_every_minutes": NON_NEGATIVE_FLOAT,
    "train.nonfinite": choice("stop", "skip"),
    "train.compile": BOOLEAN,
    "train.compile_mode": choice("default", "reduce-overhead", "max-autotune"),
    "train.deterministic": BOOLEAN,
    "train.data_on_device": AUTO_OR_BOOL,
    "train.channels_last": AUTO_OR_BOOL,
    "train.unknown_key": NUMBER,
}
BAD_KEYS = ["gamma", "train", "train.", ".epochs", "train.epochs.x", "foo.bar", "model", "data.name.x"]


def malformed_sets(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct-ish malformed ``--set`` items, drawn with a fixed seed."""
    rng = random.Random(seed)
    items = [f"{key}={value}" for key, values in FIELDS.items() for value in values]  # every one at least once
    items += [f"{key}=1" for key in BAD_KEYS] + ["objective.gamma", "=3"]
    keys = sorted(FIELDS)
    while len(items) < count:
        key = rng.choice(keys)
        items.append(f"{key}={rng.choice(FIELDS[key])}")
    rng.shuffle(items)
    return items


CASES = malformed_sets(600)


def test_the_generator_covers_every_field_and_enough_cases() -> None:
    assert len(CASES) >= 500
    assert {item.split("=", 1)[0] for item in CASES} >= set(FIELDS)


def test_malformed_set_values_exit_2_in_one_line_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("a malformed config reached training")

    monkeypatch.setattr(loop, "fit", no_training)
    monkeypatch.setenv("CMIVAE_DATA", str(tmp_path / "data"))
    failures = []
    for i, item in enumerate(CASES):
        out = tmp_path / f"run{i}"
        try:
            code = main(["train", "pixelcnn-cpu", "--set", item, "--out", str(out), "--no-progress"])
        except SystemExit as exit_:  # argparse refusals
            code = exit_.code
        except AssertionError as err:
            failures.append((item, "accepted", str(err)))
            continue
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        ok = (code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err
              and not captured.out and not out.exists())
        if not ok:
            failures.append((item, code, captured.err[-300:]))
    assert not (tmp_path / "data").exists()
    assert not failures, f"{len(failures)} of {len(CASES)} malformed values not refused cleanly: {failures[:10]}"


def test_good_values_still_pass(capsys) -> None:
    """The checks refuse only what is malformed: these all resolve."""
    for item in ["train.epochs=3", "train.lr=1e-3", "train.lr=2", "train.compile=true", "train.max_steps=null",
                 "data.split_seed=7", "data.num_train=100", "objective.gamma=0", "objective.critic_hidden_dim=8",
                 "objective.similarity=cosine", "model.kernel_sizes=[7, 5, 5, 3, 3]", "model.inject_after=2",
                 "train.device=cpu", "train.checkpoint_every_minutes=0", "data.data_dir=/tmp/x",
                 "train.precision=fp16", "train.precision=tf32", "train.compile_mode=max-autotune",
                 "train.deterministic=true", "train.data_on_device=false", "train.channels_last=auto",
                 "train.channels_last=true"]:
        assert main(["show-config", "pixelcnn-cpu", "--set", item]) == 0, (item, capsys.readouterr().err)
    capsys.readouterr()


def test_model_and_data_modality_are_checked_at_config_time(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "dsae-cpu", "--set", "data.name=mnist", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model 'dsae' is for speech data but data set 'mnist' holds image data" in err
    assert "model.name=pixelcnn_vae" in err and not out.exists()
    assert main(["train", "pixelcnn-cpu", "--set", "data.name=synthetic-speech", "--out", str(out)]) == 2
    assert "model 'pixelcnn_vae' is for image data" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("item", ["train.epochs=.inf", "data.split_seed=null", "train.batch_size=true",
                                  "train.compile=maybe"])
def test_malformed_values_as_real_subprocesses(tmp_path: Path, item: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
           "CMIVAE_DATA": str(tmp_path / "data")}
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "cmivae", "train", "pixelcnn-cpu", "--set", item, "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists() and not (tmp_path / "data").exists()
