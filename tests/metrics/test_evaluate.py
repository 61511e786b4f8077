"""``evaluate_run`` on a real (tiny) image run writes eval.json with every key and a sample grid."""

import json

import pytest

from cmivae.config import load_config
from cmivae.infra.errors import ConfigError
from cmivae.metrics import evaluate
from cmivae.training.loop import fit

IMAGE_KEYS = {"elbo", "recon", "kl_z", "mi_zs", "aolr", "aosvm", "mcas", "mcas_svm", "baseline"}


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, fashion_mnist_dir):
    run = tmp_path_factory.mktemp("eval") / "run"
    config = load_config("pixelcnn-cpu", [
        f"data.data_dir={fashion_mnist_dir}", "data.num_train=1500", "data.num_test=300", "train.epochs=1",
        "model.kernel_sizes=[5,3]", "model.channels=8", "model.inject_after=1", "objective.critic_hidden_dim=8",
        "train.batch_size=100"])
    fit(config, run, progress=False)
    return run


def test_eval_json_has_every_image_key(image_run, monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "MI_STEPS", 50)  # the estimator itself is tested in test_mutual_information
    results = evaluate.evaluate_run(image_run, quiet=True)
    saved = json.loads((image_run / "eval.json").read_text())
    assert IMAGE_KEYS <= set(saved) and saved == results
    for key in ("aolr", "aosvm", "mcas", "mcas_svm", "baseline"):
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["baseline"] > 0.3, "100 real images already classify far above chance"
    assert saved["elbo"] == pytest.approx(-(saved["recon"] + saved["kl_z"]), rel=1e-4)
    assert (image_run / "samples.png").stat().st_size > 1000


def test_metrics_can_be_added_one_at_a_time_and_unknown_ones_are_named(image_run) -> None:
    evaluate.evaluate_run(image_run, ["aolr"], quiet=True)
    assert "aolr" in json.loads((image_run / "eval.json").read_text())
    with pytest.raises(ConfigError, match="unknown metric.*eer_zz"):
        evaluate.evaluate_run(image_run, ["eer_zz"], quiet=True)
    with pytest.raises(ConfigError, match="eer_z needs speaker labels"):
        evaluate.evaluate_run(image_run, ["eer_z"], quiet=True)


def test_not_a_run_directory(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not a run directory"):
        evaluate.evaluate_run(tmp_path, quiet=True)


def test_probe_protocols_are_recorded_and_raw_keys_keep_their_values(image_run) -> None:
    before = evaluate.evaluate_run(image_run, ["aolr", "baseline"], quiet=True)
    after = evaluate.evaluate_run(image_run, ["aolr", "aolr_std", "aolr_c100", "baseline_std"], quiet=True)
    saved = json.loads((image_run / "eval.json").read_text())
    assert after["aolr"] == before["aolr"], "the raw protocol does not depend on what else is requested"
    protocols = saved["probe_protocols"]
    assert protocols["aolr"]["scaling"] == "raw" and protocols["aolr"]["C"] == 1.0
    assert protocols["aolr_std"]["scaling"] == "standardized"
    assert protocols["aolr_c100"] == {"probe": "aolr", "features": "z_mean", "classifier": "logistic",
                                      "scaling": "raw", "C": 100.0}
    assert protocols["baseline"]["features"] == "real" and protocols["baseline_std"]["scaling"] == "standardized"
    for key in ("aolr_std", "aolr_c100", "baseline_std"):
        assert 0.0 <= saved[key] <= 1.0


def test_cross_validated_knn_and_s_probes_record_their_choice(image_run) -> None:
    """The _cv probes land in eval.json with what cross-validation chose; the committed names keep
    their values whatever else is requested (one test, several protocols: one tiny run)."""
    before = evaluate.evaluate_run(image_run, ["aolr", "aosvm"], quiet=True)
    wanted = ["aolr", "aosvm", "aolr_cv", "aosvm_white_cv", "aoknn_cv", "s_aolr_cv", "aolr_cv_all"]
    after = evaluate.evaluate_run(image_run, wanted, quiet=True)
    saved = json.loads((image_run / "eval.json").read_text())
    assert (after["aolr"], after["aosvm"]) == (before["aolr"], before["aosvm"])
    protocols = saved["probe_protocols"]
    assert protocols["aolr"] == {"probe": "aolr", "features": "z_mean", "classifier": "logistic", "scaling": "raw",
                                 "C": 1.0}
    assert protocols["aolr_cv"]["selection"] == "cv" and set(protocols["aolr_cv"]["chosen"]) == {"C"}
    assert set(protocols["aosvm_white_cv"]["chosen"]) == {"C", "gamma_scale"}
    assert protocols["aosvm_white_cv"]["scaling"] == "whitened"
    assert set(protocols["aoknn_cv"]["chosen"]) == {"k"} and protocols["aoknn_cv"]["train_examples"] == 1000
    assert protocols["s_aolr_cv"]["features"] == "s_pooled"
    assert protocols["aolr_cv_all"]["train_examples"] == 1500 and protocols["aolr_cv_all"]["labels"] == "all"
    assert protocols["aolr_cv_all"]["blas_threads"] == 1  # above ONE_BLAS_THREAD_ABOVE labels: one BLAS thread
    for key in wanted:
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["s_aolr_cv"] > 0.2, "pooled feature maps of the image carry class information above chance"


def test_mi_zs_from_other_pair_counts_and_no_bound_where_uncalibrated(image_run, monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "MI_STEPS", 20)  # not the calibrated settings: no bound is recorded
    saved = evaluate.evaluate_run(image_run, ["mi_zs_n400"], quiet=True)
    assert "mi_zs_n400" in saved and "mi_zs_n400_bound" not in saved
    assert json.loads((image_run / "eval.json").read_text())["mi_zs_n400"] == saved["mi_zs_n400"]
