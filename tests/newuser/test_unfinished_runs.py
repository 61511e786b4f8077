"""Issue 31 item 3: an interrupted run (no results.json) is evaluated and sampled with a warning
saying it is unfinished and what it trained, and eval.json records it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cmivae import cli
from cmivae.metrics import evaluate
from cmivae.training.loop import fit
from tests.helpers import tiny_config, tiny_images


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("unfinished") / "run"
    fit(tiny_config(epochs=1), run, progress=False, data=tiny_images())
    return run


@pytest.fixture()
def interrupted(trained: Path, tmp_path: Path, monkeypatch) -> Path:
    """The run as Ctrl-C after epoch 1 of 4 leaves it: best.pt and metrics.jsonl, no results.json."""
    import cmivae.data.registry

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "results.json").unlink()
    saved = json.loads((run / "config.json").read_text())
    saved["config"]["train"]["epochs"] = 4
    (run / "config.json").write_text(json.dumps(saved))
    monkeypatch.setattr(cmivae.data.registry, "load_dataset", lambda config: tiny_images())
    monkeypatch.setattr(evaluate, "MI_STEPS", 5)
    return run


def test_evaluate_says_the_run_is_unfinished_and_eval_json_records_it(interrupted: Path, capsys) -> None:
    assert cli.main(["evaluate", str(interrupted), "--metrics", "elbo", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {interrupted} is unfinished (no results.json" in err, err
    assert "it trained 1 of 4 epochs" in err
    assert json.loads((interrupted / "eval.json").read_text())["unfinished"] is True


def test_sample_says_the_run_is_unfinished(interrupted: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "grid.png"
    assert cli.main(["sample", str(interrupted), "--rows", "2", "--num-samples", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {interrupted} is unfinished" in err and "1 of 4 epochs" in err, err
    assert out.exists()


def test_a_finished_run_gets_no_warning(trained: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import cmivae.data.registry

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    monkeypatch.setattr(cmivae.data.registry, "load_dataset", lambda config: tiny_images())
    assert cli.main(["evaluate", str(run), "--metrics", "elbo", "--quiet"]) == 0
    assert "unfinished" not in capsys.readouterr().err
    assert json.loads((run / "eval.json").read_text())["unfinished"] is False
