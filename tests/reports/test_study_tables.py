"""Report pieces of the study (issue 13): method variants stay apart, the critic diagnostics
table and the raw-vs-standardized probe table appear, the matched-KL table gains the
standardized probes."""

from __future__ import annotations

import json
from pathlib import Path

from cmivae.reports.collect import collect_runs, method_key, method_label
from cmivae.reports.report import build_report
from cmivae.reports.tables import aggregate


def _run(root: Path, run_id: str, objective: dict, seed: int, evaluation: dict, train: dict | None = None) -> None:
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    config = {"data": {"name": "fashion-mnist"}, "model": {"name": "pixelcnn_vae"}, "objective": objective,
              "train": {"seed": seed}}
    (run_dir / "config.json").write_text(json.dumps({"config": config}))
    (run_dir / "results.json").write_text(json.dumps({"elbo": -100.0, "kl_z": evaluation["kl_z"]}))
    (run_dir / "eval.json").write_text(json.dumps({**evaluation, "probe_protocols": {"aolr": {"scaling": "raw"}}}))
    if train is not None:
        _write_history(run_dir, [{"epoch": 1, "train": {"critic_acc": 0.1}}, {"epoch": 2, "train": train}])


def _sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    critic = {"critic_acc": 0.74, "critic_acc_pos": 0.98, "critic_acc_neg": 0.5, "critic_logit_pos": 2.0,
              "critic_logit_neg": -0.01, "recon": 99.0}
    for seed in (0, 1):
        for gamma, kl in ((0.5, 5.0), (0.9, 15.0)):
            _run(root, f"b{gamma}{seed}", {"name": "beta", "gamma": gamma}, seed,
                 {"kl_z": kl, "aolr": 0.70, "aolr_std": 0.72})
        for path in ("both", "s"):
            _run(root, f"c{path}{seed}", {"name": "cmi", "gamma": 0.9, "critic_path": path}, seed,
                 {"kl_z": 10.0 if path == "both" else 12.0, "aolr": 0.60 if path == "both" else 0.70,
                  "aolr_std": 0.69}, train=critic)
    return root


