"""``cmivae report SWEEP_DIR --out REPORT_DIR``: tables and figures in one Markdown page.

Writes into REPORT_DIR:

- ``report.md``: per (data set, model) the paper-shaped tables (ours, with the paper's
  published rows labelled "paper" beside them), Figures 3-5, the failed and unfinished
  runs, and the transcribed paper tables of the model families it has, for reference;
- ``table<N>_<dataset>_<model>.csv`` per table, ``matched_kl_<dataset>_<model>.csv`` (each
  method against the beta-VAE curve at the same KL(z), :mod:`cmivae.reports.matched`),
  ``summary.csv`` (every group and metric:
  mean, SE, max, count), ``runs.csv`` (every run);
- ``figure3_<dataset>.png``, ``figure4_<dataset>_<model>.png``, ``figure5_<dataset>.png``
  and ``samples/`` (copies of each run's ``samples.png``); for video runs ``swaps_<dataset>.png`` and
  ``swaps/`` (each run's swap grid) and the judge that scored them (:mod:`cmivae.reports.video`).

Everything is read from run directories (:mod:`cmivae.reports.collect`); no model code runs.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from cmivae.infra.atomic import atomic_write_text, broken_link
from cmivae.infra.errors import ConfigError
from cmivae.reports.collect import RunRow, collect_runs, method_label, model_label
from cmivae.reports.diagnostics import (
    CRITIC_NOTE,
    KL_GAP_NOTE,
    PROBE_NOTE,
    critic_table,
    extra_matched_metrics,
    kl_gap_table,
    probe_table,
    z_probe_panels,
)
from cmivae.reports.matched import matched_comparison, matched_markdown, write_matched_csv
from cmivae.reports.paper_results import PAPER_BUDGET, family_tables
from cmivae.reports.plots import (
    gather_samples,
    plot_critic_logits,
    plot_figure3,
    plot_figure4,
    plot_kl_by_update,
    plot_probes,
)
from cmivae.reports.tables import (
    DATASET_LABELS,
    Group,
    aggregate,
    paper_table,
    tables_for,
    write_runs_csv,
    write_summary_csv,
)
from cmivae.reports.video import video_lines

CONVENTIONS = """\
Conventions. Each "ours" cell is the mean ± standard error over seeds, SE = sample standard
deviation (ddof = 1) / sqrt(n), n = the number of seeds (SE left out for n = 1). Rows labelled
"paper" are the published numbers transcribed from the paper (Tables 1-5), not our runs;
"paper (TIMIT)" marks TIMIT numbers shown beside runs on another speech data set, for the
direction of effects only. Image tables show -ELBO = Recon + KL(z) (the paper's Tables 4-5
print this as "ELBO"); the DSAE table shows the ELBO itself, -(Recon + KL(z) + KL(s)), as
the paper's Table 3 does. All in nats per example, not divided by pixels or frames.
Accuracies (AoLR, mCAS, ...) are fractions; EER and VC-mCAS are percentages. Î(z; s) is the
density-ratio estimate of appendix A (nats)."""

MATCHED_NOTE = """\
Equal γ does not mean equal KL(z). Each row reads the β-VAE curve (its group means over γ,
γ = 0 included, sorted by KL(z)) at the row's mean KL(z) by linear interpolation; Δ = the
method − that β-VAE value, ± sqrt(SE_method² + SE_β-VAE²). No extrapolation outside the
β-VAE curve's KL(z) range, except that a KL(z) beyond the curve's end point by no more than the
combined SE of the two KL(z) means is read at that point, marked "(curve end)". An n marked
"(k collapsed)" counts k seeds whose KL(z) ended below 1 nat (z unused, probes at chance): the group
mean then mixes two outcomes; `python study/scripts/matched_by_seed.py` reads each seed at its own KL(z)."""


def _status_lines(rows: list[RunRow]) -> list[str]:
    finished = sum(r.finished for r in rows)
    evaluated = sum(r.evaluated for r in rows)
    failed = [r for r in rows if r.error]
    return [f"- run directories: {len(rows)}", f"- finished training (results.json): {finished}",
            f"- evaluated (eval.json): {evaluated}",
            f"- last sweep attempt failed (sweep_error.json): {len(failed)}",
            f"- unfinished: {len(rows) - finished}",
            f"- with damaged files (listed below): {sum(bool(r.damaged) for r in rows)}"]


def _numerics_line(groups: list[Group]) -> str:
    """How many finished runs of a section computed at what (``config.json``'s ``numerics``), so a
    table of ``train.precision: auto`` runs says whether they ran in bf16 or fp32."""
    counts = Counter(text for g in groups for text in g.numerics)
    parts = [f"{text}: {n} run{'s' if n != 1 else ''}" for text, n in sorted(counts.items()) if text]
    if counts[""]:
        parts.append(f"not recorded: {counts['']} run{'s' if counts[''] != 1 else ''} (trained before config.json kept "
                     f"`numerics`; `train.precision: auto` resolves per machine kind: bf16 where it has bf16 "
                     f"kernels, fp32 on a CPU without)")
    return f"Computed at (config.json `numerics`): {'; '.join(parts)}."


def _section(groups: list[Group], dataset: str, model: str, out_dir: Path, with_paper: bool) -> list[str]:
    """The budget, tables, the matched-KL comparison and Figures 3-4 of one (dataset, model)."""
    budgets = sorted({g.budget for g in groups})
    lines = [f"Budget of these runs: {'; '.join(budgets)}." + (
        f" The paper's: {PAPER_BUDGET[model]}." if model in PAPER_BUDGET else ""), "", _numerics_line(groups), ""]
    for table in tables_for(groups):
        table.write_csv(out_dir / f"{table.name}.csv")
        lines += [f"### {table.title}", "", table.to_markdown(), "", f"CSV: `{table.name}.csv`", ""]
    extra = extra_matched_metrics(groups, dataset, model)
    matched = matched_comparison(groups, dataset, model, extra)
    if matched:
        name = f"matched_kl_{dataset}_{model}.csv"
        write_matched_csv(matched, model, out_dir / name, extra)
        lines += ["### At the same KL(z): each method against the β-VAE curve", "", MATCHED_NOTE, "",
                  matched_markdown(matched, model, extra), "", f"CSV: `{name}`", ""]
    for table, note in ((probe_table(groups, dataset, model), PROBE_NOTE),
                        (critic_table(groups, dataset, model), CRITIC_NOTE)):
        if table is not None:
            table.write_csv(out_dir / f"{table.name}.csv")
            lines += [f"### {table.title}", "", note, "", table.to_markdown(), "", f"CSV: `{table.name}.csv`", ""]
    if any(key in g.mean for g in groups for key in ("aolr", "mcas")):  # Figure 3 plots these against KL(z)
        figure = plot_figure3(groups, dataset, out_dir / f"figure3_{dataset}.png", model=model,
                              with_paper=with_paper)
        if figure is not None:
            lines += ["### Figure 3: AoLR and mCAS against KL(z)", "", f"![Figure 3]({figure.name})", ""]
    figure = plot_figure4(groups, dataset, model, out_dir / f"figure4_{dataset}_{model}.png",
                          with_paper=with_paper)
    if figure is not None:
        lines += ["### Figure 4: Î(z; s) against β = 1 − γ", "", f"![Figure 4]({figure.name})", ""]
    return lines


def _paper_reference(groups: list[Group]) -> list[str]:
    """The transcribed paper tables about the model families of ``groups`` (:func:`family_tables`), and one
    line naming the (data set, model) sections the paper has no table for."""
    lines = []
    for number in family_tables(g.model for g in groups):
        table = paper_table(number)
        lines += [f"### {table.title}", "", table.to_markdown(), ""]
    uncovered = sorted({(g.dataset, g.model) for g in groups if not family_tables([g.model])})
    if uncovered or not groups:
        names = ", ".join(f"{DATASET_LABELS.get(d, d)} · {model_label(m)}" for d, m in uncovered)
        lines += [f"The paper has no table for {names or 'these runs (none finished)'}: no published numbers "
                  f"to set beside them.", ""]
    return lines


def build_report(roots: str | Path | list[str | Path], out_dir: str | Path, *, with_paper: bool = True) -> Path:
    """Collect every run under ``roots`` (sweep or run directories) and write the report.

    Returns:
        The path of ``report.md``.

    Raises:
        ConfigError: if no run directory is found under ``roots``.
    """
    if (broken := broken_link(out_dir)) is not None:  # else mkdir says only "File exists"
        raise ConfigError(f"--out {broken}")
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    rows = collect_runs(roots)
    if not rows:
        raise ConfigError(f"no run directories (with config.json) under {', '.join(map(str, roots))}; "
                          f"give a sweep directory (cmivae sweep --out) or run directories")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    usable = [r for r in rows if r.usable]  # damaged config.json: listed below, not in tables or figures
    groups = aggregate(usable)
    write_runs_csv(rows, out_dir / "runs.csv")
    write_summary_csv(groups, out_dir / "summary.csv")

    lines = ["# cmivae report", "",
             f"Built {time.strftime('%Y-%m-%d %H:%M')} from {', '.join(f'`{r}`' for r in roots)}.", "",
             *_status_lines(rows), "", CONVENTIONS, "",
             "Files: `summary.csv` (every group and metric), `runs.csv` (every run), one CSV per table.", ""]
    for dataset, model in sorted({(g.dataset, g.model) for g in groups}):
        lines += [f"## {DATASET_LABELS.get(dataset, dataset)} · {model_label(model)}", ""]
        mine = [g for g in groups if g.dataset == dataset and g.model == model]
        lines += _section(mine, dataset, model, out_dir, with_paper)
        lines += video_lines(usable, dataset, model, out_dir)  # video runs: the judge and the swap grids
        figure = plot_critic_logits(usable, dataset, model,
                                    out_dir / f"critic_logit_{dataset}_{model}.png")
        if figure is not None:
            lines += ["### The critic's mean logit against KL(z), epoch by epoch", "",
                      "An exact critic's positive mean logit is D_KL(q(z,s) || p(z)q(s)), which equals KL(z) when "
                      "s is sufficient for x (the dashed line); a critic that cannot represent the density ratio "
                      "stays off it.", "", f"![critic logit]({figure.name})", ""]
        probes = z_probe_panels(mine)
        figure = plot_probes(usable, mine, dataset, model, out_dir / f"probe_curves_{dataset}_{model}.png", probes) \
            if len(probes) > 1 else None
        if figure is not None:
            lines += ["### The probes on z against KL(z), run by run", "",
                      "AoLR under each protocol and AoSVM (the paper's RBF-SVM probe, appendix K.2), every run a "
                      "small point, each method's group means joined: the seeds a mean hides (a collapsed z sits "
                      "near KL(z) = 0 at chance) and whether the probes agree on which method is above the "
                      "β-VAE curve at the same KL(z).", "", f"![probes]({figure.name})", ""]
        figure = plot_kl_by_update(usable, dataset, model,
                                   out_dir / f"kl_by_update_{dataset}_{model}.png")
        gap = kl_gap_table(usable, dataset, model)
        if gap is not None:
            gap.write_csv(out_dir / f"{gap.name}.csv")
            lines += [f"### {gap.title}", "", KL_GAP_NOTE, "", gap.to_markdown(), "", f"CSV: `{gap.name}.csv`", ""]
        if figure is not None:
            lines += ["### KL(z) during training", "",
                      "Validation KL(z) at the end of each epoch, one line per run: whether KL(z) had settled when "
                      "training stopped, and whether a method's gap to β-VAE at the same γ closes with more updates.",
                      "", f"![KL(z) by update]({figure.name})", ""]
        page = gather_samples([r for r in rows if r.model == model], dataset, out_dir)
        if page is not None:
            lines += ["### Figure 5: samples (one seed per method and γ; all in `samples/`)", "",
                      f"![Figure 5]({page.name})", ""]

    failed = [r for r in rows if r.error or r.damaged]
    unfinished = [r for r in rows if not r.finished and not r.error and not r.damaged]
    if failed or unfinished:
        lines += ["## Failed and unfinished runs", "", "| run | dataset | method | γ | seed | state |",
                  "|---|---|---|---|---|---|"]
        for r in failed + unfinished:
            state = f"failed: {(r.error or '').splitlines()[0][:160]}" if r.error else "unfinished"
            if r.damaged:
                state = "damaged: " + "; ".join(r.damaged)[:300] + (f" ({state})" if r.error else "")
            state = state.replace("|", "\\|")
            lines.append(f"| `{r.run_id}` | {r.dataset} | {method_label(r.method)} | {r.gamma:g} | {r.seed} | "
                         f"{state} |")
        lines.append("")
    if with_paper:
        lines += ["## The paper's tables (transcribed, for reference)", "", *_paper_reference(groups)]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return report
