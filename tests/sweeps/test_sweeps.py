"""Sweeps: expansion and validation, shipped sweep files, and the runner's contract
(skip what is done, resume what was interrupted, record and retry what failed) on the
sequential, process and Ray executors, with tiny in-memory data and a fake evaluator."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from cmivae import cli
from cmivae.config import load_config
from cmivae.infra.atomic import atomic_write_json
from cmivae.infra.errors import ConfigError
from cmivae.metric_names import Offers, default_metrics
from cmivae.models.pixelcnn_vae import PixelCNNVAE
from cmivae.runs.legacy import run_id
from cmivae.sweeps.grid import expand_sweep, load_sweep
from cmivae.sweeps.runner import run_sweep
from cmivae.training import loop
from tests.helpers import TINY_PIXELCNN, tiny_images

EXPERIMENTS = Path(__file__).resolve().parents[2] / "study" / "experiments"
NEEDS = {"paper-table1-dsae-timit.yaml": ["data.root=/path/to/TIMIT"]}  # sweeps that need user input

TINY_BASE = {"data": {"name": "fashion-mnist"}, "model": dict(TINY_PIXELCNN),
             "objective": {"name": "cmi", "gamma": 0.5, "critic_hidden_dim": 8},
             "train": {"epochs": 2, "batch_size": 16, "lr": 1e-3, "seed": 0, "precision": "fp32",
                       "checkpoint_every_minutes": 0}}

IMAGE_METRICS = default_metrics(Offers.of(PixelCNNVAE.capabilities, "fashion-mnist"))  # what `all` means here


# ---------------------------------------------------------------- picklable hooks (process and Ray workers)

def tiny_data(config: Any) -> Any:
    """In-memory 8x8 images instead of the data registry."""
    return tiny_images(n_train=64, n_val=32, n_test=32)


def fake_evaluate(run_dir: Path, metrics: list[str] | None, *, quiet: bool = False, data: Any = None
                  ) -> dict[str, float]:
    """Writes eval.json with made-up metrics and the torch threads the worker ran with."""
    eval_path = Path(run_dir) / "eval.json"
    values = json.loads(eval_path.read_text()) if eval_path.exists() else {}
    values.update({name: 0.5 for name in (metrics or IMAGE_METRICS)})
    values.update({"threads": float(torch.get_num_threads()),
                   "metrics_requested": float(len(metrics)) if metrics else -1.0})
    atomic_write_json(eval_path, values)
    return values


def evaluate_or_die_for_beta(run_dir: Path, metrics: list[str] | None, *, quiet: bool = False, data: Any = None
                             ) -> dict[str, float]:
    """Kills its own worker process (SIGKILL, as the OOM killer would) for beta-VAE runs."""
    if json.loads((Path(run_dir) / "config.json").read_text())["config"]["objective"]["name"] == "beta":
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_evaluate(run_dir, metrics, quiet=quiet, data=data)


def write_sweep(tmp_path: Path, grid: Any = None, name: str = "tiny.yaml", **extra: Any) -> Path:
    """A sweep over the tiny config (base given as a config file next to the sweep file)."""
    (tmp_path / "tiny-base.yaml").write_text(yaml.safe_dump(TINY_BASE))
    sweep = {"base": "tiny-base.yaml",
             "grid": grid if grid is not None else {"objective.name": ["beta", "cmi"], "objective.gamma": [0.2, 0.4],
                                                    "train.seed": [0]},
             **extra}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def statuses(index: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in index["runs"]]


# ---------------------------------------------------------------- expansion


def test_expand_tiny_sweep(tmp_path: Path) -> None:
    runs = expand_sweep(write_sweep(tmp_path))
    assert len(runs) == 4
    assert [r.overrides for r in runs][:2] == [{"objective.name": "beta", "objective.gamma": 0.2, "train.seed": 0},
                                              {"objective.name": "beta", "objective.gamma": 0.4, "train.seed": 0}]
    for run in runs:
        assert run.run_id == run_id(run.config)
        assert run.config.objective.name == run.overrides["objective.name"]
        assert run.config.model.params["channels"] == 8  # from the base file


def test_grid_lists_are_unions_and_duplicates_are_dropped(tmp_path: Path) -> None:
    grid = [{"objective.name": ["beta"], "objective.gamma": [0.0]},
            {"objective.name": ["beta", "cmi"], "objective.gamma": [0.0, 0.3]}]  # beta at 0 twice
    sweep = load_sweep(write_sweep(tmp_path, grid=grid, set={"train.epochs": 1}))
    assert [r.describe() for r in sweep.runs] == [
        "objective.name=beta objective.gamma=0.0", "objective.name=beta objective.gamma=0.3",
        "objective.name=cmi objective.gamma=0.0", "objective.name=cmi objective.gamma=0.3"]
    assert sweep.duplicates == 1
    assert all(r.config.train.epochs == 1 for r in sweep.runs)


def test_command_line_set_changes_every_run_and_its_id(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    plain = expand_sweep(path)
    changed = expand_sweep(path, ["train.lr=0.005"])
    assert all(r.config.train.lr == 0.005 for r in changed)
    assert {r.run_id for r in plain}.isdisjoint(r.run_id for r in changed)


def test_python_sweep_file(tmp_path: Path) -> None:
    write_sweep(tmp_path)  # the base config file
    path = tmp_path / "sweep.py"
    path.write_text("SWEEP = {'base': 'tiny-base.yaml', 'grid': {'objective.gamma': [0.1 * k for k in range(1, 4)]},"
                    " 'evaluate': ['aolr']}\n")
    sweep = load_sweep(path)
    assert [round(r.config.objective.gamma, 6) for r in sweep.runs] == [0.1, 0.2, 0.3]
    assert sweep.metrics == ["aolr"] and sweep.evaluate


@pytest.mark.parametrize(("content", "message"), [
    ({"base": "tiny-base.yaml", "grid": {"objective.gamma": [0.1]}, "gird": 1}, "unknown key(s) gird"),
    ({"grid": {"objective.gamma": [0.1]}}, "base must name a preset"),
    ({"base": "no-such-preset"}, "base: no config file or preset named 'no-such-preset'"),
    ({"base": "tiny-base.yaml", "grid": {"objective.gamma": 0.1}}, "grid.objective.gamma must be a non-empty list"),
    ({"base": "tiny-base.yaml", "grid": {"gamma": [0.1]}}, "grid key 'gamma' must be section.key"),
    ({"base": "tiny-base.yaml", "set": {"optim.lr": 1}}, "set key 'optim.lr' must be section.key"),
    ({"base": "tiny-base.yaml", "grid": [{"objective.gamma": [0.1]}, {"objective.gamma": []}]},
     "grid[1].objective.gamma must be a non-empty list"),
    ({"base": "tiny-base.yaml", "set": {"objective.gamma": 0.1}, "grid": {"objective.gamma": [0.2]}},
     "objective.gamma are in both set and grid"),
    ({"base": "tiny-base.yaml", "grid": {"objective.gamma": [0.1, 1.5]}},
     "grid point objective.gamma=1.5: objective.gamma must be in [0, 1)"),
    ({"base": "tiny-base.yaml", "grid": {"train.lrate": [0.1]}}, "unknown key(s) train.lrate"),
    ({"base": "tiny-base.yaml", "evaluate": 3}, "evaluate must be [all], a list of metric names or false"),
])
def test_sweep_errors_name_the_file_and_key(tmp_path: Path, content: dict[str, Any], message: str) -> None:
    write_sweep(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_python_sweep_without_sweep_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("GRID = {}\n")
    with pytest.raises(ConfigError, match="must define SWEEP"):
        load_sweep(path)


@pytest.mark.parametrize("name", sorted(p.name for p in EXPERIMENTS.glob("*.yaml")))
def test_every_shipped_sweep_expands(name: str) -> None:
    path = EXPERIMENTS / name
    assert path.read_text().startswith("#"), "a sweep file opens with a comment: what it reproduces and its cost"
    sweep = load_sweep(path, NEEDS.get(name))
    assert sweep.runs and sweep.duplicates == 0
    assert len({r.config.train.seed for r in sweep.runs}) >= 3  # at least 3 seeds (a study point may add more)
    gamma0 = {r.config.objective.name for r in sweep.runs if r.config.objective.gamma == 0}
    if not name.startswith("study-"):  # the study sweeps compare at gamma > 0 only
        assert gamma0 == {"beta"}, "gamma 0 only for beta-VAE, as in the paper"
    # a study sweep may name the ELBO itself (objective elbo: the same loss as beta-VAE at gamma 0, Eqs. 2-3 and 5-6);
    # no other method at gamma 0
    assert gamma0 <= {"beta", "elbo"}


def test_shipped_sweeps_are_found() -> None:
    names = {p.name for p in EXPERIMENTS.glob("*.yaml")}
    assert {"paper-table4-mnist.yaml", "paper-table5-fashion.yaml", "paper-table1-dsae-timit.yaml",
            "cpu-fashion.yaml", "cpu-mnist.yaml", "cpu-dsae-synthetic.yaml"} <= names


def test_timit_sweep_says_how_to_give_the_data_root() -> None:
    with pytest.raises(ConfigError, match=r"--set data.root=/path/to/TIMIT"):
        load_sweep(EXPERIMENTS / "paper-table1-dsae-timit.yaml")


# ---------------------------------------------------------------- running


def test_local_sweep_trains_evaluates_and_a_rerun_skips_everything(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "sweep"
    lines: list[str] = []
    index = run_sweep(write_sweep(tmp_path), out, data_loader=tiny_data, evaluator=fake_evaluate, log=lines.append)
    assert statuses(index) == ["done"] * 4 and index["counts"] == {"done": 4}
    for entry in index["runs"]:
        run_dir = out / entry["run_dir"]
        assert (run_dir / "results.json").exists() and (run_dir / "eval.json").exists()
        saved = json.loads((run_dir / "config.json").read_text())["config"]
        assert run_id(load_config(saved)) == entry["run_id"] == run_dir.name
    assert json.loads((out / "sweep.json").read_text())["counts"] == {"done": 4}
    assert sum(line.startswith("[start") for line in lines) == 4
    assert sum(line.startswith("[finish") for line in lines) == 4

    calls: list[Any] = []
    monkeypatch.setattr(loop, "fit", lambda *a, **k: calls.append(a))
    again = run_sweep(write_sweep(tmp_path), out, data_loader=tiny_data,
                      evaluator=lambda *a, **k: calls.append(a), log=lines.append)
    assert calls == [] and statuses(again) == ["done"] * 4
    assert any("4 already finished, 0 to run" in line for line in lines)
    # the rerun keeps each run's training time from the first invocation's index (nothing written is lost)
    assert [e["seconds"] for e in again["runs"]] == [e["seconds"] for e in index["runs"]]
    assert all(e["seconds"] > 0 for e in again["runs"])


def test_only_runs_a_part_with_the_whole_sweeps_ids_and_the_rest_later(tmp_path: Path, monkeypatch) -> None:
    """``--only`` trains a part first; the whole sweep later finds those runs finished."""
    path, out = write_sweep(tmp_path), tmp_path / "sweep"
    whole = {r.run_id: r for r in expand_sweep(path)}
    part = load_sweep(path, only=["objective.gamma=0.4", "objective.name=[cmi, beta]"])
    assert part.left_out == 2 and [r.config.objective.gamma for r in part.runs] == [0.4, 0.4]
    assert {r.run_id for r in part.runs} <= set(whole)  # the same ids as the whole sweep
    lines: list[str] = []
    index = run_sweep(path, out, only=["objective.gamma=0.4"], data_loader=tiny_data, evaluator=fake_evaluate,
                      log=lines.append)
    assert index["sweep"]["only"] == {"objective.gamma": 0.4}
    # the index keeps the whole sweep, in file order: a partial invocation does not shrink it
    assert [e["run_id"] for e in index["runs"]] == list(whole)
    assert {e["overrides"]["objective.gamma"]: e["status"] for e in index["runs"]} == {0.4: "done", 0.2: "left out"}
    assert "2/2 done, 0 failed; 2 runs left out by --only (0 of them done)" in lines[-1]
    assert json.loads((out / "sweep.json").read_text())["total"] == 4
    calls: list[Any] = []
    real_fit = loop.fit
    monkeypatch.setattr(loop, "fit", lambda config, *a, **k: calls.append(config.objective.gamma) or
                        real_fit(config, *a, **k))
    rest = run_sweep(path, out, data_loader=tiny_data, evaluator=fake_evaluate, log=lambda line: None)
    assert statuses(rest) == ["done"] * 4 and calls == [0.2, 0.2]  # only the two left out are trained
    again = run_sweep(path, out, only=["objective.gamma=0.2"], data_loader=tiny_data, evaluator=fake_evaluate,
                      log=lines.append)
    assert statuses(again) == ["done"] * 4 and "(2 of them done)" in lines[-1]


@pytest.mark.parametrize("flag", ["--only", "--set"])
@pytest.mark.parametrize("value, why", [("[0, 1", "expected ',' or ']'"), ("&x [1, *x]", "refers to itself"),
                                        ("!!float x", "cannot be built"), ("'0", "found unexpected end of stream")])
def test_a_malformed_only_or_set_value_is_one_line_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                     flag: str, value: str, why: str) -> None:
    """``--only``/``--set`` values go through the helper ``cmivae train --set`` uses
    (:func:`cmivae.config.parse_override_value`): one line naming the flag, the item and the value, what was
    expected and how to fix it, exit 2, nothing created; plain ``yaml.safe_load`` gave a traceback or, for a
    self-referencing value, a filter that never matched."""
    path, out, item = write_sweep(tmp_path), tmp_path / "sweep", f"train.seed={value}"
    for extra in (["--dry-run"], ["--out", str(out)]):
        assert cli.main(["sweep", str(path), flag, item, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert f"{flag} {item!r}: the value {value!r}" in err and why in err, err
        assert "expected a YAML value" in err and f"e.g. {flag} '" in err, err
    assert not out.exists()
    if flag == "--set":  # the same line as `cmivae train --set` (one owner)
        assert cli.main(["show-config", "pixelcnn-cpu", "--set", item]) == 2
        assert f"error: --set {item!r}: the value {value!r}" in capsys.readouterr().err


def test_only_base_selects_the_runs_of_one_preset_of_a_base_axis(tmp_path: Path) -> None:
    longer = {**TINY_BASE, "train": {**TINY_BASE["train"], "epochs": 3}}
    (tmp_path / "other-base.yaml").write_text(yaml.safe_dump(longer))
    path = write_sweep(tmp_path, grid=[{"base": ["other-base.yaml"], "train.seed": [0, 1]}, {"train.seed": [0]}])
    assert [r.config.train.epochs for r in load_sweep(path, only=["base=other-base.yaml"]).runs] == [3, 3]
    kept = load_sweep(path, only=["base=tiny-base.yaml"])
    assert [r.config.train.epochs for r in kept.runs] == [TINY_BASE["train"]["epochs"]] and kept.left_out == 2
    both = load_sweep(path, only=["base=[tiny-base.yaml, other-base.yaml]", "train.seed=0"])
    assert len(both.runs) == 2 and len(both.all_runs) == 3
    with pytest.raises(ConfigError, match="matches none of its 3 runs"):
        load_sweep(path, only=["base=pixelcnn-mid"])


def test_threads_of_a_sweep_are_chosen_once_and_said(tmp_path: Path) -> None:
    path, lines = write_sweep(tmp_path, grid={"train.seed": [0]}), []
    before = torch.get_num_threads()
    try:
        run_sweep(path, tmp_path / "sweep", threads="2", data_loader=tiny_data, evaluator=fake_evaluate,
                  log=lines.append)
        assert torch.get_num_threads() == 2, "sequential: this process computes with them"
    finally:
        torch.set_num_threads(before)
    assert "sequentially in this process, 2 torch thread(s) (as asked)" in lines[0]
    with pytest.raises(ConfigError, match="--threads 'lots': expected a positive number"):
        run_sweep(path, tmp_path / "other", threads="lots", data_loader=tiny_data, log=lines.append)
    assert not (tmp_path / "other").exists(), "a bad --threads fails before the sweep directory is made"


@pytest.mark.parametrize("only, message", [
    (["gamma=0.4"], "expected SECTION.KEY=VALUE.*or base=PRESET"),
    (["base="], "expected SECTION.KEY=VALUE"),
    (["objective.nothing=1"], "no run of this sweep has that key"),
    (["objective.gamma=0.9"], "matches none of its 4 runs"),
])
def test_only_errors_say_what_to_give(tmp_path: Path, only: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_sweep(write_sweep(tmp_path), only=only)


def test_trained_but_unevaluated_run_is_only_evaluated(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "sweep"
    path = write_sweep(tmp_path, grid={"objective.gamma": [0.3]})
    assert statuses(run_sweep(path, out, data_loader=tiny_data, evaluate=False, log=lambda m: None)) == ["done"]
    run_dir = next((out / "runs").iterdir())
    assert not (run_dir / "eval.json").exists()
    monkeypatch.setattr(loop, "fit", lambda *a, **k: pytest.fail("fit must not run again"))
    index = run_sweep(path, out, data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    assert statuses(index) == ["done"] and (run_dir / "eval.json").exists()


def test_a_sweep_asking_for_more_metrics_evaluates_just_the_missing_ones(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "sweep"
    first = write_sweep(tmp_path, grid={"objective.gamma": [0.3]}, evaluate=["aolr"])
    index = run_sweep(first, out, data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    assert statuses(index) == ["done"]
    run_dir = next((out / "runs").iterdir())
    assert "mcas" not in json.loads((run_dir / "eval.json").read_text())

    asked: list[list[str]] = []

    def records_request(run_dir: Path, metrics: list[str] | None, **kwargs: Any) -> dict[str, float]:
        asked.append(list(metrics or []))
        return fake_evaluate(run_dir, metrics, **kwargs)

    monkeypatch.setattr(loop, "fit", lambda *a, **k: pytest.fail("fit must not run again"))
    more = write_sweep(tmp_path, grid={"objective.gamma": [0.3]}, evaluate=["aolr", "mcas"])
    assert next((out / "runs").iterdir()).name == run_dir.name  # evaluate is not part of the run id
    assert statuses(run_sweep(more, out, data_loader=tiny_data, evaluator=records_request,
                              log=lambda m: None)) == ["done"]
    assert asked == [["mcas"]]
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert {"aolr", "mcas"} <= evaluation.keys()

    everything = write_sweep(tmp_path, grid={"objective.gamma": [0.3]})  # evaluate: all (image metrics)
    run_sweep(everything, out, data_loader=tiny_data, evaluator=records_request, log=lambda m: None)
    assert asked[-1] == [name for name in IMAGE_METRICS if name not in ("aolr", "mcas")]
    asked.clear()
    run_sweep(everything, out, data_loader=tiny_data, evaluator=records_request, log=lambda m: None)
    assert asked == []  # now complete: skipped


def test_interrupted_run_is_resumed_from_its_checkpoint(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "sweep"
    path = write_sweep(tmp_path, grid={"objective.gamma": [0.3]})
    real_step = loop.train_step

    def dies_in_epoch_two(trainer: Any, x: torch.Tensor, step: int) -> Any:
        if step == 6:  # 4 batches per epoch: last.pt holds the end of epoch 1
            raise RuntimeError("simulated kill in epoch 2")
        return real_step(trainer, x, step)

    monkeypatch.setattr(loop, "train_step", dies_in_epoch_two)
    index = run_sweep(path, out, data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    run_dir = out / index["runs"][0]["run_dir"]
    assert statuses(index) == ["failed"] and index["runs"][0]["stage"] == "train"
    error = json.loads((run_dir / "sweep_error.json").read_text())
    assert "simulated kill" in error["error"] and "Traceback" in error["traceback"]
    assert (run_dir / "checkpoints" / "last.pt").exists() and not (run_dir / "results.json").exists()

    monkeypatch.setattr(loop, "train_step", real_step)
    lines: list[str] = []
    index = run_sweep(path, out, data_loader=tiny_data, evaluator=fake_evaluate, log=lines.append)
    assert statuses(index) == ["done"] and not (run_dir / "sweep_error.json").exists()
    assert "resuming from" in (run_dir / "train.log").read_text()
    assert any("(resuming)" in line for line in lines)
    assert json.loads((run_dir / "results.json").read_text())["steps"] == 8


def test_failed_run_is_recorded_the_rest_complete_and_a_rerun_retries_it(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "sweep"
    path = write_sweep(tmp_path)
    real_step = loop.train_step

    def fails_for_gamma_02(trainer: Any, x: torch.Tensor, step: int) -> Any:
        if abs(trainer.config.objective.gamma - 0.2) < 1e-9:
            raise ValueError("simulated failure for gamma 0.2")
        return real_step(trainer, x, step)

    monkeypatch.setattr(loop, "train_step", fails_for_gamma_02)
    index = run_sweep(path, out, data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    by_gamma = {e["overrides"]["objective.gamma"]: [] for e in index["runs"]}
    for entry in index["runs"]:
        by_gamma[entry["overrides"]["objective.gamma"]].append(entry)
    assert [e["status"] for e in by_gamma[0.2]] == ["failed", "failed"]
    assert [e["status"] for e in by_gamma[0.4]] == ["done", "done"]
    assert "simulated failure" in by_gamma[0.2][0]["error"] and by_gamma[0.2][0]["stage"] == "train"
    assert (out / by_gamma[0.2][0]["run_dir"] / "sweep_error.json").exists()
    assert json.loads((out / "sweep.json").read_text())["counts"] == {"done": 2, "failed": 2}

    monkeypatch.setattr(loop, "train_step", real_step)
    index = run_sweep(path, out, data_loader=tiny_data, evaluator=fake_evaluate, log=lambda m: None)
    assert statuses(index) == ["done"] * 4


@pytest.mark.slow
def test_two_local_processes_and_a_killed_worker(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    path = write_sweep(tmp_path, grid={"objective.name": ["beta", "cmi"], "objective.gamma": [0.3]},
                       evaluate=["aolr", "mcas"])
    index = run_sweep(path, out, jobs=2, data_loader=tiny_data, evaluator=evaluate_or_die_for_beta,
                      log=lambda m: None)
    killed, done = index["runs"]
    assert killed["status"] == "failed" and "exited with code -9" in killed["error"]
    assert (out / killed["run_dir"] / "sweep_error.json").exists()
    assert (out / killed["run_dir"] / "results.json").exists()  # trained before the kill: only evaluation is left
    assert done["status"] == "done"
    evaluation = json.loads((out / done["run_dir"] / "eval.json").read_text())
    assert evaluation["threads"] == max(1, (os.cpu_count() or 1) // 2)
    assert evaluation["metrics_requested"] == 2


@pytest.mark.slow
def test_ray_executor(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    out = tmp_path / "sweep"
    path = write_sweep(tmp_path, grid={"objective.name": ["beta", "cmi"], "objective.gamma": [0.3]})
    # workers import this test module (for tiny_data and fake_evaluate) from the same paths
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    try:
        index = run_sweep(path, out, executor="ray", jobs=2, data_loader=tiny_data, evaluator=fake_evaluate,
                          log=lambda m: None)
    finally:
        ray.shutdown()
    assert statuses(index) == ["done", "done"]
    assert all((out / e["run_dir"] / "eval.json").exists() for e in index["runs"])


def test_ray_missing_gives_install_hint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'cmivae\[ray\]'"):
        run_sweep(write_sweep(tmp_path), tmp_path / "sweep", executor="ray", data_loader=tiny_data,
                  evaluator=fake_evaluate, log=lambda m: None)


def test_bad_executor_and_jobs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):
        run_sweep(write_sweep(tmp_path), tmp_path / "s", executor="slurm")
    with pytest.raises(ConfigError, match="--jobs must be at least 1"):
        run_sweep(write_sweep(tmp_path), tmp_path / "s", jobs=0)


# ---------------------------------------------------------------- command line


def test_cli_dry_run_lists_runs_and_their_state(tmp_path: Path, monkeypatch, capsys) -> None:
    path = write_sweep(tmp_path)
    assert cli.main(["sweep", str(path), "--dry-run"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "4 runs" in listed[0] and len(listed) == 5
    runs = expand_sweep(path)
    assert [line.split()[0] for line in listed[1:]] == [r.run_id for r in runs]

    run_sweep(write_sweep(tmp_path, grid={"objective.name": ["beta"], "objective.gamma": [0.2], "train.seed": [0]},
                          name="one.yaml"), tmp_path / "out", data_loader=tiny_data, evaluator=fake_evaluate,
              log=lambda m: None)
    assert cli.main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in listed[1:5]] == ["done", "new", "new", "new"]
    assert listed[5].startswith(f"note: {tmp_path / 'out'}: its sweep.json is of sweep file")  # one.yaml's directory

    assert cli.main(["sweep", str(path), "--dry-run", "--set", "train.lr=0.01"]) == 0
    assert cli.main(["sweep", str(path), "--dry-run", "--set", "train.lr=-1"]) == 2
    assert "train.lr must be a positive number" in capsys.readouterr().err
    assert cli.main(["sweep", str(path)]) == 2  # --out missing
    assert cli.main(["sweep-status", str(tmp_path / "out")]) == 0
    assert "1 done" in capsys.readouterr().out


def test_a_metric_the_split_cannot_support_fails_before_training(tmp_path: Path) -> None:
    # the real evaluator's AoLR needs 100 training images of every class; the tiny split has ~32
    out = tmp_path / "sweep"
    index = run_sweep(write_sweep(tmp_path, grid={"objective.name": ["beta"], "train.seed": [0]}), out,
                      data_loader=tiny_data)
    [entry] = index["runs"]
    assert entry["status"] == "failed" and entry["stage"] == "preflight"
    assert "need 100 training images of every class" in entry["error"] and "data.num_train" in entry["error"]
    run_dir = out / entry["run_dir"]
    assert not (run_dir / "results.json").exists() and not list(run_dir.glob("*.pt"))  # no training time spent
    assert json.loads((run_dir / "sweep_error.json").read_text())["stage"] == "preflight"
