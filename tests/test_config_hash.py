"""Every committed run keeps its id: re-hashing its saved config gives its directory name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmivae.config import HASH_NEUTRAL_DEFAULTS, ExperimentConfig, config_hash
from cmivae.registry import resolve

RESULTS = Path(__file__).resolve().parents[1] / "results"
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


def test_neutral_defaults_match_the_dataclasses() -> None:
    defaults = ExperimentConfig().to_dict()
    for (section, key), value in HASH_NEUTRAL_DEFAULTS.items():
        if section != "model":
            assert defaults[section][key] == value, (section, key)
