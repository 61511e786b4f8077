"""Reports from hand-written run directories: means and standard errors (SE = std with
ddof=1 / sqrt(n)) checked against hand-computed values, paper rows beside ours, figures
written as PNG, and the transcribed paper tables checked for internal consistency."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cmivae import cli  # noqa: E402
from cmivae.reports.collect import collect_runs, read_run  # noqa: E402
from cmivae.reports.diagnostics import extra_matched_metrics, z_probe_panels  # noqa: E402
from cmivae.reports.matched import interpolate, matched_comparison, matched_markdown  # noqa: E402
from cmivae.reports.paper_results import TABLES, paper_row  # noqa: E402
from cmivae.reports.plots import gather_samples, plot_figure3, plot_figure4, plot_probes  # noqa: E402
from cmivae.reports.report import build_report  # noqa: E402
from cmivae.reports.tables import aggregate, build_table, standard_error  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
KL_Z = {0: 3.0, 1: 5.0, 2: 10.0}  # per seed: mean 6, SE sqrt(13)/sqrt(3) = 2.0817
SE_KL = math.sqrt(13.0) / math.sqrt(3.0)


def write_run(root: Path, run_id: str, dataset: str, model: str, method: str, gamma: float, seed: int,
              results: dict[str, float] | None, evaluation: dict[str, float] | None = None,
              samples: bool = False, error: str | None = None) -> Path:
    """A run directory written by hand, with the files the trainer and evaluator write."""
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    config = {"data": {"name": dataset}, "model": {"name": model},
              "objective": {"name": method, "gamma": gamma}, "train": {"seed": seed}}
    (run_dir / "config.json").write_text(json.dumps({"config": config, "code_version": "test"}))
    if results is not None:
        (run_dir / "results.json").write_text(json.dumps(results))
    if evaluation is not None:
        (run_dir / "eval.json").write_text(json.dumps(evaluation))
    if samples:
        plt.imsave(run_dir / "samples.png", [[0.0, 1.0], [1.0, 0.0]], cmap="gray")
    if error:
        (run_dir / "sweep_error.json").write_text(json.dumps({"error": error, "traceback": "Traceback ..."}))
    return run_dir


@pytest.fixture()
def sweep_dir(tmp_path: Path) -> Path:
    """Image runs (beta/cmi x gamma 0.1/0.3 x 3 seeds), DSAE runs, one unfinished and one failed run."""
    root = tmp_path / "sweep"
    for method in ("beta", "cmi"):
        for gamma in (0.1, 0.3):
            for seed in (0, 1, 2):
                kl, recon = KL_Z[seed] + 10 * gamma, 80.0 + seed
                bonus = 0.05 if method == "cmi" else 0.0
                write_run(root, f"img-{method}-{gamma}-{seed}", "fashion-mnist", "pixelcnn_vae", method, gamma, seed,
                          {"elbo": -(kl + recon), "neg_elbo": kl + recon, "recon": recon, "kl_z": kl},
                          {"aolr": 0.6 + 0.1 * seed + bonus, "mcas": 0.5 + 0.1 * seed + bonus, "aosvm": 0.7,
                           "mcas_svm": 0.6, "mi_zs": 2.0 - bonus * 10, "baseline": 0.45},
                          samples=seed == 0)
    for method in ("beta", "cmi"):
        for seed, vc in zip((0, 1, 2), (80.0, 85.0, 90.0), strict=True):
            write_run(root, f"dsae-{method}-{seed}", "synthetic-speech", "dsae", method, 0.4, seed,
                      {"elbo": 100.0 + seed, "neg_elbo": -100.0 - seed, "recon": -150.0, "kl_z": 20.0,
                       "kl_s": 30.0 - seed},
                      {"eer_z": 10.0 + seed, "eer_s": 30.0, "vc_mcas": vc, "mi_zs": 1.5})
    write_run(root, "img-mi-unfinished", "fashion-mnist", "pixelcnn_vae", "mi", 0.1, 0, None)
    write_run(root, "img-mi-failed", "fashion-mnist", "pixelcnn_vae", "mi", 0.3, 0, None,
              error="TrainingError: loss term 'kl_z' is nan at step 3")
    return root


def test_standard_error_convention() -> None:
    assert standard_error([0.6, 0.7, 0.8]) == pytest.approx(0.1 / math.sqrt(3))
    assert standard_error([3.0, 5.0, 10.0]) == pytest.approx(SE_KL)
    assert math.isnan(standard_error([1.0]))


def test_collect_reads_run_directories(sweep_dir: Path) -> None:
    rows = collect_runs(sweep_dir)
    assert len(rows) == 12 + 6 + 2
    row = read_run(sweep_dir / "runs" / "img-cmi-0.3-2")
    assert row is not None and (row.dataset, row.model, row.method, row.gamma, row.seed) == \
        ("fashion-mnist", "pixelcnn_vae", "cmi", 0.3, 2)
    assert row.finished and row.evaluated and row.samples is None
    assert row.metrics["aolr"] == pytest.approx(0.85) and row.metrics["neg_elbo"] == -row.metrics["elbo"]
    failed = read_run(sweep_dir / "runs" / "img-mi-failed")
    assert failed is not None and not failed.finished and "nan at step 3" in (failed.error or "")
    assert read_run(sweep_dir / "runs" / "nope") is None


def test_aggregate_matches_hand_computed_means_and_standard_errors(sweep_dir: Path) -> None:
    groups = {(g.dataset, g.method, g.gamma): g for g in aggregate(collect_runs(sweep_dir))}
    assert ("fashion-mnist", "mi", 0.1) not in groups  # unfinished runs have no metrics
    beta = groups[("fashion-mnist", "beta", 0.1)]
    assert beta.n == 3 and beta.seeds == [0, 1, 2]
    assert beta.mean["kl_z"] == pytest.approx(6.0 + 1.0) and beta.se["kl_z"] == pytest.approx(SE_KL)
    assert beta.mean["aolr"] == pytest.approx(0.7) and beta.se["aolr"] == pytest.approx(0.057735, abs=1e-6)
    assert beta.mean["recon"] == pytest.approx(81.0) and beta.se["recon"] == pytest.approx(1 / math.sqrt(3))
    assert beta.max["aolr"] == pytest.approx(0.8)
    cmi = groups[("fashion-mnist", "cmi", 0.3)]
    assert cmi.mean["aolr"] == pytest.approx(0.75) and cmi.mean["mi_zs"] == pytest.approx(1.5)
    speech = groups[("synthetic-speech", "cmi", 0.4)]
    assert speech.mean["vc_mcas"] == pytest.approx(85.0) and speech.max["vc_mcas"] == pytest.approx(90.0)


def test_table5_has_ours_and_paper_rows_with_unambiguous_elbo(sweep_dir: Path, tmp_path: Path) -> None:
    groups = aggregate(collect_runs(sweep_dir))
    table = build_table(groups, 5, "fashion-mnist", "pixelcnn_vae")
    text = table.to_markdown()
    assert "-ELBO = Recon+KL(z)" in text.splitlines()[0]
    # -ELBO per seed 84, 87, 93: mean 88, SE sqrt(21)/sqrt(3) = 2.65; KL(z) 7 ± 2.08; Recon 81 ± 0.58
    assert "| 0.1 | β-VAE | ours | 3 | 88.00 ± 2.65 | 7.00 ± 2.08 | 81.00 ± 0.58 | 0.6000 ± 0.0577 |" in text
    assert "| 0.1 | CMI-VAE | paper |  | 88.90 | 6.47 | 82.43 | 0.5837 | 0.7201 | 0.6618 | 0.7757 | 2.53 | – |" in text
    assert [(r["gamma"], r["method"], r["source"]) for r in table.rows] == [
        (0.1, "beta", "ours"), (0.1, "beta", "paper"), (0.1, "cmi", "ours"), (0.1, "cmi", "paper"),
        (0.3, "beta", "ours"), (0.3, "beta", "paper"), (0.3, "cmi", "ours"), (0.3, "cmi", "paper")]
    table.write_csv(tmp_path / "t5.csv")
    with open(tmp_path / "t5.csv") as handle:
        lines = list(csv.DictReader(handle))
    assert float(lines[0]["kl_z_mean"]) == pytest.approx(7.0) and float(lines[0]["kl_z_se"]) == pytest.approx(SE_KL)
    assert lines[1]["source"] == "paper" and float(lines[1]["neg_elbo_mean"]) == 88.86 and lines[1]["kl_z_se"] == ""


def test_dsae_tables_label_paper_rows_as_timit(sweep_dir: Path) -> None:
    groups = aggregate(collect_runs(sweep_dir))
    table3 = build_table(groups, 3, "synthetic-speech", "dsae").to_markdown()
    assert "ELBO = -(Recon+KL(z)+KL(s))" in table3
    assert "| 0.4 | β-VAE | ours | 3 | 101.00 ± 0.58 |" in table3
    assert "| 0.4 | β-VAE | paper (TIMIT) |  | 6289.48 ± 11.72 | 53.28 ± 0.97 |" in table3
    table2 = build_table(groups, 2, "synthetic-speech", "dsae").to_markdown()
    assert "| 0.4 | CMI-VAE | ours | 3 | 85.00 ± 2.89 | 90.00 |" in table2
    assert "| 0.4 | CMI-VAE | paper (TIMIT) |  | 84.33 | 86.60 |" in table2


def test_interpolation_along_the_beta_curve_by_hand() -> None:
    curve = [(6.0, 3.0, 0.3), (2.0, 1.0, 0.1), (4.0, 2.5, 0.2), (4.0, 1.5, 0.0)]  # the two x = 4 points average
    assert interpolate(curve, 3.0) == pytest.approx((1.5, 0.1))  # halfway between (2, 1.0, 0.1) and (4, 2.0, 0.1)
    assert interpolate(curve, 5.0) == pytest.approx((2.5, 0.2))  # halfway between (4, 2.0, 0.1) and (6, 3.0, 0.3)
    assert interpolate(curve, 6.0) == pytest.approx((3.0, 0.3))
    assert interpolate(curve, 1.9) is None and interpolate(curve, 6.1) is None  # no extrapolation
    assert interpolate([(5.0, 7.0, 0.5)], 5.0) == pytest.approx((7.0, 0.5))
    assert interpolate([], 1.0) is None


def test_methods_are_compared_with_beta_at_the_same_kl(sweep_dir: Path, tmp_path: Path) -> None:
    groups = aggregate(collect_runs(sweep_dir))
    rows = matched_comparison(groups, "fashion-mnist", "pixelcnn_vae")
    assert [(g.method, g.gamma) for g, _ in rows] == [("cmi", 0.1), ("cmi", 0.3)]
    cmi, matched = rows[0]
    # CMI at gamma 0.1 has KL(z) 7.0, the beta-VAE curve's point at gamma 0.1 exactly (AoLR 0.70, Î 2.0)
    assert cmi.mean["kl_z"] == pytest.approx(7.0)
    se_aolr = 0.1 / math.sqrt(3)  # per-seed AoLR 0.6/0.7/0.8 (+0.05 for CMI): SE 0.0577 for both
    assert matched["aolr"].beta == pytest.approx(0.70) and matched["aolr"].difference == pytest.approx(0.05)
    assert matched["aolr"].difference_se == pytest.approx(math.sqrt(2) * se_aolr)
    assert matched["mi_zs"].difference == pytest.approx(-0.5) and matched["mi_zs"].difference_se == 0.0
    text = matched_markdown(rows, "pixelcnn_vae")
    assert ("| 0.1 | CMI-VAE | 3 | 7.00 ± 2.08 | 1.50 | 2.00 | -0.50 ± 0.00 | 0.7500 | 0.7000 | +0.0500 ± 0.0816 |"
            in text)
    # the report adds the paper's nonlinear probes (appendix K.2) where the runs have them: AoSVM 0.7 everywhere
    extra = extra_matched_metrics(groups, "fashion-mnist", "pixelcnn_vae")
    assert [key for key, *_ in extra] == ["aosvm", "mcas_svm"]
    svm = matched_comparison(groups, "fashion-mnist", "pixelcnn_vae", extra)[0][1]["aosvm"]
    assert svm.beta == pytest.approx(0.7) and svm.difference == pytest.approx(0.0)
    assert "AoSVM" in matched_markdown(matched_comparison(groups, "fashion-mnist", "pixelcnn_vae", extra),
                                       "pixelcnn_vae", extra)
    # shift the beta-VAE curve so CMI's KL(z) falls between its points: 7 lies 1/4 of the way from 6 to 10
    for g in groups:
        if g.method == "beta" and g.dataset == "fashion-mnist":
            g.mean["kl_z"] = {0.1: 6.0, 0.3: 10.0}[g.gamma]
            g.mean["aolr"] = {0.1: 0.60, 0.3: 0.80}[g.gamma]
    shifted = dict(matched_comparison(groups, "fashion-mnist", "pixelcnn_vae")[0][1])
    assert shifted["aolr"].beta == pytest.approx(0.65) and shifted["aolr"].difference == pytest.approx(0.10)
    # CMI at gamma 0.3 has KL(z) 9.0: inside. Beyond the curve's last point (10.0) by less than the combined
    # SE of the two KL(z) means (2.08 each: sqrt(2) x 2.08 = 2.94) it is read at that point, marked ...
    cmi_03 = next(g for g in groups if g.method == "cmi" and g.gamma == 0.3 and g.dataset == "fashion-mnist")
    beta_03 = next(g for g in groups if g.method == "beta" and g.gamma == 0.3 and g.dataset == "fashion-mnist")
    assert cmi_03.se["kl_z"] == pytest.approx(beta_03.se["kl_z"]) == pytest.approx(2.0817, abs=1e-4)
    cmi_03.mean["kl_z"] = 12.9
    end = matched_comparison(groups, "fashion-mnist", "pixelcnn_vae")[1][1]["aolr"]
    assert end.at_end and end.beta == pytest.approx(0.80) and end.difference == pytest.approx(-0.05)
    assert "| 0.8000 (curve end) | -0.0500 ± 0.0816 |" in matched_markdown(
        matched_comparison(groups, "fashion-mnist", "pixelcnn_vae"), "pixelcnn_vae")
    # ... and farther out it is not extrapolated
    cmi_03.mean["kl_z"] = 13.0
    outside = matched_comparison(groups, "fashion-mnist", "pixelcnn_vae")[1][1]["aolr"]
    assert outside.beta is None and outside.difference is None and not outside.at_end
    assert "outside the β-VAE curve" in matched_markdown(matched_comparison(groups, "fashion-mnist",
                                                                            "pixelcnn_vae"), "pixelcnn_vae")
    beta_03.se["kl_z"] = math.nan  # an unknown SE (one seed) counts as 0: only the method's spread
    cmi_03.mean["kl_z"] = 12.0
    assert matched_comparison(groups, "fashion-mnist", "pixelcnn_vae")[1][1]["aolr"].at_end
    cmi_03.mean["kl_z"] = 12.1
    assert matched_comparison(groups, "fashion-mnist", "pixelcnn_vae")[1][1]["aolr"].beta is None
    speech = matched_comparison(groups, "synthetic-speech", "dsae")
    assert set(speech[0][1]) == {"mi_zs", "eer_z", "eer_s"}


def test_a_single_seed_gets_no_standard_error(tmp_path: Path) -> None:
    root = tmp_path / "one-seed"
    for method, kl, aolr in (("beta", 2.0, 0.5), ("beta", 6.0, 0.7), ("cmi", 3.0, 0.6)):
        write_run(root, f"{method}-{kl}", "mnist", "pixelcnn_vae", method, kl / 10, 0,
                  {"elbo": -90.0, "neg_elbo": 90.0, "recon": 90.0 - kl, "kl_z": kl}, {"aolr": aolr, "mi_zs": 1.0})
    rows = matched_comparison(aggregate(collect_runs(root)), "mnist", "pixelcnn_vae")
    aolr = rows[0][1]["aolr"]
    assert aolr.beta == pytest.approx(0.55) and aolr.difference == pytest.approx(0.05)
    assert math.isnan(aolr.difference_se)
    assert "| 0.3 | CMI-VAE | 1 | 3.00 | 1.00 | 1.00 | +0.00 | 0.6000 | 0.5500 | +0.0500 |" in matched_markdown(
        rows, "pixelcnn_vae")


def test_the_elbo_is_the_beta_curves_gamma_0_point_not_a_method_read_against_it(tmp_path: Path) -> None:
    root = tmp_path / "with-elbo"
    for method, gamma, kl, aolr in (("elbo", 0.0, 1.0, 0.4), ("beta", 0.5, 6.0, 0.7), ("cmi", 0.9, 3.0, 0.6)):
        write_run(root, f"{method}-{kl}", "mnist", "pixelcnn_vae", method, gamma, 0,
                  {"elbo": -90.0, "neg_elbo": 90.0, "recon": 90.0 - kl, "kl_z": kl}, {"aolr": aolr, "mi_zs": 1.0})
    rows = matched_comparison(aggregate(collect_runs(root)), "mnist", "pixelcnn_vae")
    assert [g.method for g, _ in rows] == ["cmi"]  # the ELBO is a point of the curve, not compared with it
    aolr = rows[0][1]["aolr"]  # KL(z) 3 lies 2/5 of the way from the ELBO (1, 0.4) to beta-VAE (6, 0.7)
    assert aolr.beta == pytest.approx(0.52) and aolr.difference == pytest.approx(0.08) and not aolr.at_end


def test_figures_are_written_as_png(sweep_dir: Path, tmp_path: Path) -> None:
    rows = collect_runs(sweep_dir)
    groups = aggregate(rows)
    for path in (plot_figure3(groups, "fashion-mnist", tmp_path / "f3.png", model="pixelcnn_vae"),
                 plot_figure4(groups, "synthetic-speech", "dsae", tmp_path / "f4.png"),
                 gather_samples(rows, "fashion-mnist", tmp_path)):
        assert path is not None and path.read_bytes().startswith(PNG)
    assert len(list((tmp_path / "samples").glob("*.png"))) == 4  # seed 0 of 2 methods x 2 gammas
    assert plot_figure3(groups, "mnist", tmp_path / "none.png", model="pixelcnn_vae") is None


def test_the_matched_table_counts_collapsed_seeds(sweep_dir: Path) -> None:
    write_run(sweep_dir, "img-cmi-collapsed", "fashion-mnist", "pixelcnn_vae", "cmi", 0.3, 7,
              {"elbo": -90.0, "neg_elbo": 90.0, "recon": 89.9, "kl_z": 0.1}, {"aolr": 0.1, "aosvm": 0.1})
    groups = aggregate(collect_runs(sweep_dir))
    cmi = next(g for g in groups if g.dataset == "fashion-mnist" and g.method == "cmi" and g.gamma == 0.3)
    assert cmi.n == 4 and cmi.collapsed == 1
    assert all(g.collapsed == 0 for g in groups if g is not cmi)
    text = matched_markdown(matched_comparison(groups, "fashion-mnist", "pixelcnn_vae"), "pixelcnn_vae")
    assert "| 0.3 | CMI-VAE | 4 (1 collapsed) |" in text and "| 0.1 | CMI-VAE | 3 |" in text


def test_the_probe_figure_draws_every_run_and_clips_a_collapsed_one(sweep_dir: Path, tmp_path: Path) -> None:
    write_run(sweep_dir, "img-cmi-collapsed", "fashion-mnist", "pixelcnn_vae", "cmi", 0.3, 7,
              {"elbo": -90.0, "neg_elbo": 90.0, "recon": 89.9, "kl_z": 0.1}, {"aolr": 0.1, "aosvm": 0.1})
    rows = collect_runs(sweep_dir)
    groups = aggregate(rows)
    panels = z_probe_panels([g for g in groups if g.dataset == "fashion-mnist"])
    assert panels == [("aolr", "AoLR (raw)"), ("aosvm", "AoSVM")]
    path = plot_probes(rows, groups, "fashion-mnist", "pixelcnn_vae", tmp_path / "probes.png", panels)
    assert path is not None and path.read_bytes().startswith(PNG)
    assert plot_probes(rows, groups, "mnist", "pixelcnn_vae", tmp_path / "none.png", panels) is None
    text = build_report(sweep_dir, tmp_path / "report").read_text()
    assert "![probes](probe_curves_fashion-mnist_pixelcnn_vae.png)" in text
    assert (tmp_path / "report" / "probe_curves_fashion-mnist_pixelcnn_vae.png").exists()


def test_report_shows_tables_figures_failures_and_paper(sweep_dir: Path, tmp_path: Path, monkeypatch,
                                                        capsys) -> None:
    out = tmp_path / "report"
    assert cli.main(["report", str(sweep_dir), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    for needle in ("## Fashion-MNIST · PixelCNN-VAE", "## synthetic speech · DSAE", "Table 5-style",
                   "Table 1-style", "Table 2-style", "Table 3-style", "![Figure 3](figure3_fashion-mnist.png)",
                   "![Figure 4](figure4_synthetic-speech_dsae.png)", "![Figure 5](figure5_fashion-mnist.png)",
                   "`img-mi-failed`", "nan at step 3", "`img-mi-unfinished`", "unfinished",
                   "ddof = 1", "Paper Table 4", "DSAE* (Li & Mandt 2018)",
                   "At the same KL(z)", "`matched_kl_fashion-mnist_pixelcnn_vae.csv`"):
        assert needle in text, needle
    with open(out / "matched_kl_fashion-mnist_pixelcnn_vae.csv") as handle:
        matched = list(csv.DictReader(handle))
    assert [(m["method"], float(m["gamma"])) for m in matched] == [("cmi", 0.1), ("cmi", 0.3)]
    assert float(matched[0]["aolr_diff"]) == pytest.approx(0.05)
    for name in ("runs.csv", "summary.csv", "table5_fashion-mnist_pixelcnn_vae.csv",
                 "table3_synthetic-speech_dsae.csv", "figure3_fashion-mnist.png"):
        assert (out / name).exists(), name
    with open(out / "runs.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 20
    assert build_report(sweep_dir, tmp_path / "again", with_paper=False).read_text().count("paper") < \
        text.count("paper")
    assert cli.main(["report", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no run directories" in capsys.readouterr().err


def test_report_says_what_each_run_computed_at(tmp_path: Path) -> None:
    """config.json's ``numerics`` record (``train.precision: auto`` resolves per machine kind) is
    read into the row, listed in runs.csv and tallied under each section's budget; runs without
    one are counted as not recorded, and a resumed segment at another precision is named."""
    root = tmp_path / "sweep"
    record = {"precision": "fp32", "device": "cpu", "cpu_capability": "AVX2", "cpu_native_bf16": False}
    later = {"precision": "bf16", "device": "cuda", "cpu_capability": "AVX512", "cpu_native_bf16": True,
             "gpu": "NVIDIA H200"}
    for seed, extra in ((0, {"numerics": record}), (1, {"numerics": record, "numerics_resumed": [later]}), (2, {})):
        run = write_run(root, f"r{seed}", "fashion-mnist", "pixelcnn_vae", "beta", 0.5, seed,
                        {"elbo": -90.0, "kl_z": 5.0, "recon": 85.0})
        saved = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**saved, **extra}))
    rows = {r.run_id: r for r in collect_runs(root)}
    assert rows["r0"].numerics == "fp32 on cpu (AVX2)"
    assert rows["r1"].numerics == "fp32 on cpu (AVX2), resumed at bf16 on cuda (NVIDIA H200)"
    assert rows["r2"].numerics == ""
    text = build_report(root, tmp_path / "out", with_paper=False).read_text()
    assert ("Computed at (config.json `numerics`): fp32 on cpu (AVX2): 1 run; fp32 on cpu (AVX2), resumed at bf16 "
            "on cuda (NVIDIA H200): 1 run; not recorded: 1 run") in text
    with open(tmp_path / "out" / "runs.csv") as handle:
        assert {r["run_id"]: r["numerics"] for r in csv.DictReader(handle)}["r0"] == "fp32 on cpu (AVX2)"


def test_reports_never_import_models() -> None:
    code = ("import sys; import cmivae.reports.report, cmivae.reports.collect, cmivae.reports.tables, "
            "cmivae.reports.plots; assert 'torch' not in sys.modules, 'reports imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paper_tables_are_consistent() -> None:
    assert [len(TABLES[n].rows) for n in (1, 2, 3, 4, 5)] == [10, 12, 9, 22, 28]
    for number in (4, 5):  # the printed "ELBO" is Recon + KL(z)
        for row in TABLES[number].rows:
            assert row.values["neg_elbo"] == pytest.approx(row.values["kl_z"] + row.values["recon"], abs=0.011)
    for row in TABLES[3].rows:  # the true ELBO: -(Recon + KL(z) + KL(s))
        v = row.values
        assert v["elbo"] == pytest.approx(-(v["recon"] + v["kl_z"] + v["kl_s"]), abs=0.011)
        assert set(row.se) == set(v)
    for row in TABLES[1].rows[1:]:  # Table 1 repeats Table 3's means
        full = paper_row(3, row.method, row.gamma)
        assert full is not None and all(full.values[k] == row.values[k] for k in ("kl_z", "eer_z", "eer_s"))
    for row in TABLES[2].rows:
        assert row.values["vc_mcas"] <= row.values["vc_mcas_max"]
    spot = paper_row(4, "cmi", 0.3)
    assert spot is not None and spot.values["aolr"] == 0.8630 and spot.values["mi_zs"] == 1.80
    spot = paper_row(5, "mi", 0.9)
    assert spot is not None and spot.values["aosvm"] == 0.6882
    assert paper_row(2, "cmi", 0.9999).values == {"vc_mcas": 87.73, "vc_mcas_max": 88.0}  # type: ignore[union-attr]


def test_a_new_model_and_objective_get_a_table_with_no_report_edit(tmp_path: Path) -> None:
    """Tables come from the metric keys present; labels fall back to the registry names."""
    root = tmp_path / "new"
    for seed in (0, 1):
        write_run(root, f"toy-{seed}", "mnist", "toy_vae", "toy_reg", 0.2, seed,
                  {"elbo": -90.0 - seed, "kl_z": 4.0, "recon": 86.0, "best_epoch": 3}, {"aolr": 0.7, "toy_score": 1.5})
    report = build_report(root, tmp_path / "out", with_paper=False)
    text = report.read_text()
    assert "## MNIST · toy_vae" in text and "| 0.2 | toy_reg | ours | 2 |" in text
    assert "AoLR" in text and "toy_score" in text and "best_epoch" not in text
    assert (tmp_path / "out" / "metrics_mnist_toy_vae.csv").exists()


def test_matched_readings_take_every_protocol_of_the_z_probes_but_not_the_s_probes() -> None:
    from cmivae.reports.tables import Group

    group = Group("fashion-mnist", "pixelcnn_vae", "beta", 0.1,
                  mean={"aolr": 0.7, "aosvm": 0.7, "aoknn_cv": 0.8, "aosvm_white_cv": 0.75, "aolr_cv_all": 0.8,
                        "s_aolr_cv": 0.5, "mcas_std": 0.6})
    extra = extra_matched_metrics([group], "fashion-mnist", "pixelcnn_vae")
    assert [key for key, *_ in extra] == ["aoknn_cv", "aolr_cv_all", "aosvm_white_cv", "mcas_std", "aosvm"]
    assert dict((key, header) for key, header, *_ in extra)["aoknn_cv"] == "AoKNN (raw, CV)"
