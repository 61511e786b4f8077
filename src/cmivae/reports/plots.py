"""The paper's figures from aggregated runs (matplotlib, Agg backend, PNG files).

- Figure 3: AoLR and mCAS against KL(z), one curve per method along gamma, each point
  annotated with its gamma (Sec. 5.3); the baseline score as a black horizontal line.
- Figure 4: the estimated I(z; s) against beta = 1 - gamma, one curve per method
  (appendix A; the paper's figure is DSAE with beta-VAE).
- KL(z) by update: each run's validation KL(z) epoch by epoch (is training settled, does a
  method's KL(z) gap to beta-VAE close with more updates).
- Figure 5: each run's ``samples.png`` gathered into one page per data set, methods in
  rows and gammas in columns (appendix K.3).

The paper's published points (Tables 3-5) are drawn dashed and labelled "paper".
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from cmivae.reports.collect import (  # noqa: E402
    TRAITS,
    RunRow,
    _method_rank,
    method_label,
    model_label,
    val_kl_by_epoch,
)
from cmivae.reports.paper_results import TABLES, paper_tables  # noqa: E402
from cmivae.reports.tables import DATASET_LABELS, Group  # noqa: E402
from cmivae.runs import files  # noqa: E402

# Colours of the methods that declare none (variants cmi+..., beta+..., objectives with no plot_color):
# none is red, gray, blue or green, the colours the paper's methods declare.
VARIANT_COLORS = ["tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
SPARE_COLORS = VARIANT_COLORS + ["black", "gold", "lime", "navy"]


def declared_color(method: str) -> str | None:
    """The colour ``method``'s objective class declares (``plot_color``, read from its runs' traits);
    None for a variant (``cmi+critic=mlp``) or an objective that declares none."""
    return None if "+" in method else TRAITS.objective_trait(method, files.PLOT_COLOR) or None


def declared_marker(method: str) -> str:
    """The marker ``method``'s objective class declares (``plot_marker``); ``o`` for a variant or none."""
    return ("+" not in method and TRAITS.objective_trait(method, files.PLOT_MARKER)) or "o"


def method_colors(methods: list[str], spare: list[str]) -> dict[str, str]:
    """Each method's declared colour; the methods that declare none (variants, objectives with no
    ``plot_color``) take the ``spare`` colours in turn, in the order given."""
    others = [m for m in methods if declared_color(m) is None]
    return {m: declared_color(m) or spare[others.index(m) % len(spare)] for m in methods}


def _write_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Lay out, write (PNG, 110 dpi) and close ``fig``; the path written."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _nan_to_zero(value: float | None) -> float:
    return 0.0 if value is None or math.isnan(value) else value


def _by_method(groups: list[Group]) -> dict[str, list[Group]]:
    curves: dict[str, list[Group]] = {}
    for group in sorted(groups, key=lambda g: (_method_rank(g.method), g.gamma)):
        curves.setdefault(group.method, []).append(group)
    return curves


def _paper_curves(dataset: str, model: str, key: str) -> dict[str, list[tuple[float, dict[str, float]]]]:
    """{method: [(gamma, values)]} of the paper table about this data set and model."""
    numbers = paper_tables(dataset, model, key)
    curves: dict[str, list[tuple[float, dict[str, float]]]] = {}
    for number in numbers:
        for row in TABLES[number].rows:
            if key in row.values:
                curves.setdefault(row.method, []).append((row.gamma, row.values))
    for points in curves.values():
        points.sort(key=lambda point: point[0])
    return curves


