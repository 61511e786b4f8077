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
    sweep_dir = ROOT / "study" / "results" / name
    index = json.loads((sweep_dir / "sweep.json").read_text())
    sweep = load_sweep(ROOT / "study" / "experiments" / COMMITTED[name])
    assert {s.run_id for s in sweep.runs} == {e["run_id"] for e in index["runs"]}
    for entry in index["runs"]:
        run_dir = sweep_dir / entry["run_dir"]
        # what `cmivae sweep-status` reads (sweep.json's settings) and what a rerun of the file asks
        assert run_state(run_dir, index["sweep"]["evaluate"], index["sweep"]["metrics"]) == "done", run_dir
        assert run_state(run_dir, sweep.evaluate, sweep.metrics) == "done", run_dir


def test_study_paths_sweep_reruns_the_committed_beta_and_cmi_points() -> None:
    study = load_sweep(ROOT / "study" / "experiments" / "study-fashion-paths.yaml")
    committed = {p.name for p in (ROOT / "study" / "results" / "cpu-fashion" / "runs").iterdir()}
    same = [s for s in study.runs if s.config.objective.params.get("critic_path", "both") == "both"]
    assert len(study.runs) == 27 and len(same) == 15
    assert {s.run_id for s in same} <= committed
    assert not {s.run_id for s in study.runs if s.config.objective.params.get("critic_path", "both") != "both"} \
        & committed


def test_study_mnist_sweep_reruns_the_committed_beta_and_cmi_points() -> None:
    study = load_sweep(ROOT / "study" / "experiments" / "study-mnist.yaml")
    committed = {p.name for p in (ROOT / "study" / "results" / "cpu-mnist" / "runs").iterdir()}
    assert len(study.runs) == 33  # 27 + beta-VAE at gamma 0.95 and 0.97
    assert len({s.run_id for s in study.runs} & committed) == 15


def test_budget_sweep_uses_both_presets() -> None:
    from cmivae.config import load_config
    from cmivae.runs.legacy import run_id

    study = load_sweep(ROOT / "study" / "experiments" / "study-budget.yaml")
    assert len(study.runs) == 33  # 12 per preset + the s-path alone on each preset + the z-path on the long one
    layers = sorted(len(s.config.model.params["kernel_sizes"]) for s in study.runs)
    assert layers == [7] * 18 + [13] * 15
    z_path = [s for s in study.runs if s.config.objective.params.get("critic_path") == "z"]
    assert sorted(s.config.train.seed for s in z_path) == [0, 1, 2]
    s_path = [s for s in study.runs if s.config.objective.params.get("critic_path") == "s"]
    assert sorted(s.config.train.seed for s in s_path) == [0, 0, 1, 1, 2, 2]
    assert {len(s.config.model.params["kernel_sizes"]) for s in s_path} == {7, 13}
    for spec in study.runs:  # each point is its preset with the point's values
        point = {k: v for k, v in spec.overrides.items() if k != "base"}
        expected = load_config(spec.overrides["base"], [f"{k}={v}" for k, v in point.items()])
        assert spec.run_id == run_id(expected)


def test_mnist_budget_sweep_covers_both_presets_with_the_long_one_first() -> None:
    study = load_sweep(ROOT / "study" / "experiments" / "study-budget-mnist.yaml")
    assert len(study.runs) == 18 and {s.config.data.name for s in study.runs} == {"mnist"}
    layers = [len(s.config.model.params["kernel_sizes"]) for s in study.runs]
    assert layers == [7] * 9 + [13] * 9, "pixelcnn-cpu-long's 9 runs come first"
    fashion = {s.run_id for s in load_sweep(ROOT / "study" / "experiments" / "study-budget.yaml").runs}
    assert not {s.run_id for s in study.runs} & fashion


