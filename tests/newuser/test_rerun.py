"""What ``make demo`` run twice relies on: ``train --reuse-finished`` reuses a finished run of
the same config (and still refuses another config), ``evaluate --missing`` computes only what
eval.json lacks."""

from __future__ import annotations

import json

from cmivae import cli
from tests.cli.test_cli import TINY


def test_a_finished_run_is_reused_and_only_missing_metrics_are_computed(tmp_path, fashion_mnist_dir,
                                                                        capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "pixelcnn-cpu", "--out", str(out), "--no-progress", "--reuse-finished",
            "--set", f"data.data_dir={fashion_mnist_dir}", *TINY]
    assert cli.main(args) == 0
    first = capsys.readouterr()
    assert "train: " in first.err and "ETA" in first.err, "a progress line when the bar is off"
    config = json.loads((out / "config.json").read_text())
    assert config["torch_threads"] >= 1 and "torch_threads" not in json.dumps(config["config"])
    mtime = (out / "results.json").stat().st_mtime_ns
    assert cli.main(args) == 0
    assert "reusing it" in capsys.readouterr().out
    assert (out / "results.json").stat().st_mtime_ns == mtime, "not trained again"
    assert cli.main([*args, "--set", "train.lr=0.5"]) == 2, "another config is still refused"
    assert "holds a different config" in capsys.readouterr().err

    assert cli.main(["evaluate", str(out), "--metrics", "elbo", "--missing"]) == 0
    assert "wrote" in capsys.readouterr().out
    saved = (out / "eval.json").read_text()
    assert cli.main(["evaluate", str(out), "--metrics", "elbo", "--missing"]) == 0
    assert "nothing to compute" in capsys.readouterr().out
    assert (out / "eval.json").read_text() == saved
