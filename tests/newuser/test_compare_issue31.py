"""Issue 31 items 2, 3, 4, 14: ``cmivae compare`` never ranks runs of different data sets or
model families together, labels different budgets, marks an unfinished run, names a damaged
eval.json, refuses a wrong number of ``--labels``, and names no "highest" for ties or the same
run given twice."""

from __future__ import annotations

import json
from pathlib import Path

from cmivae import cli
from cmivae.reports.compare import compare_runs
from tests.reports.test_compare import IMAGE, write_run

SPEECH = {"elbo": 100.0, "recon": -150.0, "kl_z": 20.0, "kl_s": 30.0}


def test_image_and_speech_runs_are_never_ranked_together(tmp_path: Path) -> None:
    image = write_run(tmp_path / "image", "beta", 0.3, 0, {"elbo": -90.0, "kl_z": 10.0})
    short = write_run(tmp_path / "short", "beta", 0.5, 0, {"elbo": -95.0, "kl_z": 8.0}, epochs=2)
    speech = write_run(tmp_path / "speech", "cmi", 0.4, 0, SPEECH, dataset="synthetic-speech")
    config = json.loads((speech / "config.json").read_text())
    config["config"]["model"]["name"] = "dsae"
    (speech / "config.json").write_text(json.dumps(config))
    text = compare_runs([image, short, speech])
    assert "2 data sets or model families" in text and "different scales" in text, text
    tables = text.split("\n\n")
    image_table = next(t for t in tables if t.startswith("fashion-mnist / PixelCNN-VAE:"))
    speech_table = next(t for t in tables if t.startswith("synthetic-speech / DSAE:"))
    assert "cmi g=0.4" not in image_table and "beta g=0.3" not in speech_table
    assert "has the highest test ELBO" in image_table and "beta g=0.3" in image_table.splitlines()[-1]
    assert "highest" not in speech_table, "one speech run: nothing to rank it against"
    budgets = next(line for line in image_table.splitlines() if line.startswith("Different training budgets"))
    assert "8 epochs" in budgets and "2 epochs" in budgets, budgets


def test_an_unfinished_run_is_marked_with_what_it_trained(tmp_path: Path, capsys) -> None:
    done = write_run(tmp_path / "done", "beta", 0.3, 0, IMAGE, epochs=4)
    cut = write_run(tmp_path / "cut", "cmi", 0.3, 0, IMAGE, epochs=4)
    (cut / "results.json").unlink()  # Ctrl-C after epoch 1 of 4, then evaluated
    (cut / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "step": 93}) + "\n")
    assert cli.main(["compare", str(done), str(cut)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "cmi g=0.3 (unfinished)" in header and "beta g=0.3 (unfinished)" not in header, header
    assert "cmi g=0.3 (unfinished) is unfinished (no results.json" in out
    assert "it trained 1 of 4 epochs (93 updates)" in out


def test_a_damaged_eval_json_is_named_with_what_to_do(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", "beta", 0.3, 0, IMAGE)
    b = write_run(tmp_path / "b", "cmi", 0.3, 0, IMAGE)
    (b / "eval.json").write_text("{not json")
    assert cli.main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {b / 'eval.json'} is damaged (") and err.count("\n") == 1, err
    assert f"run `cmivae evaluate {b}`" in err and "move it away" in err


def test_labels_must_be_one_per_run(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", "beta", 0.3, 0, IMAGE)
    b = write_run(tmp_path / "b", "cmi", 0.3, 0, IMAGE)
    c = write_run(tmp_path / "c", "mi", 0.3, 0, IMAGE)
    assert cli.main(["compare", str(a), str(b), str(c), "--labels", "A", "B"]) == 2
    err = capsys.readouterr().err
    assert "--labels gives 2 label(s) for 3 runs" in err and err.count("\n") == 1, err
    assert cli.main(["compare", str(a), str(b), "--labels", "A", "B"]) == 0


def test_ties_and_the_same_run_twice_name_no_highest(tmp_path: Path) -> None:
    elbo_only = {"elbo": -90.0, "kl_z": 10.0}
    a = write_run(tmp_path / "a", "beta", 0.3, 0, elbo_only)
    b = write_run(tmp_path / "b", "cmi", 0.3, 0, elbo_only)
    tie = compare_runs([a, b]).splitlines()[-1]
    assert "highest" not in tie.replace("no run is highest", "") and "the same test ELBO (-90)" in tie, tie
    twice = compare_runs([a, a]).splitlines()[-1]
    assert "highest" not in twice and "The same run" in twice and "given 2 times" in twice, twice
    c = write_run(tmp_path / "c", "mi", 0.3, 0, IMAGE)
    d = write_run(tmp_path / "d", "cmi", 0.5, 0, IMAGE)
    e = write_run(tmp_path / "e", "beta", 0.5, 0, {**IMAGE, "aolr": 0.5})
    line = compare_runs([c, d, e]).splitlines()[-1]
    assert "AoLR: tie of mi g=0.3, cmi g=0.5 (0.6)" in line, line