def test_mnist_critics_sweep_asks_question_6_on_the_study_mnist_preset() -> None:
    study = load_sweep(ROOT / "study" / "experiments" / "study-mnist-critics.yaml")
    assert len(study.runs) == 9 and {s.config.data.name for s in study.runs} == {"mnist"}
    assert sorted((s.config.objective.name, s.config.objective.params.get("alpha", 1.0)) for s in study.runs) == \
        [("cmi", 0.5)] * 3 + [("cmi", 2.0)] * 3 + [("mmd", 1.0)] * 3
    mnist = load_sweep(ROOT / "study" / "experiments" / "study-mnist.yaml").runs
    assert {s.config.model.to_dict()["kernel_sizes"] == mnist[0].config.model.to_dict()["kernel_sizes"]
            for s in study.runs} == {True}, "the same preset as study-mnist.yaml, so one report compares them"


def test_precision_sweep_is_the_committed_points_in_fp32_under_new_run_ids() -> None:
    """study-precision.yaml reruns three cpu-fashion points with train.precision fp32: the
    configs equal the committed ones but for the precision, so the run ids differ (no committed
    bf16 run is reused) and study/scripts/paired_runs.py pairs them by seed."""
    from cmivae.config import load_config
    from cmivae.runs.legacy import run_id

    study = load_sweep(ROOT / "study" / "experiments" / "study-precision.yaml")
    committed = {s.run_id for s in load_sweep(ROOT / "study" / "experiments" / "cpu-fashion.yaml").runs}
    assert len(study.runs) == 9 and {s.config.train.precision for s in study.runs} == {"fp32"}
    assert not {s.run_id for s in study.runs} & committed
    for spec in study.runs:  # the same point with precision auto is a committed run
        point = [f"{k}={v}" for k, v in spec.overrides.items() if k != "train.precision"]
        twin = load_config("pixelcnn-cpu", [*point, "data.name=fashion-mnist", "train.precision=auto"])
        assert run_id(twin) in committed, spec.overrides


def test_grid_base_axis_and_its_errors(tmp_path: Path) -> None:
    from cmivae.infra.errors import ConfigError

    path = tmp_path / "s.yaml"
    path.write_text("base: pixelcnn-cpu\nset: {train.epochs: 1}\ngrid:\n  - base: [pixelcnn-cpu-long]\n"
                    "    train.seed: [0]\n  - train.seed: [0]\n")
    sweep = load_sweep(path)
    assert [s.config.data.num_train for s in sweep.runs] == [12000, 6000]
    assert all(s.config.train.epochs == 1 for s in sweep.runs), "the file's set applies to every base"
    path.write_text("base: pixelcnn-cpu\ngrid:\n  - base: [no-such-preset]\n    train.seed: [0]\n")
    with pytest.raises(ConfigError, match=r"grid\[0\]\.base: no config file or preset named 'no-such-preset'"):
        load_sweep(path)
    path.write_text("base: pixelcnn-cpu\nevaluate: [all, aolr_sdt]\n")
    with pytest.raises(ConfigError, match="evaluate: unknown metric.*aolr_sdt"):
        load_sweep(path)


def test_residual_sweep_is_pixelcnn_mid_with_residual_layers_and_its_committed_runs_are_done() -> None:
    sweep = load_sweep(ROOT / "study" / "experiments" / "study-residual.yaml")
    assert len(sweep.runs) == 9
    assert all(run.config.model.params.get("block") == "residual" and run.config.model.params["channels"] == 64
               for run in sweep.runs)
    runs = ROOT / "study" / "results" / "study-residual" / "runs"
    assert len(_committed_runs_are_the_sweeps_and_done(sweep, runs)) >= 4


@pytest.mark.parametrize(("name", "preset_updates"), [("study-residual-paths", 368), ("study-residual-long", 1120)])
def test_residual_follow_up_sweeps_keep_the_residual_decoder_and_their_committed_runs_are_done(
        name: str, preset_updates: int) -> None:
    """Question 5's follow-ups: the residual 13x64 decoder at pixelcnn-mid's budget (the s-path, beta-VAE at
    gamma 0.3) and at pixelcnn-mid-long's (3x the updates); every committed run is one of the file's, done."""
    sweep = load_sweep(ROOT / "study" / "experiments" / f"{name}.yaml")
    assert all(run.config.model.params.get("block") == "residual" and run.config.model.params["channels"] == 64
               for run in sweep.runs)
    for run in sweep.runs:  # the budget the file's comment states: full batches of num_train x epochs
        data, train = run.config.data, run.config.train
        assert data.num_train // train.batch_size * train.epochs == preset_updates, run.run_id
    s_path = [r for r in sweep.runs if r.config.objective.params.get("critic_path") == "s"]
    assert {r.config.train.seed for r in s_path} == {0, 1, 2}
    _committed_runs_are_the_sweeps_and_done(sweep, ROOT / "study" / "results" / name / "runs")