def plot_figure3(groups: list[Group], dataset: str, path: str | Path, *, model: str,
                 with_paper: bool = True) -> Path | None:
    """AoLR (left) and mCAS (right) against KL(z) for one image data set; ``None`` if no
    group has KL(z) with AoLR or mCAS."""
    chosen = [g for g in groups if g.dataset == dataset and g.model == model and "kl_z" in g.mean]
    panels = [key for key in ("aolr", "mcas") if any(key in g.mean for g in chosen)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        for method, curve in _by_method([g for g in chosen if key in g.mean]).items():
            xs = [g.mean["kl_z"] for g in curve]
            ys = [g.mean[key] for g in curve]
            ax.errorbar(xs, ys, xerr=[_nan_to_zero(g.se.get("kl_z")) for g in curve],
                        yerr=[_nan_to_zero(g.se.get(key)) for g in curve], color=declared_color(method),
                        marker=declared_marker(method), capsize=2, label=f"{method_label(method)} (ours)")
            for g, x, y in zip(curve, xs, ys, strict=True):
                ax.annotate(f"{g.gamma:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7,
                            color=declared_color(method))
        if with_paper:
            for method, points in _paper_curves(dataset, model, key).items():
                ax.plot([v["kl_z"] for _, v in points], [v[key] for _, v in points], linestyle="--", alpha=0.5,
                        color=declared_color(method), marker=declared_marker(method), markersize=3,
                        label=f"{method_label(method)} (paper)")
        if key == "mcas":
            baselines = [g.mean["baseline"] for g in chosen if "baseline" in g.mean]
            if baselines:
                ax.axhline(sum(baselines) / len(baselines), color="black", linewidth=1, label="baseline (ours)")
        ax.set_xlabel("KL(z) (nats)")
        ax.set_ylabel({"aolr": "AoLR", "mcas": "mCAS"}[key])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Figure 3-style: {DATASET_LABELS.get(dataset, dataset)}\n(points annotated with γ; "
                 f"upper left is better)", fontsize=11)  # two lines: one panel is 6 inches wide
    return _write_figure(fig, path)


def plot_figure4(groups: list[Group], dataset: str, model: str, path: str | Path, *,
                 with_paper: bool = True) -> Path | None:
    """Estimated I(z; s) against beta = 1 - gamma, one curve per method; ``None`` if no group has it."""
    chosen = [g for g in groups if g.dataset == dataset and g.model == model and "mi_zs" in g.mean]
    if not chosen:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    betas = []
    for method, curve in _by_method(chosen).items():
        xs = [1.0 - g.gamma for g in curve]
        betas += xs
        ax.errorbar(xs, [g.mean["mi_zs"] for g in curve], yerr=[_nan_to_zero(g.se.get("mi_zs")) for g in curve],
                    color=declared_color(method), marker=declared_marker(method), capsize=2,
                    label=f"{method_label(method)} (ours)")
    if with_paper:
        elsewhere = sorted({TABLES[n].dataset for n in paper_tables(dataset, model, "mi_zs")} - {dataset})
        source = f"paper, {', '.join(DATASET_LABELS.get(d, d) for d in elsewhere)}" if elsewhere else "paper"
        for method, points in _paper_curves(dataset, model, "mi_zs").items():
            xs = [1.0 - gamma for gamma, _ in points]
            betas += xs
            ax.plot(xs, [v["mi_zs"] for _, v in points], linestyle="--", alpha=0.5, color=declared_color(method),
                    marker=declared_marker(method), markersize=3, label=f"{method_label(method)} ({source})")
    if betas and min(betas) > 0 and max(betas) / min(betas) > 20:
        ax.set_xscale("log")
    return _save_figure(fig, ax, path, xlabel="β = 1 − γ", ylabel="Î(z; s) (nats)",
                        title=f"Figure 4-style: {_where(dataset, model)}", title_size=None)


def plot_critic_logits(rows: list[RunRow], dataset: str, model: str, path: str | Path) -> Path | None:
    """The critic's mean logit on positives against KL(z), epoch by epoch, one line per
    adversarial run (``metrics.jsonl``: training means of each epoch), beside the line
    logit = KL(z).

    With an exact critic the positive mean logit is D_KL(q(z,s) || p(z)q(s)) = I(z;s) +
    D_KL(q(z)||p(z)), which equals KL(z) when s is sufficient for x: an expressive critic
    (``objective.critic=mlp``) should follow that line as KL(z) changes, the paper's critic
    (linear in z, capped at 75 % accuracy) stays flat. ``None`` if no run logged the logit.
    """
    from cmivae.runs.readers import read_history

    mine = [r for r in rows if r.dataset == dataset and r.model == model and "critic_logit_pos" in r.metrics]
    if not mine:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    methods = sorted({r.method for r in mine}, key=lambda m: (_method_rank(m), m))
    palette = plt.get_cmap("tab10")
    top, highest = 0.0, 0.0
    for i, method in enumerate(methods):
        color = palette(i % 10)
        for j, row in enumerate(sorted((r for r in mine if r.method == method), key=lambda r: (r.gamma, r.seed))):
            points = [(h["train"]["kl_z"], h["train"]["critic_logit_pos"]) for h in read_history(row.path)
                      if isinstance(h.get("train"), dict) and {"kl_z", "critic_logit_pos"} <= set(h["train"])]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            top, highest = max(top, *xs, *ys), max(highest, *ys)
            ax.plot(xs, ys, color=color, alpha=0.35, linewidth=1)
            ax.plot(xs[-1:], ys[-1:], color=color, marker=declared_marker(method.split("+")[0]), linestyle="",
                    label=method_label(method) if j == 0 else None)
    ax.plot([0, top], [0, top], color="black", linestyle="--", linewidth=1, label="logit = KL(z) (exact critic)")
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), max(2.0 * highest, 1.0))  # the logits, not the line, fill the panel
    return _save_figure(fig, ax, path, xlabel="KL(z) (nats; training mean of each epoch)",
                              ylabel="critic mean logit on positives (nats)",
                              title=f"Critic logit against KL(z): {_where(dataset, model)}"
                                    "\n(lines: epochs of one run; marker: its last epoch)")


