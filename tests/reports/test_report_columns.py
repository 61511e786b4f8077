"""Which keys a report's tables show (issue 29 polish): measures only, never the bookkeeping keys of
``results.json`` / ``eval.json`` (``mi_zs_bound`` and its twins, ``steps`` ...) nor the ELBO twice (``neg_elbo``
beside a DSAE's ``elbo``); every table that has budgets shows them, none prints an always-empty budget
column. And the paper's transcribed tables appear only for the model families the report's runs have."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cmivae.reports.collect import collect_runs
from cmivae.reports.report import build_report
from cmivae.reports.tables import Column, Table, aggregate, metrics_table

VIDEO_EVAL = {"mi_zs": 1.8, "mi_zs_bound": 4.0, "mi_zs_n9000": 2.1, "mi_zs_n9000_bound": 1.5,
              "judge_action_acc": 0.55, "swap_acc": 0.1, "leak_z_action": 0.9, "eval_seconds": 12.0}


def write_run(root: Path, run_id: str, dataset: str, model: str, method: str, seed: int,
              results: dict[str, float], evaluation: dict[str, float], traits: dict | None = None) -> None:
    """A run directory; ``traits``: what its classes declare (config.json's record, as training writes it)."""
    run = root / "runs" / run_id
    run.mkdir(parents=True)
    config = {"data": {"name": dataset}, "model": {"name": model, "hidden_dim": 128},
              "objective": {"name": method, "gamma": 0.5}, "train": {"seed": seed, "epochs": 5}}
    (run / "config.json").write_text(json.dumps({"config": config, **({"traits": traits} if traits else {})}))
    (run / "results.json").write_text(json.dumps(results))
    (run / "eval.json").write_text(json.dumps(evaluation))


def video_sweep(root: Path) -> Path:
    for seed in (0, 1):
        write_run(root, f"video-{seed}", "sprites", "video_dsae", "cmi", seed,
                  {"elbo": -100.0 - seed, "neg_elbo": 100.0 + seed, "recon": 60.0, "kl_z": 30.0, "kl_s": 10.0 + seed,
                   "best_epoch": 4, "steps": 1265, "skipped_batches": 0}, VIDEO_EVAL,
                  {"capabilities": ["decode", "local_sequence", "prior_s"], "model_label": "video DSAE"})
    return root


def _table(text: str, title: str) -> list[str]:
    """The Markdown lines of the table under heading ``### title``."""
    lines = text.split(f"### {title}\n\n", 1)[1].splitlines()
    return [line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]]


def test_the_video_table_shows_measures_and_budgets_not_bookkeeping(tmp_path: Path) -> None:
    out = tmp_path / "report"
    text = build_report(video_sweep(tmp_path / "sweep"), out).read_text()
    table = _table(text, "Sprites, video DSAE — ours (mean ± SE over seeds)")
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    for raw in ("mi_zs_bound", "mi_zs_n9000_bound", "neg_elbo", "-ELBO", "best_epoch", "steps", "skipped_batches",
                "eval_seconds", "mi_zs_n9000"):
        assert raw not in header, (raw, header)
    assert header[4:7] == ["ELBO = -(Recon+KL(z)+KL(s)) (nats)", "KL(z)", "KL(s)"]
    assert "Î(z;s)" in header and "Î(z;s), 9000 pairs" in header and header[-1] == "budget"
    row = [cell.strip() for cell in table[2].strip("|").split("|")]
    assert row[-1] == "all train · 5 epochs · 1265 updates · hidden_dim=128"
    assert row[header.index("Î(z;s)")] == "1.80 ± 0.00"  # under its bound: the estimate
    assert row[header.index("Î(z;s), 9000 pairs")] == "> 1.5"  # above its bound: the bound read with it
    with open(out / "metrics_sprites_video_dsae.csv") as handle:
        (first,) = list(csv.DictReader(handle))
    # the CSV keeps the estimate and its bound (neg_elbo = -elbo and the bookkeeping stay in summary.csv)
    assert first["mi_zs_n9000_mean"] == "2.1" and first["mi_zs_n9000_bound_mean"] == "1.5"
    assert first["mi_zs_bound_mean"] == "4.0" and first["budget"].startswith("all train")
    assert "neg_elbo_mean" not in first
    with open(out / "summary.csv") as handle:
        assert {"neg_elbo", "mi_zs_bound", "steps"} <= {line["metric"] for line in csv.DictReader(handle)}