def _write_history(run_dir: Path, records: list[dict]) -> None:
    """A run's ``metrics.jsonl``: one JSON record per line."""
    (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")


def _spy_on_plot(monkeypatch) -> list[tuple[list[float], list[float]]]:  # noqa: ANN001 - pytest fixture
    """Record the (xs, ys) of every ``Axes.plot`` call (still drawing them) until ``monkeypatch.undo()``."""
    import matplotlib.axes

    drawn: list[tuple[list[float], list[float]]] = []
    real_plot = matplotlib.axes.Axes.plot

    def spy(self, xs, ys, *args, **kwargs):  # noqa: ANN001 - matplotlib's signature
        drawn.append((list(xs), list(ys)))
        return real_plot(self, xs, ys, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    return drawn


def test_method_variants_are_kept_apart(tmp_path: Path) -> None:
    assert method_key({"name": "cmi", "critic_path": "both", "alpha": 1.0}) == "cmi"
    assert method_key({"name": "cmi", "critic_path": "s", "alpha": 0.5}) == "cmi+critic_path=s+alpha=0.5"
    assert method_label("cmi+critic_path=s") == "CMI-VAE (critic_path=s)"
    assert method_key({"name": "cmi", "critic": "quadratic", "critic_input": "patch", "critic_patch": 5}) \
        == "cmi+critic=quadratic+critic_input=patch+critic_patch=5"
    assert method_key({"name": "mws", "critic_input": "map", "mws_s_width": 1.0}) == "mws"
    groups = aggregate(collect_runs(_sweep(tmp_path)))
    cmi = {g.method: g for g in groups if g.method.startswith("cmi")}
    assert set(cmi) == {"cmi", "cmi+critic_path=s"}
    assert cmi["cmi"].mean["aolr"] == 0.60 and cmi["cmi+critic_path=s"].mean["aolr"] == 0.70
    assert cmi["cmi"].mean["critic_acc_neg"] == 0.5, "the last epoch's training means"


def test_report_shows_critic_diagnostics_and_both_probe_protocols(tmp_path: Path) -> None:
    text = build_report(_sweep(tmp_path), tmp_path / "report", with_paper=False).read_text()
    critic = text[text.index("### Critic diagnostics"):]
    assert "| 0.9 | CMI-VAE (critic_path=s) | ours | 2 | 12.00 ± 0.00 | 0.740 ± 0.000 | 0.980 ± 0.000 | 0.500" in critic
    probes = text[text.index("### Probe protocols"):text.index("### Critic diagnostics")]
    assert "AoLR (raw)" in probes and "AoLR (std)" in probes
    matched = text[text.index("### At the same KL(z)"):text.index("### Probe protocols")]
    assert "AoLR (std)" in matched
    # cmi at KL 10 against beta interpolated between KL 5 and 15: aolr 0.70, aolr_std 0.72
    assert "| 0.9 | CMI-VAE | 2 | 10.00 ± 0.00 |" in matched and "-0.1000" in matched and "-0.0300" in matched
    assert (tmp_path / "report" / "critic_fashion-mnist_pixelcnn_vae.csv").exists()


def test_report_without_study_metrics_has_no_probe_table(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    _run(root, "b0", {"name": "beta", "gamma": 0.5}, 0, {"kl_z": 5.0, "aolr": 0.7})
    text = build_report(root, tmp_path / "report", with_paper=False).read_text()
    assert "Probe protocols" not in text and "Critic diagnostics" not in text


def test_runs_of_two_presets_in_one_sweep_are_reported_apart(tmp_path: Path) -> None:
    root = tmp_path / "budget"
    for channels, kernels in ((32, [7, 5]), (64, [7, 7, 3])):
        for seed in (0, 1):
            run_dir = root / "runs" / f"r{channels}{seed}"
            run_dir.mkdir(parents=True)
            config = {"data": {"name": "fashion-mnist", "data_dir": f"/tmp/{seed}"},
                      "model": {"name": "pixelcnn_vae", "channels": channels, "kernel_sizes": kernels},
                      "objective": {"name": "beta", "gamma": 0.5}, "train": {"seed": seed, "device": "cpu"}}
            (run_dir / "config.json").write_text(json.dumps({"config": config}))
            (run_dir / "results.json").write_text(json.dumps({"elbo": -100.0, "kl_z": float(channels)}))
    rows = collect_runs(root)
    assert {r.dataset for r in rows} == {"fashion-mnist@channels=32,kernel_sizes=7x5",
                                         "fashion-mnist@channels=64,kernel_sizes=7x7x3"}
    groups = aggregate(rows)
    assert sorted(g.mean["kl_z"] for g in groups) == [32.0, 64.0] and all(g.n == 2 for g in groups)
    # a field added later (critic_path) missing from old configs is not a difference
    (root / "runs" / "r320" / "config.json").write_text(json.dumps({"config": {
        "data": {"name": "fashion-mnist"}, "model": {"name": "pixelcnn_vae", "channels": 32, "kernel_sizes": [7, 5]},
        "objective": {"name": "beta", "gamma": 0.5, "critic_path": "both", "kernel_scale": 100.0},
        "train": {"seed": 0}}}))
    assert len({r.dataset for r in collect_runs(root)}) == 2
    text = build_report(root, tmp_path / "report", with_paper=False).read_text()
    header = next(line for line in text.splitlines() if line.startswith("| γ | method | source | n |"))
    assert "KL(z)" in header and "-ELBO" in header
    assert "KL(s)" not in header and "ELBO = -(" not in header, "the DSAE's columns are not an image model's"


def test_two_shipped_presets_in_one_sweep_are_labelled_by_preset(tmp_path: Path) -> None:
    """Settings are named by the closest shipped preset (plus the keys where they differ from it)."""
    from cmivae.config import load_config

    root = tmp_path / "budget"
    for preset, extra in (("pixelcnn-cpu-long", []), ("pixelcnn-mid", []), ("pixelcnn-mid", ["train.lr=0.01"])):
        config = load_config(preset, ["data.name=mnist", "objective.name=beta", *extra]).to_dict()
        run_dir = root / "runs" / f"{preset}{len(extra)}"
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(json.dumps({"config": config}))
        (run_dir / "results.json").write_text(json.dumps({"elbo": -100.0, "kl_z": 1.0}))
    # the third run is closest to pixelcnn-mid, which it differs from on lr alone: named by both
    assert {r.dataset for r in collect_runs(root)} == {"mnist@pixelcnn-cpu-long", "mnist@pixelcnn-mid",
                                                        "mnist@pixelcnn-mid+lr=0.01"}
    import shutil

    shutil.rmtree(root / "runs" / "pixelcnn-mid1")
    assert {r.dataset for r in collect_runs(root)} == {"mnist@pixelcnn-cpu-long", "mnist@pixelcnn-mid"}


def test_a_model_key_both_settings_share_away_from_their_presets_is_in_both_names(tmp_path: Path) -> None:
    """The residual decoder on two budgets: block does not vary between the settings, but neither is the
    presets' plain decoder, so both names say so (and nothing else the settings share is added)."""
    from cmivae.config import load_config

    root = tmp_path / "residual"
    for preset in ("pixelcnn-mid", "pixelcnn-mid-long"):
        config = load_config(preset, ["data.name=fashion-mnist", "objective.name=beta",
                                      "model.block=residual"]).to_dict()
        run_dir = root / "runs" / preset
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(json.dumps({"config": config}))
        (run_dir / "results.json").write_text(json.dumps({"elbo": -100.0, "kl_z": 1.0}))
    assert {r.dataset for r in collect_runs(root)} == {"fashion-mnist@pixelcnn-mid+block=residual",
                                                        "fashion-mnist@pixelcnn-mid-long+block=residual"}


def test_critic_logit_figure_draws_each_adversarial_run_and_is_in_the_report(tmp_path: Path, monkeypatch) -> None:
    from cmivae.reports import plots

    drawn = _spy_on_plot(monkeypatch)
    root = _sweep(tmp_path)
    for run_dir in sorted((root / "runs").glob("c*")):  # two epochs of (KL(z), logit) per adversarial run
        _write_history(run_dir, [{"epoch": 1, "train": {"kl_z": 4.0, "critic_logit_pos": 1.0}},
                                 {"epoch": 2, "train": {"kl_z": 8.0, "critic_logit_pos": 2.0, "critic_acc": 0.74}}])
    path = plots.plot_critic_logits(collect_runs(root), "fashion-mnist", "pixelcnn_vae", tmp_path / "c.png")
    assert path is not None and path.stat().st_size > 0
    trajectories = [d for d in drawn if d == ([4.0, 8.0], [1.0, 2.0])]
    assert len(trajectories) == 4  # 4 adversarial runs (2 paths x 2 seeds); the beta-VAE runs have no critic
    assert ([0, 8.0], [0, 8.0]) in drawn  # the exact-critic line logit = KL(z)
    monkeypatch.undo()
    text = build_report(root, tmp_path / "report", with_paper=False).read_text()
    assert "![critic logit](critic_logit_fashion-mnist_pixelcnn_vae.png)" in text
    assert plots.plot_critic_logits(collect_runs(root), "mnist", "pixelcnn_vae", tmp_path / "none.png") is None


def test_one_config_in_two_sweep_directories_counts_once(tmp_path: Path) -> None:
    """A deterministic rerun of a committed config in a second sweep directory is not a second seed."""
    import shutil

    first = _sweep(tmp_path)
    second = tmp_path / "again"
    (second / "runs").mkdir(parents=True)
    shutil.copytree(first / "runs" / "b0.90", second / "runs" / "b0.90")
    groups = aggregate(collect_runs([first, second]))
    beta = next(g for g in groups if g.method == "beta" and g.gamma == 0.9)
    assert beta.n == 2 and sorted(beta.seeds) == [0, 1]  # seeds 0 and 1, seed 0 not twice
    (second / "runs" / "b0.90" / "results.json").unlink()  # a rerun still training there
    (second / "runs" / "b0.90" / "eval.json").unlink()
    for roots in ([first, second], [second, first]):  # the finished copy wins, whichever root comes first
        rows = [r for r in collect_runs(roots) if r.method == "beta" and r.gamma == 0.9 and r.seed == 0]
        assert len(rows) == 1 and rows[0].finished and rows[0].path.parent.parent == first


def test_a_metric_on_fewer_seeds_than_the_row_says_so(tmp_path: Path) -> None:
    """A run trained but not evaluated yet: the row counts 2 seeds, its AoLR mean is over 1 and is marked."""
    root = _sweep(tmp_path)
    eval_file = root / "runs" / "b0.51" / "eval.json"
    evaluation = json.loads(eval_file.read_text())
    del evaluation["aolr"]
    eval_file.write_text(json.dumps(evaluation))
    text = build_report(root, tmp_path / "report", with_paper=False).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 0.5 | β-VAE | ours | 2 |"))
    assert "0.7000 (n=1)" in row, row
    assert "(n=1)" not in row.replace("0.7000 (n=1)", ""), "only the metric with fewer seeds is marked"
    full = next(line for line in text.splitlines() if line.startswith("| 0.9 | β-VAE | ours | 2 |"))
    assert "(n=" not in full


def test_kl_by_update_figure_draws_each_run_and_is_in_the_report(tmp_path: Path, monkeypatch) -> None:
    from cmivae.reports import plots

    drawn = _spy_on_plot(monkeypatch)
    root = _sweep(tmp_path)
    for run_dir in sorted((root / "runs").glob("*")):
        _write_history(run_dir, [{"epoch": 1, "step": 10, "val": {"kl_z": 3.0}},
                                 {"epoch": 2, "step": 20, "val": {"kl_z": 999.0}},  # resumed: epoch 2 again
                                 {"epoch": 2, "step": 20, "val": {"kl_z": 5.0}}])
    path = plots.plot_kl_by_update(collect_runs(root), "fashion-mnist", "pixelcnn_vae", tmp_path / "k.png")
    assert path is not None and path.stat().st_size > 0
    assert drawn.count(([10, 20], [3.0, 5.0])) == 8  # every run: 2 seeds x (2 beta gammas + 2 cmi paths)
    monkeypatch.undo()
    text = build_report(root, tmp_path / "report", with_paper=False).read_text()
    assert "![KL(z) by update](kl_by_update_fashion-mnist_pixelcnn_vae.png)" in text
    assert plots.plot_kl_by_update(collect_runs(root), "mnist", "pixelcnn_vae", tmp_path / "none.png") is None


def test_kl_gap_table_pairs_each_run_with_beta_vae_at_its_gamma_and_seed(tmp_path: Path) -> None:
    from cmivae.reports.diagnostics import kl_gap_table

    root = _sweep(tmp_path)

    def history(run_id: str, kls: list[float]) -> None:
        lines = [{"epoch": e, "step": 10 * e, "val": {"kl_z": kl}} for e, kl in enumerate(kls, start=1)]
        lines.insert(1, {"epoch": 2, "step": 20, "val": {"kl_z": 999.0}})  # resumed: epoch 2 written again, last wins
        _write_history(root / "runs" / run_id, lines)

    for seed in (0, 1):
        history(f"b0.9{seed}", [10.0, 10.0, 20.0, 20.0])
        history(f"cboth{seed}", [2.0, 5.0, 10.0, 15.0 + seed])  # ratios 0.2, 0.5, 0.5, 0.75 / 0.8
    table = kl_gap_table(collect_runs(root), "fashion-mnist", "pixelcnn_vae")
    assert table is not None
    assert [c.header for c in table.columns] == [f"epoch {e} ({10 * e} updates)" for e in (1, 2, 3, 4)]
    row = next(r for r in table.rows if r["method"] == "cmi")
    assert row["gamma"] == 0.9 and row["n"] == 2
    assert row["mean"]["kl_ratio_e1"] == 0.2 and row["mean"]["kl_ratio_e2"] == 0.5
    assert abs(row["mean"]["kl_ratio_e4"] - 0.775) < 1e-12 and abs(row["se"]["kl_ratio_e4"] - 0.025) < 1e-12
    assert all(r["method"] != "beta" for r in table.rows)
    text = build_report(root, tmp_path / "report", with_paper=False).read_text()
    assert "### KL(z) gap to β-VAE during training" in text and (tmp_path / "report" /
                                                                 "kl_gap_fashion-mnist_pixelcnn_vae.csv").exists()