def plot_probes(rows: list[RunRow], groups: list[Group], dataset: str, model: str, path: str | Path,
                probes: list[tuple[str, str]]) -> Path | None:
    """One panel per probe on z (``probes``: ``[(key, label)]``, e.g. AoLR raw, AoLR C=100 and AoSVM):
    every run as a point at its KL(z), each method's group means joined in order of KL(z).

    Figure 3 reads AoLR at the group means; this shows what the means hide — seeds that
    collapse z (a point near KL(z) = 0 at chance) and probes that disagree on which method is
    above the β-VAE curve at the same KL(z) (study/findings/q5-strong-decoder.md, tenth session). ``None`` if no
    run has KL(z) and one of the probes."""
    mine = [r for r in rows if r.dataset == dataset and r.model == model and "kl_z" in r.metrics]
    panels = [(key, label) for key, label in probes if any(key in r.metrics for r in mine)]
    if not panels:
        return None
    methods = sorted({r.method for r in mine}, key=lambda m: (_method_rank(m), m))
    colors = method_colors(methods, SPARE_COLORS)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        values = sorted(r.metrics[key] for r in mine if key in r.metrics)
        q1, q3 = values[len(values) // 4], values[(3 * len(values)) // 4]
        floor = min(v for v in values if v >= q1 - 3 * max(q3 - q1, 0.005))  # far-low points (collapsed z) clipped
        floor -= 0.1 * (values[-1] - floor + 1e-3)
        clipped = 0
        for method in methods:
            runs = [r for r in mine if r.method == method and key in r.metrics]
            if not runs:
                continue
            marker = declared_marker(method.split("+")[0])
            ys = [r.metrics[key] for r in runs]
            clipped += sum(y < floor for y in ys)
            ax.plot([r.metrics["kl_z"] for r in runs], [max(y, floor) for y in ys], linestyle="", marker=marker,
                    markersize=4, alpha=0.45, color=colors[method])
            means = sorted((g.mean["kl_z"], g.mean[key]) for g in groups if g.dataset == dataset and g.model == model
                           and g.method == method and "kl_z" in g.mean and key in g.mean)
            clipped += sum(y < floor for _, y in means)
            ax.plot([x for x, _ in means], [max(y, floor) for _, y in means], color=colors[method], marker=marker,
                    markersize=7, label=method_label(method))
        ax.set_ylim(floor - 0.02 * (values[-1] - floor), values[-1] + 0.05 * (values[-1] - floor))
        ax.set_xlabel("KL(z) (nats)")
        ax.set_ylabel(label + (f" ({clipped} far below: drawn at the bottom edge)" if clipped else ""),
                      fontsize=8 if clipped else None)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Probes on z against KL(z): {_where(dataset, model)} (small: each run; joined: means)", fontsize=10)
    return _write_figure(fig, path)


def _where(dataset: str, model: str) -> str:
    return f"{DATASET_LABELS.get(dataset, dataset)}, {model_label(model)}"


def _save_figure(fig: plt.Figure, ax: plt.Axes, path: str | Path, *, xlabel: str, ylabel: str, title: str,
                 title_size: float | None = 9) -> Path:
    """Label, grid and legend a one-axes figure (Figure 4, the per-epoch figures), write it to
    ``path`` and close it; ``title_size`` None keeps matplotlib's default."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, **({"fontsize": title_size} if title_size is not None else {}))
    return _write_figure(fig, path)


def plot_kl_by_update(rows: list[RunRow], dataset: str, model: str, path: str | Path) -> Path | None:
    """Validation KL(z) against VAE updates, one line per run (:func:`val_kl_by_epoch`: each
    epoch's ``val.kl_z`` at its ``step``), colored by method, one line style per gamma.

    Shows whether KL(z) had settled when training stopped and whether a method's KL(z) gap
    to beta-VAE at the same gamma closes with more updates (study question 4). ``None`` if no
    run logged a validation KL(z).
    """
    mine = sorted((r for r in rows if r.dataset == dataset and r.model == model),
                  key=lambda r: (_method_rank(r.method), r.method, r.gamma, r.seed))
    styles = ["-", "--", ":", "-."]
    gammas = sorted({round(r.gamma, 6) for r in mine})
    methods = sorted({r.method for r in mine}, key=lambda m: (_method_rank(m), m))
    colors = method_colors(methods, VARIANT_COLORS)  # a variant never takes red
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    labelled: set[tuple[str, float]] = set()
    single, last_step = True, 0  # every run drawn has one point; the last update drawn
    for row in mine:
        points = list(val_kl_by_epoch(row).values())  # (step, KL(z)) per epoch, a resumed epoch once
        if not points:
            continue
        single, last_step = single and len(points) == 1, max(last_step, max(step for step, _ in points))
        xs, ys = zip(*points, strict=True)
        key = (row.method, round(row.gamma, 6))
        ax.plot(xs, ys, color=colors[row.method], linestyle=styles[gammas.index(key[1]) % len(styles)],
                marker=declared_marker(row.method.split("+")[0]), markersize=3, alpha=0.8,
                label=f"{method_label(row.method)}, γ {row.gamma:g}" if key not in labelled else None)
        labelled.add(key)
    if not labelled:
        plt.close(fig)
        return None
    ax.set_xlim(0, max(last_step, 1) * 1.05)  # updates from 0: one epoch's point is not alone on a 3-update axis
    shown = ("one point per run: each logged one epoch" if single else
             "one line per run, one point per epoch")
    return _save_figure(fig, ax, path, xlabel="VAE updates", ylabel="KL(z) on the validation set (nats)",
                              title=f"KL(z) during training: {_where(dataset, model)}\n({shown})")


def gather_samples(rows: list[RunRow], dataset: str, out_dir: str | Path, *, png: str = "samples",
                   title: str | None = None) -> Path | None:
    """Copy every run's ``samples.png`` (``png="swaps"``: ``swaps.png``, a video run's swap grid) of one data
    set to ``out_dir/<png>/`` and draw one page ``figure5_<dataset>.png`` (``<png>_<dataset>.png``): methods in
    rows, gammas in columns, the lowest seed of each; ``None`` if none."""
    def source(row: RunRow) -> Path | None:
        path = row.samples if png == "samples" else row.path / f"{png}.png"
        return path if path is not None and path.exists() else None

    with_samples = [r for r in rows if r.dataset == dataset and source(r) is not None]
    if not with_samples:
        return None
    out_dir = Path(out_dir)
    copies = out_dir / png
    copies.mkdir(parents=True, exist_ok=True)
    chosen: dict[tuple[str, float], tuple[RunRow, Path]] = {}
    for row in sorted(with_samples, key=lambda r: r.seed):
        found = source(row)
        assert found is not None
        target = copies / f"{dataset}-{row.model}-{row.method}-g{row.gamma:g}-seed{row.seed}-{row.run_id}.png"
        shutil.copyfile(found, target)
        chosen.setdefault((row.method, row.gamma), (row, target))
    methods = sorted({m for m, _ in chosen}, key=_method_rank)
    gammas = sorted({g for _, g in chosen})
    if png == "samples":
        fig, axes = plt.subplots(len(methods), len(gammas), figsize=(3.2 * len(gammas), 3.4 * len(methods)),
                                 squeeze=False)
        cells = {key: axes[methods.index(key[0])][gammas.index(key[1])] for key in chosen}
    else:  # wide grids (T frames side by side): one per line, methods then gammas
        keys = sorted(chosen, key=lambda k: (_method_rank(k[0]), k[1]))
        fig, axes = plt.subplots(len(keys), 1, figsize=(14, 2.6 * len(keys)), squeeze=False)
        cells = {key: axes[i][0] for i, key in enumerate(keys)}
    for ax in axes.flat:
        ax.axis("off")
    for (method, gamma), ax in cells.items():
        row, target = chosen[(method, gamma)]
        ax.imshow(plt.imread(target))
        ax.set_title(f"{method_label(method)} γ={gamma:g} (seed {row.seed})", fontsize=8)
    fig.suptitle(title or f"Figure 5-style: samples, {DATASET_LABELS.get(dataset, dataset)} (first column real, "
                          f"then samples from p(x|z) with the same z)", fontsize=9)
    return _write_figure(fig, out_dir / (f"figure5_{dataset}.png" if png == "samples" else f"{png}_{dataset}.png"))
