"""``cmivae report`` pools runs over seeds only when their configs agree beyond the seed, and
prints each group's budget (training examples, epochs, updates, model size) beside the paper's."""

from __future__ import annotations

import json
from pathlib import Path

from cmivae.reports.collect import collect_runs
from cmivae.reports.report import build_report
from cmivae.reports.tables import aggregate, build_table


def write_run(root: Path, name: str, seed: int, num_train: int, epochs: int, aolr: float) -> None:
    run = root / "runs" / name
    run.mkdir(parents=True)
    config = {"data": {"name": "fashion-mnist", "num_train": num_train, "data_dir": f"/data/{name}"},
              "model": {"name": "pixelcnn_vae", "kernel_sizes": [7, 5, 3], "channels": 32},
              "objective": {"name": "beta", "gamma": 0.3}, "train": {"seed": seed, "epochs": epochs}}
    (run / "config.json").write_text(json.dumps({"config": config}))
    (run / "results.json").write_text(json.dumps({"elbo": -90.0, "neg_elbo": 90.0, "recon": 80.0, "kl_z": 10.0,
                                                  "steps": num_train // 64 * epochs}))
    (run / "eval.json").write_text(json.dumps({"aolr": aolr}))


def test_runs_with_different_budgets_are_not_pooled_and_each_budget_is_printed(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    write_run(root, "small", 0, 1500, 1, 0.5)
    write_run(root, "big", 0, 6000, 8, 0.7)
    write_run(root, "big-seed1", 1, 6000, 8, 0.8)  # pooled with "big": only the seed (and data_dir) differ
    groups = aggregate(collect_runs(root))
    assert sorted(g.n for g in groups) == [1, 2] and len({g.dataset for g in groups}) == 2
    big = next(g for g in groups if g.n == 2)
    assert abs(big.mean["aolr"] - 0.75) < 1e-9
    assert big.budget == "6000 train · 8 epochs · 744 updates · 3 layers x 32 maps"

    report = build_report(root, tmp_path / "report").read_text()
    assert "Budget of these runs: 1500 train · 1 epochs · 23 updates · 3 layers x 32 maps." in report
    assert "Budget of these runs: 6000 train · 8 epochs · 744 updates" in report
    assert "The paper's: all train (48,000) · 300 epochs · 13 layers x 64 maps" in report


def test_table_rows_show_our_budget_beside_the_papers(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    write_run(root, "a", 0, 6000, 8, 0.7)
    write_run(root, "b", 1, 6000, 8, 0.8)
    (group,) = aggregate(collect_runs(root))
    assert group.n == 2 and group.dataset == "fashion-mnist"
    table = build_table([group], 5, "fashion-mnist", "pixelcnn_vae").to_markdown()
    ours = next(line for line in table.splitlines() if "| ours |" in line)
    paper = next(line for line in table.splitlines() if "| paper |" in line)
    assert ours.endswith("| 6000 train · 8 epochs · 744 updates · 3 layers x 32 maps |")
    assert "300 epochs" in paper and "13 layers x 64 maps" in paper


def test_a_budget_in_updates_reads_as_updates_not_none_epochs() -> None:
    from cmivae.reports.collect import budget_text

    by_updates = {"data": {}, "train": {"epochs": None, "max_steps": 3380}, "model": {"name": "dsae"}}
    assert budget_text(by_updates, steps=3380) == "all train · 3380 updates · default size"
    assert budget_text(by_updates) == "all train · budget 3380 updates · default size"
    by_epochs = {"data": {"num_train": 6000}, "train": {"epochs": 8, "max_steps": 100}, "model": {"name": "dsae"}}
    assert budget_text(by_epochs, steps=100) == "6000 train · 8 epochs · max 100 updates · 100 updates · default size"
