"""study/scripts/paired_runs.py: runs of two settings are paired by configuration and seed, and the
per-seed differences averaged (the precision check of study/FINDINGS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.scripts import paired_runs


def _run(root: Path, name: str, method: str, gamma: float, seed: int, kl_z: float, aolr: float,
         precision: str = "auto", channels: int = 32) -> None:
    run = root / "runs" / name
    run.mkdir(parents=True)
    config = {"data": {"name": "fashion-mnist"}, "model": {"name": "pixelcnn_vae", "channels": channels},
              "objective": {"name": method, "gamma": gamma}, "train": {"seed": seed, "precision": precision}}
    (run / "config.json").write_text(json.dumps({"config": config}))
    (run / "results.json").write_text(json.dumps({"kl_z": kl_z}))
    (run / "eval.json").write_text(json.dumps({"aolr": aolr}))


def test_pairs_by_configuration_and_seed_and_averages_the_differences(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for seed, (kl, acc) in enumerate([(50.0, 0.75), (54.0, 0.74), (52.0, 0.76)]):
        _run(a, f"a{seed}", "beta", 0.9, seed, kl, acc)
    _run(a, "other", "cmi", 0.9, 0, 40.0, 0.7)  # no partner in B: left out
    _run(b, "b0", "beta", 0.9, 0, 51.0, 0.75, "fp32")
    _run(b, "b1", "beta", 0.9, 1, 57.0, 0.74, "fp32")
    assert paired_runs.main([str(a), str(b), "--metrics", "kl_z", "aolr"]) == 0
    out = capsys.readouterr().out
    # seeds 0 and 1: differences +1 and +3 -> +2.0 ± 1.0 (std 1.414 / sqrt 2)
    assert "| fashion-mnist pixelcnn_vae beta γ 0.9 | kl_z | 2 | 52.0000 | 54.0000 | +2.0000 ± 1.0000 |" in out
    assert "| fashion-mnist pixelcnn_vae beta γ 0.9 | aolr | 2 | 0.7450 | 0.7450 | +0.0000 ± 0.0000 |" in out
    assert "cmi" not in out


def test_no_partner_is_an_error(tmp_path: Path, capsys) -> None:
    _run(tmp_path / "a", "a0", "beta", 0.9, 0, 50.0, 0.75)
    _run(tmp_path / "b", "b0", "beta", 0.5, 0, 10.0, 0.74)
    assert paired_runs.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert "no run of" in capsys.readouterr().err


def test_two_runs_of_one_key_are_an_error_unless_only_picks_one(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "small", "beta", 0.9, 0, 50.0, 0.75, channels=32)
    _run(a, "wide", "beta", 0.9, 0, 70.0, 0.74, channels=64)  # another preset in the same sweep
    _run(b, "b0", "beta", 0.9, 0, 60.0, 0.73, channels=64)
    with pytest.raises(SystemExit, match=r"holds two runs of fashion-mnist pixelcnn_vae beta γ 0.9 seed 0 "
                                         r"\((small and wide|wide and small)\).*--only"):
        paired_runs.main([str(a), str(b), "--metrics", "kl_z"])
    assert paired_runs.main([str(a), str(b), "--metrics", "kl_z", "--only", "model.channels=64"]) == 0
    assert "| kl_z | 1 | 70.0000 | 60.0000 | -10.0000 ± nan |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--only takes SECTION.KEY=VALUE"):
        paired_runs.main([str(a), str(b), "--only", "channels"])