def test_no_family_table_shows_bookkeeping(tmp_path: Path) -> None:
    """The same rule for an image model and a speech DSAE whose runs no paper table describes."""
    root = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(root, f"img-{seed}", "mnist", "toy_vae", "beta", seed,
                  {"elbo": -90.0, "neg_elbo": 90.0, "recon": 85.0, "kl_z": 5.0, "steps": 10},
                  {"aolr": 0.7, "mi_zs": 2.0, "mi_zs_bound": 3.0})
        write_run(root, f"dsae-{seed}", "synthetic-speech", "toy_dsae", "beta", seed,
                  {"elbo": -90.0, "neg_elbo": 90.0, "recon": 80.0, "kl_z": 5.0, "kl_s": 5.0, "best_epoch": 2},
                  {"eer_z": 10.0, "eer_s": 30.0, "mi_zs": 2.0, "mi_zs_bound": 3.0},
                  {"capabilities": ["local_sequence"]})
    groups = aggregate(collect_runs(root))
    image = metrics_table(groups, "mnist", "toy_vae")
    assert [c.key for c in image.columns] == ["neg_elbo", "kl_z", "recon", "aolr", "mi_zs"]
    speech = metrics_table(groups, "synthetic-speech", "toy_dsae")
    assert [c.key for c in speech.columns] == ["elbo", "kl_z", "kl_s", "recon", "eer_z", "eer_s", "mi_zs"]
    assert all(row["budget"] == "all train · 5 epochs · 10 updates · hidden_dim=128" for row in image.rows)
    assert image.to_markdown().splitlines()[0].endswith("| budget |")
    diagnostics = Table(0, "critic", "critic", (Column("kl_z", "KL(z)", 2),),  # rows without budgets
                        [{"gamma": 0.5, "method": "cmi", "source": "ours", "n": 1, "mean": {"kl_z": 5.0}, "se": {}}])
    assert diagnostics.to_markdown().splitlines()[:2] == ["| γ | method | source | n | KL(z) |",
                                                          "|---|---|---|---|---|"]


def _paper_headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("### Paper Table")]


def test_the_paper_tables_are_those_of_the_reports_model_families(tmp_path: Path) -> None:
    sprites = build_report(video_sweep(tmp_path / "video"), tmp_path / "video-report").read_text()
    assert _paper_headings(sprites) == []
    reference = sprites.split("## The paper's tables (transcribed, for reference)\n\n", 1)[1]
    assert reference.splitlines()[0] == ("The paper has no table for Sprites · video DSAE: no published numbers to "
                                         "set beside them.")
    root = tmp_path / "images"
    for seed in (0, 1):
        write_run(root, f"img-{seed}", "fashion-mnist", "pixelcnn_vae", "beta", seed,
                  {"elbo": -90.0, "neg_elbo": 90.0, "recon": 85.0, "kl_z": 5.0}, {"aolr": 0.7})
    images = build_report(root, tmp_path / "image-report").read_text()
    assert [h.split(":")[0] for h in _paper_headings(images)] == ["### Paper Table 4", "### Paper Table 5"]
    assert "The paper has no table for" not in images
    video_sweep(root)  # both families: the image tables, and the line for Sprites
    both = build_report(root, tmp_path / "both-report").read_text()
    assert _paper_headings(both) == _paper_headings(images)
    assert "The paper has no table for Sprites · video DSAE" in both
