"""``cmivae compare``: one column per run (two seeds of one config are two columns), the
direction of each metric, no all-zero KL(s) row for image models, a computed summary sentence."""

from __future__ import annotations

import json
from pathlib import Path

from cmivae import cli
from cmivae.reports.compare import compare_runs, read_columns


def write_run(path: Path, method: str, gamma: float, seed: int, values: dict[str, float],
              dataset: str = "fashion-mnist", **train: int) -> Path:
    path.mkdir(parents=True)
    config = {"data": {"name": dataset, "num_train": 6000}, "model": {"name": "pixelcnn_vae"},
              "objective": {"name": method, "gamma": gamma}, "train": {"seed": seed, "epochs": 8, **train}}
    (path / "config.json").write_text(json.dumps({"config": config}))
    (path / "results.json").write_text(json.dumps({k: v for k, v in values.items() if k in
                                                   ("elbo", "recon", "kl_z", "kl_s")}))
    (path / "eval.json").write_text(json.dumps(values))
    return path


IMAGE = {"elbo": -90.0, "recon": 80.0, "kl_z": 10.0, "kl_s": 0.0, "aolr": 0.6, "mcas": 0.5, "mi_zs": 2.0}


def test_two_seeds_of_one_config_are_two_columns(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", "beta", 0.3, 0, IMAGE)
    b = write_run(tmp_path / "b", "beta", 0.3, 1, {**IMAGE, "aolr": 0.7})
    assert cli.main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "beta g=0.3 seed=0" in header and "beta g=0.3 seed=1" in header
    aolr = next(line for line in out.splitlines() if line.startswith("aolr"))
    assert "0.6" in aolr and "0.7" in aolr, aolr


def test_identical_configs_and_repeated_directories_still_get_their_own_column(tmp_path: Path) -> None:
    a = write_run(tmp_path / "x" / "run", "cmi", 0.5, 0, IMAGE)
    b = write_run(tmp_path / "y" / "run2", "cmi", 0.5, 0, IMAGE)
    labels = [c.label for c in read_columns([a, b, a])]
    assert len(set(labels)) == 3, labels


def test_differing_budget_keys_name_the_columns(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", "beta", 0.3, 0, IMAGE, epochs=8)
    b = write_run(tmp_path / "b", "beta", 0.3, 0, IMAGE, epochs=2)
    assert [c.label for c in read_columns([a, b])] == ["beta g=0.3 epochs=8", "beta g=0.3 epochs=2"]


def test_table_states_directions_drops_image_kl_s_and_ends_with_a_computed_sentence(tmp_path: Path) -> None:
    beta = write_run(tmp_path / "beta", "beta", 0.5, 0, IMAGE)
    cmi = write_run(tmp_path / "cmi", "cmi", 0.5, 0, {**IMAGE, "aolr": 0.65, "mcas": 0.45, "kl_z": 10.5})
    text = compare_runs([beta, cmi], ["beta-VAE", "CMI-VAE"])
    lines = text.splitlines()
    assert not any(line.startswith("kl_s") for line in lines), "image models have no KL(s) term"
    assert "higher is better" in next(line for line in lines if line.startswith("aolr"))
    assert "lower is better" in next(line for line in lines if line.startswith("mi_zs"))
    assert "neither: nats of information in z" in next(line for line in lines if line.startswith("kl_z"))
    sentence = lines[-1]
    assert sentence.startswith("CMI-VAE is level with beta-VAE"), sentence
    assert "better on 1 and worse on 1 of 2 metrics" in sentence and "AoLR 0.65 vs 0.6" in sentence
    # The sentence follows the numbers.
    better = write_run(tmp_path / "cmi2", "cmi", 0.5, 0, {**IMAGE, "aolr": 0.65, "mcas": 0.55})
    assert compare_runs([beta, better], ["beta-VAE", "CMI-VAE"]).splitlines()[-1].startswith(
        "CMI-VAE is better than beta-VAE")


def test_speech_runs_keep_kl_s(tmp_path: Path) -> None:
    values = {"elbo": 100.0, "recon": -150.0, "kl_z": 20.0, "kl_s": 30.0, "eer_z": 10.0, "eer_s": 30.0}
    a = write_run(tmp_path / "a", "beta", 0.4, 0, values, dataset="synthetic-speech")
    b = write_run(tmp_path / "b", "cmi", 0.4, 0, {**values, "eer_z": 8.0}, dataset="synthetic-speech")
    text = compare_runs([a, b])
    assert any(line.startswith("kl_s") for line in text.splitlines())
    assert "EER(z) 8 vs 10" in text.splitlines()[-1] and "at KL(z) 20 vs 20 nats" in text.splitlines()[-1]


def test_not_a_run_directory_is_one_error_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["compare", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
