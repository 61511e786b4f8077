"""study/scripts/matched_by_seed.py: each seed read on the β-VAE curve at its own KL(z), collapsed seeds
apart (the tenth-session reading of study/FINDINGS.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from study.scripts import matched_by_seed


def _run(root: Path, name: str, method: str, gamma: float, seed: int, kl_z: float, aolr: float) -> None:
    run = root / "runs" / name
    run.mkdir(parents=True)
    config = {"data": {"name": "fashion-mnist"}, "model": {"name": "pixelcnn_vae"},
              "objective": {"name": method, "gamma": gamma}, "train": {"seed": seed}}
    (run / "config.json").write_text(json.dumps({"config": config}))
    (run / "results.json").write_text(json.dumps({"kl_z": kl_z}))
    (run / "eval.json").write_text(json.dumps({"aolr": aolr, "kl_z": kl_z}))


def test_each_seed_is_read_at_its_own_kl_and_collapsed_seeds_are_left_out(tmp_path: Path, capsys) -> None:
    # beta-VAE curve: (10, 0.70) and (30, 0.74), one point per gamma with two seeds each
    _run(tmp_path, "b5a", "beta", 0.5, 0, 9.0, 0.69)
    _run(tmp_path, "b5b", "beta", 0.5, 1, 11.0, 0.71)
    _run(tmp_path, "b9a", "beta", 0.9, 0, 29.0, 0.73)
    _run(tmp_path, "b9b", "beta", 0.9, 1, 31.0, 0.75)
    _run(tmp_path, "c0", "cmi", 0.9, 0, 15.0, 0.72)  # curve at 15: 0.71 -> +0.01
    _run(tmp_path, "c1", "cmi", 0.9, 1, 25.0, 0.76)  # curve at 25: 0.73 -> +0.03
    _run(tmp_path, "c2", "cmi", 0.9, 2, 0.1, 0.10)   # collapsed: not averaged
    _run(tmp_path, "c3", "cmi", 0.9, 3, 40.0, 0.70)  # beyond the curve: not averaged
    [result] = matched_by_seed.by_seed([tmp_path], "cmi", 0.9, ["aolr"], collapsed_below=1.0)
    states = {s["seed"]: s["state"] for s in result["seeds"]}
    assert states == {0: "read", 1: "read", 2: "collapsed", 3: "outside"}
    mean, se, n = result["summary"]["aolr"]
    assert n == 2 and math.isclose(mean, 0.02, abs_tol=1e-9)
    # SE: seed spread of (+0.01, +0.03) = 0.01, curve SE at KL 20 = 0.01 (both ends' SE is 0.01)
    assert math.isclose(se, math.hypot(0.01, 0.01), rel_tol=1e-6)
    assert matched_by_seed.main([str(tmp_path), "--gamma", "0.9", "--metrics", "aolr"]) == 0
    out = capsys.readouterr().out
    assert "4 seeds, 1 collapsed" in out and "| 2 | c2 | 0.10 | collapsed | – |" in out
    assert "| mean ± SE | 2 read | | | +0.0200 ± 0.0141 |" in out


def test_no_run_of_the_method_is_an_error(tmp_path: Path, capsys) -> None:
    _run(tmp_path, "b5a", "beta", 0.5, 0, 9.0, 0.69)
    assert matched_by_seed.main([str(tmp_path), "--gamma", "0.9"]) == 1
    assert "no evaluated run of method 'cmi'" in capsys.readouterr().err
    assert matched_by_seed.main([str(tmp_path / "missing"), "--gamma", "0.9"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_all_methods_is_one_row_per_variant_and_gamma(tmp_path: Path, capsys) -> None:
    _run(tmp_path, "b5a", "beta", 0.5, 0, 9.0, 0.69)
    _run(tmp_path, "b9a", "beta", 0.9, 0, 29.0, 0.73)
    _run(tmp_path, "c0", "cmi", 0.9, 0, 15.0, 0.72)  # curve at 15: 0.702 -> +0.018
    _run(tmp_path, "c1", "cmi", 0.5, 0, 0.2, 0.30)   # collapsed
    _run(tmp_path, "m0", "mws", 0.9, 0, 25.0, 0.70)  # curve at 25: 0.722 -> -0.022
    assert matched_by_seed.variants([tmp_path]) == [("cmi", 0.9), ("cmi", 0.5), ("mws", 0.9)]
    assert matched_by_seed.main([str(tmp_path), "--method", "all", "--metrics", "aolr"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| method | γ |") and len(out) == 5
    assert out[2].startswith("| cmi | 0.9 | fashion-mnist, pixelcnn_vae | 1 / 0 / 0 | 15.0 | +0.0180 ± ")
    assert out[3].startswith("| cmi | 0.5 | fashion-mnist, pixelcnn_vae | 0 / 1 / 0 | – | –")
    assert out[4].startswith("| mws | 0.9 | fashion-mnist, pixelcnn_vae | 1 / 0 / 0 | 25.0 | -0.0220 ± ")
    assert matched_by_seed.main([str(tmp_path), "--method", "all", "--gamma", "0.5", "--metrics", "aolr"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