def _committed_runs_are_the_sweeps_and_done(sweep, runs_dir: Path) -> list[Path]:
    """The evaluated run directories under ``runs_dir`` (none if it is absent): each is one of ``sweep``'s
    runs and done under its evaluate list."""
    committed = [d for d in runs_dir.iterdir() if (d / "eval.json").exists()] if runs_dir.exists() else []
    ids = {run.run_id for run in sweep.runs}
    assert all(d.name in ids for d in committed)
    assert all(run_state(d, sweep.evaluate, sweep.metrics) == "done" for d in committed)
    return committed


def test_local_critic_sweep_is_seed_major_and_every_point_has_its_committed_beta_vae_twin() -> None:
    """study-local-critic.yaml (issue 30, E1/E2 + MWS): 40 runs a seed, seed-major: first cpu-fashion's six
    beta-VAE curve runs (and beta-VAE at gamma 0.95, new: the curve above 0.9) and its paper's CMI-VAE at gamma
    0.9 and 0.5 (the same ids, re-evaluated with the fixed probe set: E3), then 31 points, each read against
    the beta-VAE run of the same preset, gamma and seed, which must be committed (cpu-fashion for pixelcnn-cpu,
    study-residual-long for the residual pixelcnn-mid-long); no point is one of those."""
    from cmivae.config import load_config
    from cmivae.runs.legacy import run_id

    study = load_sweep(ROOT / "study" / "experiments" / "study-local-critic.yaml")
    assert [s.config.train.seed for s in study.runs] == [0] * 40 + [1] * 40 + [2] * 40 + [3, 3, 4, 4]
    follow_up = study.runs[120:]  # seeds 3-4 of two arms (the decision rule's 5 seeds), read on seeds 0-2's curve
    assert {s.config.objective.name for s in follow_up} == {"mws", "cmi"}
    committed = {p.name for name in ("cpu-fashion", "study-residual-long")
                 for p in (ROOT / "study" / "results" / name / "runs").iterdir()}
    curve = [s for s in study.runs if s.config.objective.name == "beta"]
    assert [s.config.objective.gamma for s in curve] == [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95] * 3
    fashion = {p.name for p in (ROOT / "study" / "results" / "cpu-fashion" / "runs").iterdir()}
    assert {s.run_id for s in curve if s.config.objective.gamma < 0.95} <= fashion
    fashion_cmi = [s for s in study.runs if s.config.objective.name == "cmi"
                   and {k for k in s.overrides if k.startswith("objective.")} == {"objective.name", "objective.gamma"}]
    assert [s.config.objective.gamma for s in fashion_cmi] == [0.9, 0.5] * 3
    assert {s.run_id for s in fashion_cmi} <= fashion
    points = [s for s in study.runs[:120] if s.config.objective.name != "beta" and s not in fashion_cmi]
    assert len(points) == 31 * 3
    assert not {s.run_id for s in points} & committed
    for spec in points:
        base = spec.overrides.get("base", "pixelcnn-cpu")
        keep = {k: v for k, v in spec.overrides.items() if k != "base" and not k.startswith("objective.")}
        twin = load_config(base, ["data.name=fashion-mnist", *(f"{k}={v}" for k, v in keep.items()),
                                  "objective.name=beta", f"objective.gamma={spec.config.objective.gamma}"])
        assert run_id(twin) in committed, spec.overrides
    x_critics = [s for s in points if s.config.objective.params.get("critic_input", "map") == "x"]
    assert len(x_critics) == 12 and {s.config.objective.params.get("critic_path", "both") for s in x_critics} == {"z"}
    assert sum(s.config.objective.name == "mws" for s in study.runs) == 24 + 2
