"""``cmivae evaluate`` checks before any work (the old eval.json, whether every requested metric
can be computed for the run) and keeps what it computed when a later metric fails."""

from __future__ import annotations

import json

import pytest

from cmivae import cli
from cmivae.infra.errors import ConfigError, DataError
from cmivae.metrics import evaluate
from cmivae.metrics.preflight import check_image_metrics
from cmivae.training.loop import fit
from tests.helpers import tiny_config, tiny_images


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("preflight") / "run"
    fit(tiny_config(epochs=1), run, progress=False, data=tiny_images())
    return run


@pytest.fixture()
def fresh_run(tiny_run, tmp_path, monkeypatch):
    """A copy of the tiny run without eval.json, the data loader returning the tiny images."""
    import shutil

    import cmivae.data.registry

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "eval.json").unlink(missing_ok=True)
    monkeypatch.setattr(cmivae.data.registry, "load_dataset", lambda config: tiny_images())
    monkeypatch.setattr(evaluate, "MI_STEPS", 20)
    return run


def test_preflight_names_the_config_key_before_any_work(fresh_run, capsys, monkeypatch) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("a metric was computed before the preflight failed")

    monkeypatch.setattr(evaluate, "objective_means", no_work)
    assert cli.main(["evaluate", str(fresh_run), "--metrics", "elbo", "aolr", "mcas"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: aolr needs 100 training images of every class") and err.count("\n") == 1, err
    assert "data.num_train=" in err and "--metrics elbo mcas" in err
    assert not (fresh_run / "eval.json").exists()


def test_preflight_passes_when_every_class_has_enough() -> None:
    import numpy as np

    check_image_metrics(["aolr", "mcas"], np.repeat(np.arange(10), 100), None)
    with pytest.raises(ConfigError, match=r"retrain with --set data.num_train=1500 or more"):
        check_image_metrics(["aosvm"], np.repeat(np.arange(10), 90), 900)


def test_a_late_failure_keeps_the_metrics_already_computed(fresh_run, monkeypatch) -> None:
    import cmivae.sampling

    def broken(*args, **kwargs):
        raise RuntimeError("sampler failed")

    monkeypatch.setattr(cmivae.sampling, "decode_samples", broken)
    with pytest.raises(RuntimeError, match="sampler failed"):
        evaluate.evaluate_run(fresh_run, ["elbo", "mi_zs", "baseline", "mcas"], quiet=True)
    saved = json.loads((fresh_run / "eval.json").read_text())
    assert {"elbo", "recon", "kl_z", "mi_zs"} <= set(saved) and "mcas" not in saved


def test_a_damaged_eval_json_is_refused_before_any_work(fresh_run, capsys, monkeypatch) -> None:
    (fresh_run / "eval.json").write_text('{"elbo": -3.0, "aolr": ')
    monkeypatch.setattr(evaluate, "open_trained", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(DataError, match="eval.json is damaged"):
        evaluate.evaluate_run(fresh_run, quiet=True)
    assert cli.main(["evaluate", str(fresh_run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "move it away" in err
    (fresh_run / "eval.json").write_text('["not", "an", "object"]')
    with pytest.raises(DataError, match="not an object"):
        evaluate.evaluate_run(fresh_run, quiet=True)


def test_evaluate_prints_keys_in_a_fixed_order_with_the_time_apart(fresh_run, capsys) -> None:
    assert cli.main(["evaluate", str(fresh_run), "--metrics", "mi_zs", "elbo"]) == 0
    out = capsys.readouterr().out
    assert "estimating I(z;s)" in out and "I(z;s) critic: 20/20 steps (100%)" in out
    skip = ("[", "wrote", "(", "torch threads:")
    table = [line.split()[0] for line in out.splitlines() if line and not line.startswith(skip)]
    keys = table[1:]
    assert keys == ["elbo", "recon", "kl_z", "mi_zs"], out
    assert "eval_seconds" not in out and "(this evaluation took" in out
