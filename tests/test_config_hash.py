"""Every committed run keeps its id: re-hashing its saved config gives its directory name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmivae.config import HASH_NEUTRAL_DEFAULTS, ExperimentConfig, config_hash
from cmivae.registry import resolve

RESULTS = Path(__file__).resolve().parents[1] / "study" / "results"
RUN_DIRS = sorted(p for p in RESULTS.glob("*/runs/*") if (p / "config.json").exists())


def test_committed_results_exist() -> None:
    assert len(RUN_DIRS) >= 100


@pytest.mark.parametrize("run_dir", RUN_DIRS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_committed_run_id_is_stable(run_dir: Path) -> None:
    saved = json.loads((run_dir / "config.json").read_text())["config"]
    config = ExperimentConfig.from_dict(saved)
    assert config.config_hash() == run_dir.name
    assert config_hash(saved) == run_dir.name
    assert resolve(config).config.config_hash() == run_dir.name  # what `train` and `sweep` hash


@pytest.mark.parametrize("run_dir", RUN_DIRS[::7], ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_committed_runs_get_the_traits_their_classes_declare(run_dir: Path) -> None:
    """A run trained before config.json held "traits" is read as what its classes declare today
    (runs/legacy.py), so reports and sweep state treat old and new runs alike."""
    from cmivae.runs.directory import run_traits
    from cmivae.runs.readers import read_saved, read_traits

    saved = read_saved(run_dir)
    assert "traits" not in saved
    assert read_traits(saved) == run_traits(resolve(ExperimentConfig.from_dict(saved["config"])))


def test_neutral_defaults_match_the_dataclasses() -> None:
    defaults = ExperimentConfig().to_dict()
    for (section, key), value in HASH_NEUTRAL_DEFAULTS.items():
        if section != "model":
            assert defaults[section][key] == value, (section, key)


@pytest.mark.parametrize("overrides", [
    (["objective.alpha=2"], ["objective.alpha=2.0"]),
    (["objective.gamma=1"], ["objective.gamma=1.0"]),
    (["train.lr=1"], ["train.lr=1.0"]),
])
def test_an_integer_for_a_float_field_is_the_same_run(overrides: tuple[list[str], list[str]]) -> None:
    """``alpha: 2`` in a YAML file and ``alpha: 2.0`` written by a sweep are one config, one run id."""
    from cmivae.config import load_config

    as_int, as_float = (load_config("pixelcnn-cpu", [*o, "objective.name=cmi"]) for o in overrides)
    assert as_int.config_hash() == as_float.config_hash()
    assert as_int.to_dict() == as_float.to_dict()
    key = overrides[1][0].split("=")[0].split(".")
    assert isinstance(as_int.to_dict()[key[0]][key[1]], float)


def test_a_broken_pipe_is_no_traceback() -> None:
    """``cmivae sweep --dry-run | head``: the reader leaves before the listing is written; a quiet
    exit 141 (as ``yes | head``), no traceback and no misleading "could not access" line."""
    import subprocess
    import sys

    sweep = Path(__file__).resolve().parents[1] / "study" / "experiments" / "cpu-fashion.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "cmivae", "sweep", str(sweep), "--dry-run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child (still importing) writes its first line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert err == "", err
