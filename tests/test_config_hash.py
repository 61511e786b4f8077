"""Run ids (runs/legacy.py): every committed run keeps its id (re-hashing its saved config gives its
directory name); a new field at its default renames nothing and set to another value gives a
schema-2 id, with no entry anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmivae.config import ExperimentConfig
from cmivae.registry import resolve
from cmivae.runs.legacy import (
    HASH_NEUTRAL_DEFAULTS,
    LEGACY_FIELDS,
    comparable_form,
    hashed_form,
    run_id,
    saved_form,
)

RESULTS = Path(__file__).resolve().parents[1] / "study" / "results"
RUN_DIRS = sorted(p for p in RESULTS.glob("*/runs/*") if (p / "config.json").exists())


def test_committed_results_exist() -> None:
    assert len(RUN_DIRS) >= 100


@pytest.mark.parametrize("run_dir", RUN_DIRS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_committed_run_id_is_stable(run_dir: Path) -> None:
    saved = json.loads((run_dir / "config.json").read_text())["config"]
    config = ExperimentConfig.from_dict(saved)
    assert run_id(config) == run_dir.name
    assert run_id(saved) == run_dir.name  # torch-free readers hash the saved dict
    assert run_id(resolve(config).config) == run_dir.name  # what `train` and `sweep` hash
    assert "schema" not in hashed_form(config)
    assert comparable_form(config) == comparable_form(saved)  # a resume of it finds no difference


@pytest.mark.parametrize("run_dir", RUN_DIRS[::7], ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_committed_runs_get_the_traits_their_classes_declare(run_dir: Path) -> None:
    """A run trained before config.json held "traits" is read as what its classes declare today
    (runs/legacy.py), and a run trained since holds exactly those traits, so reports and sweep state treat old
    and new runs alike."""
    from cmivae.runs.directory import run_traits
    from cmivae.runs.readers import read_saved, read_traits

    saved = read_saved(run_dir)
    assert read_traits(saved) == run_traits(resolve(ExperimentConfig.from_dict(saved["config"])))


def test_neutral_defaults_match_the_dataclasses() -> None:
    defaults = saved_form(ExperimentConfig())
    for (section, key), value in HASH_NEUTRAL_DEFAULTS.items():
        if section != "model":
            assert defaults[section][key] == value, (section, key)


def test_a_new_field_needs_no_entry_anywhere(monkeypatch) -> None:
    """A train field added after the legacy schema (simulated: TrainConfig with one more field):
    at its default every id stays; set, the config gets a schema-2 id of its own."""
    import dataclasses

    import cmivae.config

    saved = json.loads((RUN_DIRS[0] / "config.json").read_text())["config"]
    assert "new_knob" not in LEGACY_FIELDS["train"]
    wider = dataclasses.make_dataclass("WiderTrainConfig", [("new_knob", int, dataclasses.field(default=0))],
                                       bases=(cmivae.config.TrainConfig,))
    monkeypatch.setitem(cmivae.config.SECTIONS, "train", wider)
    at_default = ExperimentConfig.from_dict(saved)
    assert at_default.to_dict()["train"]["new_knob"] == 0
    assert run_id(at_default) == RUN_DIRS[0].name
    changed = ExperimentConfig.from_dict({**saved, "train": {**saved["train"], "new_knob": 3}})
    assert hashed_form(changed)["schema"] == 2 and hashed_form(changed)["config"]["train"]["new_knob"] == 3
    assert run_id(changed) != RUN_DIRS[0].name and run_id(changed) == run_id(saved_form(changed))


def test_a_new_regularizer_needs_no_entry_anywhere() -> None:
    """An objective name and params the legacy schema never saw hash like any other (the legacy
    shape keeps every objective's params as given)."""
    saved = json.loads((RUN_DIRS[0] / "config.json").read_text())["config"]
    toy = {**saved, "objective": {"name": "hsic", "gamma": 0.3, "sigma": 2.0}}
    assert run_id(toy) != run_id({**toy, "objective": {**toy["objective"], "sigma": 1.0}})
    assert run_id(toy) == run_id(saved_form(toy))


@pytest.mark.parametrize("overrides", [
    (["objective.alpha=2"], ["objective.alpha=2.0"]),
    (["objective.gamma=1"], ["objective.gamma=1.0"]),
    (["train.lr=1"], ["train.lr=1.0"]),
])
def test_an_integer_for_a_float_field_is_the_same_run(overrides: tuple[list[str], list[str]]) -> None:
    """``alpha: 2`` in a YAML file and ``alpha: 2.0`` written by a sweep are one config, one run id."""
    from cmivae.config import load_config

    as_int, as_float = (load_config("pixelcnn-cpu", [*o, "objective.name=cmi"]) for o in overrides)
    assert run_id(as_int) == run_id(as_float)
    assert saved_form(as_int) == saved_form(as_float)
    key = overrides[1][0].split("=")[0].split(".")
    assert isinstance(saved_form(as_int)[key[0]][key[1]], float)
    if key[1] != "gamma":  # gamma=1 is refused by resolve (beta = 1 - gamma > 0)
        assert isinstance(resolve(as_int).config.to_dict()[key[0]][key[1]], float)  # resolve keeps the checked value


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


def test_resolve_returns_new_objects_and_leaves_the_config_as_given() -> None:
    from cmivae.config import load_config

    config = load_config("pixelcnn-cpu", ["objective.name=cmi", "objective.critic_lr=2e-3", "objective.alpha=2",
                                          "model.z_dim=8"])
    before = config.to_dict()
    resolved = resolve(config)
    assert config.to_dict() == before, "resolve does not mutate its argument"
    assert resolved.config is not config and resolved.config.objective is not config.objective
    assert resolved.config.objective.params["alpha"] == 2.0 and isinstance(resolved.config.objective.params["alpha"],
                                                                           float)
    # YAML reads 2e-3 as a string: the resolved copy holds the number the run uses (and hashes)
    assert config.objective.params["critic_lr"] == "2e-3" and resolved.config.objective.params["critic_lr"] == 0.002
