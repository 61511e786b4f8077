"""The committed sweeps stay finished when metrics or config fields are added, and the study
sweeps reuse the committed run ids where they rerun the same points (determinism check)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmivae.sweeps.grid import load_sweep
from cmivae.sweeps.runner import run_state

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = {"cpu-fashion": "cpu-fashion.yaml", "cpu-mnist": "cpu-mnist.yaml",
             "cpu-dsae-synthetic": "cpu-dsae-synthetic.yaml"}


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_runs_are_done_under_their_index_and_their_sweep_file(name: str) -> None:
    sweep_dir = ROOT / "results" / name
    index = json.loads((sweep_dir / "sweep.json").read_text())
    sweep = load_sweep(ROOT / "experiments" / COMMITTED[name])
    assert {s.run_id for s in sweep.runs} == {e["run_id"] for e in index["runs"]}
    for entry in index["runs"]:
        run_dir = sweep_dir / entry["run_dir"]
        # what `cmivae sweep-status` reads (sweep.json's settings) and what a rerun of the file asks
        assert run_state(run_dir, index["sweep"]["evaluate"], index["sweep"]["metrics"]) == "done", run_dir
        assert run_state(run_dir, sweep.evaluate, sweep.metrics) == "done", run_dir


def test_study_paths_sweep_reruns_the_committed_beta_and_cmi_points() -> None:
    study = load_sweep(ROOT / "experiments" / "study-fashion-paths.yaml")
    committed = {p.name for p in (ROOT / "results" / "cpu-fashion" / "runs").iterdir()}
    same = [s for s in study.runs if s.config.objective.critic_path == "both"]
    assert len(study.runs) == 27 and len(same) == 15
    assert {s.run_id for s in same} <= committed
    assert not {s.run_id for s in study.runs if s.config.objective.critic_path != "both"} & committed
