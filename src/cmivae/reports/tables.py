"""Aggregate runs over seeds and lay them out like the paper's Tables 1-5.

Each (dataset, model, method, gamma) group reports the mean and the standard error of
every metric over its seeds, SE = sample standard deviation (ddof = 1) / sqrt(n), with n
the number of seeds that have the metric (SE is left blank for n = 1). Table 2 reports
VC-mCAS's mean and max over seeds, as the paper does.

Columns are labelled so that signs cannot be mixed up: image tables show
``-ELBO = Recon + KL(z)`` (what the paper's Tables 4-5 print as "ELBO"), the DSAE table
shows ``ELBO = -(Recon + KL(z) + KL(s))`` (the paper's Table 3 "ELBO"). Where the paper
published a number for the same data set, model, method and gamma, a row labelled
``paper`` follows ours.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmivae.metric_names import LABELS, bound_of, is_bookkeeping, mi_train_pairs
from cmivae.models.capabilities import LOCAL_SEQUENCE
from cmivae.reports.collect import (
    CRITIC_DIAGNOSTICS,
    TRAITS,
    RunRow,
    _method_rank,
    budget_text,
    method_label,
    model_label,
    on_reference_curve,
)
from cmivae.reports.paper_results import PAPER_BUDGET, TABLES, PaperRow, paper_row, paper_tables
from cmivae.runs import files


@dataclass
class Group:
    """Runs of one (dataset, model, method, gamma), aggregated over seeds.

    Attributes:
        mean, se, max: per metric over the seeds that have it (SE nan for one seed).
        count: per metric, how many seeds have it.
        seeds: the seeds of the finished runs.
        budget: the training budget (:func:`cmivae.reports.collect.budget_text`).
        numerics: per seed, what the run computed at (:attr:`RunRow.numerics`; empty when
            not recorded).
    """

    dataset: str
    model: str
    method: str
    gamma: float
    seeds: list[int] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    se: dict[str, float] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    budget: str = ""
    numerics: list[str] = field(default_factory=list)
    collapsed: int = 0  # seeds whose KL(z) ended below COLLAPSED_NATS: z unused (posterior collapse)

    @property
    def n(self) -> int:
        return len(self.seeds)


# A run whose KL(z) ends below this many nats has collapsed z (the decoder ignores it): its probes sit at
# chance, and a group mean over collapsed and recovered seeds describes neither
# (study/findings/q5-strong-decoder.md, tenth session).
COLLAPSED_NATS = 1.0


def standard_error(values: list[float]) -> float:
    """Sample standard deviation (ddof = 1) divided by sqrt(n); nan for fewer than 2 values."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n)


def aggregate(rows: list[RunRow]) -> list[Group]:
    """Groups of finished runs (those with metrics), in (dataset, model, method, gamma) order,
    each with its training budget. Runs of different settings were given distinct ``dataset``
    labels by :func:`cmivae.reports.collect.collect_runs`, so they are never pooled."""
    buckets: dict[tuple[str, str, str, float], list[RunRow]] = {}
    for row in rows:
        if row.metrics:
            buckets.setdefault((row.dataset, row.model, row.method, round(row.gamma, 6)), []).append(row)
    groups = []
    for (dataset, model, method, gamma), members in buckets.items():
        members = sorted(members, key=lambda r: r.seed)
        group = Group(dataset, model, method, gamma, seeds=[r.seed for r in members],
                      numerics=[r.numerics for r in members],
                      collapsed=sum(r.metrics.get("kl_z", math.inf) < COLLAPSED_NATS for r in members))
        steps = [r.metrics["steps"] for r in members if "steps" in r.metrics]
        group.budget = budget_text(members[0].config, sum(steps) / len(steps) if steps else None)
        for key in sorted({k for r in members for k in r.metrics}):
            values = [r.metrics[key] for r in members if key in r.metrics and math.isfinite(r.metrics[key])]
            if not values:
                continue
            group.mean[key] = sum(values) / len(values)
            group.se[key] = standard_error(values)
            group.max[key] = max(values)
            group.count[key] = len(values)
        groups.append(group)
    return sorted(groups, key=lambda g: (g.dataset, g.model, g.gamma, _method_rank(g.method)))


@dataclass(frozen=True)
class Column:
    """One metric column: our key, its header (with units and sign convention), digits, statistic."""

    key: str
    header: str
    digits: int
    stat: str = "mean"  # "mean" (shown as mean ± se) or "max"


IMAGE_COLUMNS = (
    Column("neg_elbo", "-ELBO = Recon+KL(z) (nats)", 2), Column("kl_z", "KL(z)", 2), Column("recon", "Recon", 2),
    Column("mcas", "mCAS", 4), Column("aolr", "AoLR", 4), Column("mcas_svm", "mCAS(SVM)", 4),
    Column("aosvm", "AoSVM", 4), Column("mi_zs", "Î(z;s)", 2), Column("baseline", "baseline", 4),
)
DSAE_COLUMNS = (
    Column("elbo", "ELBO = -(Recon+KL(z)+KL(s)) (nats)", 2), Column("kl_z", "KL(z)", 2), Column("kl_s", "KL(s)", 2),
    Column("recon", "Recon", 2), Column("eer_z", "EER(z) % ↓", 2), Column("eer_s", "EER(s) % ↑", 2),
    Column("mi_zs", "Î(z;s)", 2),
)
# Video (Sprites): the judge protocol (cmivae.metrics.video_eval; ↑/↓: which way is better)
VIDEO_COLUMNS = (
    Column("elbo", "ELBO = -(Recon+KL(z)+KL(s)) (nats)", 2), Column("kl_z", "KL(z)", 2), Column("kl_s", "KL(s)", 2),
    Column("recon", "Recon", 2), Column("mi_zs", "Î(z;s)", 2),
    Column("judge_action_acc", "action acc, z resampled ↑", 4), Column("judge_action_is", "IS (action) ↑", 3),
    Column("judge_action_h_yx", "H(y|x) (action) ↓", 3), Column("judge_action_h_y", "H(y) (action) ↑", 3),
    Column("judge_attr_acc", "attribute acc, s resampled ↑", 4), Column("judge_attr_is", "IS (attributes) ↑", 3),
    Column("judge_attr_h_yx", "H(y|x) (attributes) ↓", 3), Column("judge_attr_h_y", "H(y) (attributes) ↑", 3),
    Column("swap_acc", "swap acc (all 5) ↑", 4),
    Column("swap_action_acc", "swap: B's action ↑", 4), Column("swap_attr_acc", "swap: A's attributes ↑", 4),
    Column("probe_z_attr", "probe z→attributes ↑", 4), Column("probe_s_action", "probe s→action ↑", 4),
    Column("leak_z_action", "leak z→action ↓", 4), Column("leak_s_attr", "leak s→attributes ↓", 4),
)
TABLE_1_COLUMNS = (Column("kl_z", "KL(z)", 2), Column("eer_z", "EER(z) % ↓", 2), Column("eer_s", "EER(s) % ↑", 2))
TABLE_2_COLUMNS = (Column("vc_mcas", "VC-mCAS % (mean)", 2), Column("vc_mcas", "VC-mCAS % (max)", 2, stat="max"))
DATASET_LABELS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "timit": "TIMIT",
                  "synthetic-speech": "synthetic speech", "speech-folder": "speech folder", "sprites": "Sprites"}


@dataclass
class Table:
    """A laid-out table: Markdown cells for the report and numbers for the CSV."""

    number: int
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)  # gamma, method, source, n, values, se

    @property
    def has_budget(self) -> bool:
        """Some row says its training budget (tables of diagnostics do not)."""
        return any(row.get("budget") for row in self.rows)

    def to_markdown(self) -> str:
        """A GitHub Markdown table: γ | method | source | n | one cell per column (mean ± se) | budget
        (the budget column left out when no row has one)."""
        header = ["γ", "method", "source", "n"] + [c.header for c in self.columns] + \
            (["budget"] if self.has_budget else [])
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.rows:
            cells = [f"{row['gamma']:g}", method_label(row["method"]) if row["method"] != "reference"
                     else "DSAE* (Li & Mandt 2018)", row["source"], str(row["n"]) if row["n"] else ""]
            for column in self.columns:
                cells.append(_cell(row, column))
            if self.has_budget:
                cells.append(row.get("budget", ""))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def write_csv(self, path: str | Path) -> None:
        """One line per row: gamma, method, source, n, budget, then ``<key>_<stat>`` and ``<key>_se`` per
        column, and after an Î(z; s) column whose rows have a calibrated bound ``<key>_bound_mean`` (the
        Markdown cell says ``> B`` above it; the CSV keeps the estimate and its bound)."""
        fields = ["gamma", "method", "source", "n", "budget"]
        bounds = [f"{c.key}_bound" for c in self.columns if c.stat == "mean" and bound_of(f"{c.key}_bound")
                  and any(f"{c.key}_bound" in row["mean"] for row in self.rows)]
        for column in self.columns:
            fields.append(f"{column.key}_{column.stat}")
            if column.stat == "mean":
                fields.append(f"{column.key}_se")
            if f"{column.key}_bound" in bounds:
                fields.append(f"{column.key}_bound_mean")
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for row in self.rows:
                line: dict[str, Any] = {"gamma": row["gamma"], "method": row["method"], "source": row["source"],
                                        "n": row["n"], "budget": row.get("budget", "")}
                for column in self.columns:
                    line[f"{column.key}_{column.stat}"] = _number(row[column.stat].get(column.key))
                    if column.stat == "mean":
                        line[f"{column.key}_se"] = _number(row["se"].get(column.key))
                    if f"{column.key}_bound" in bounds:
                        line[f"{column.key}_bound_mean"] = _number(row["mean"].get(f"{column.key}_bound"))
                writer.writerow(line)


def _number(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def _cell(row: dict[str, Any], column: Column) -> str:
    value = row[column.stat].get(column.key)
    if value is None or math.isnan(value):
        return "–"
    bound = row[column.stat].get(f"{column.key}_bound") if column.key.startswith("mi_zs") else None
    if bound is not None and not math.isnan(bound) and value > bound:
        # above the calibrated bound the estimate only says "at least about B" (cmivae.metrics.mi_calibration)
        return f"> {bound:g}" + fewer_seeds_mark(row.get("count", {}).get(column.key), row["n"])
    text = f"{value:.{column.digits}f}"
    se = row["se"].get(column.key) if column.stat == "mean" else None
    if se is not None and not math.isnan(se):
        text += f" ± {se:.{column.digits}f}"
    return text + fewer_seeds_mark(row.get("count", {}).get(column.key), row["n"])


def fewer_seeds_mark(count: int | None, n: int) -> str:
    """`` (n=k)`` when only ``count`` = k of a row's n seeds have a metric (e.g. one run not
    evaluated yet), so a mean over fewer seeds is never read as a mean over the row's n."""
    return f" (n={count})" if count is not None and n and count < n else ""


def _published(number: int, method: str, gamma: float) -> PaperRow | None:
    """Paper table ``number``'s row for our ``method`` at ``gamma``. A method on the reference curve
    that ignores gamma (the ELBO) is read as the curve's gamma-weighted method at gamma 0 (the
    paper lists the ELBO as beta-VAE at gamma 0)."""
    methods = [method]
    if on_reference_curve(method) and not TRAITS.objective_trait(method, files.USES_GAMMA):
        methods = sorted({r.method for r in TABLES[number].rows
                          if on_reference_curve(r.method) and TRAITS.objective_trait(r.method, files.USES_GAMMA)})
    return next((row for m in methods if (row := paper_row(number, m, gamma)) is not None), None)


def paper_table_numbers(dataset: str, model: str) -> list[int]:
    """The paper tables that describe this data set and model family (speech: the TIMIT ones)."""
    return paper_tables(dataset, model)


def build_table(groups: list[Group], number: int, dataset: str, model: str) -> Table:
    """Our groups of (dataset, model) laid out like paper table ``number`` (1-5), each row
    followed by the paper's row for the same method and gamma where it exists.

    The paper rows are labelled ``paper``, or ``paper (TIMIT)`` / ``paper (MNIST)`` when
    our data set differs from the one the paper's table is about.
    """
    spec = TABLES[number]
    columns = {1: TABLE_1_COLUMNS, 2: TABLE_2_COLUMNS, 3: DSAE_COLUMNS, 4: IMAGE_COLUMNS, 5: IMAGE_COLUMNS}[number]
    same_data = spec.dataset == dataset
    source = "paper" if same_data else f"paper ({DATASET_LABELS.get(spec.dataset, spec.dataset)})"
    title = (f"Table {number}-style: {DATASET_LABELS.get(dataset, dataset)}, {model_label(model)} "
             f"— ours (mean ± SE over seeds) and {source} [{spec.title}]")
    table = Table(number, f"table{number}_{dataset}_{model}", title, columns)
    for group in groups:
        if group.dataset != dataset or group.model != model:
            continue
        wanted = [c.key for c in columns]
        if not any(k in group.mean for k in wanted):
            continue
        table.rows.append({"gamma": group.gamma, "method": group.method, "source": "ours", "n": group.n,
                           "mean": group.mean, "se": group.se, "max": group.max, "count": group.count,
                           "budget": group.budget})
        published = _published(number, group.method, group.gamma)
        if published is not None:
            values = dict(published.values)
            if number == 2:
                values = {"vc_mcas": published.values["vc_mcas"]}
                table.rows.append({"gamma": published.gamma, "method": group.method, "source": source, "n": 0,
                                   "mean": values, "se": {}, "max": {"vc_mcas": published.values["vc_mcas_max"]},
                                   "budget": PAPER_BUDGET.get(model, "")})
                continue
            table.rows.append({"gamma": published.gamma, "method": group.method, "source": source, "n": 0,
                               "mean": values, "se": dict(published.se), "max": {},
                               "budget": PAPER_BUDGET.get(model, "")})
    return table


def paper_table(number: int) -> Table:
    """A transcribed paper table on its own (the report's reference section)."""
    spec = TABLES[number]
    columns = {1: TABLE_1_COLUMNS, 2: TABLE_2_COLUMNS, 3: DSAE_COLUMNS, 4: IMAGE_COLUMNS[:-1],
               5: IMAGE_COLUMNS[:-1]}[number]
    table = Table(number, f"paper_table{number}", f"Paper Table {number}: {spec.title}", columns)
    for row in spec.rows:
        mean = dict(row.values)
        maxima = {"vc_mcas": mean.pop("vc_mcas_max")} if number == 2 else {}
        table.rows.append({"gamma": row.gamma, "method": row.method, "source": "paper", "n": 0, "mean": mean,
                           "se": dict(row.se), "max": maxima,
                           "budget": PAPER_BUDGET[TABLES[number].model]})
    return table


def tables_for(groups: list[Group]) -> list[Table]:
    """Every paper-shaped table our groups can fill, per (dataset, model)."""
    tables = []
    for dataset, model in sorted({(g.dataset, g.model) for g in groups}):
        numbers = paper_table_numbers(dataset, model)
        for number in numbers:
            table = build_table(groups, number, dataset, model)
            if table.rows:
                tables.append(table)
        if not numbers:  # a model family the paper has no table for: every metric its runs hold
            table = metrics_table(groups, dataset, model)
            if table.rows:
                tables.append(table)
    return tables


def metrics_table(groups: list[Group], dataset: str, model: str) -> Table:
    """Our groups of (dataset, model), one column per metric key present (the model family's
    known keys first, with their paper headers; any other key as it is named), for runs no paper
    table describes (another model family, or a data set label with settings, ``fashion-mnist@...``).

    Left out: bookkeeping (:func:`cmivae.metric_names.is_bookkeeping`: training and timing keys, and the
    calibrated bound of each Î(z; s), shown inside its estimate's cell as ``> B``), the critic diagnostics
    (their own table), the ELBO in the sign the family's table does not print when the one it prints is
    there (``neg_elbo`` beside a DSAE's ``elbo``), and for an image model the DSAE's ``elbo`` and ``kl_s``
    (always -(-ELBO) and 0 there). Each row carries its group's budget, as the paper-shaped tables do.
    """
    local_sequence = LOCAL_SEQUENCE in TRAITS.model_trait(model, files.CAPABILITIES, ())
    mine = [g for g in groups if g.dataset == dataset and g.model == model]
    held = {key for g in mine for key in g.mean}
    # the columns of the metric family whose keys these runs hold most of (no table of model names)
    family = max((IMAGE_COLUMNS, DSAE_COLUMNS, VIDEO_COLUMNS), key=lambda f: len(held & {c.key for c in f}))
    known = {c.key: c for c in family}
    unshown = {key for key in held if is_bookkeeping(key)} | set(CRITIC_DIAGNOSTICS)
    for shown, twin in (("elbo", "neg_elbo"), ("neg_elbo", "elbo")):
        if shown in known and shown in held:  # the same number with the other sign: one column of it
            unshown.add(twin)
    if not local_sequence:  # no KL(s) term: kl_s is 0 and elbo is -neg_elbo
        unshown |= {"elbo", "kl_s"}
    present = held - unshown
    columns = tuple(known[k] for k in known if k in present) + \
        tuple(_other_column(k) for k in sorted(present - set(known)))
    title = f"{DATASET_LABELS.get(dataset, dataset)}, {model_label(model)} — ours (mean ± SE over seeds)"
    table = Table(0, f"metrics_{dataset}_{model}", title, columns)
    for group in mine:
        table.rows.append({"gamma": group.gamma, "method": group.method, "source": "ours", "n": group.n,
                           "mean": group.mean, "se": group.se, "max": group.max, "count": group.count,
                           "budget": group.budget})
    return table


def _other_column(key: str) -> Column:
    """A column for a metric no family's table names: its :data:`cmivae.metric_names.LABELS` header, Î(z; s)
    from N training pairs as such, any other key as it is named."""
    pairs = mi_train_pairs(key, 0)
    if pairs:
        return Column(key, f"Î(z;s), {pairs} pairs", 2)
    return Column(key, LABELS.get(key, key), 4)


def write_summary_csv(groups: list[Group], path: str | Path) -> None:
    """Every group and metric: dataset, model, method, gamma, n, metric, mean, se, max, count."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "model", "method", "gamma", "n", "metric", "mean", "se", "max", "count"])
        for g in groups:
            for key in sorted(g.mean):
                writer.writerow([g.dataset, g.model, g.method, g.gamma, g.n, key, _number(g.mean[key]),
                                 _number(g.se[key]), _number(g.max[key]), g.count[key]])


def write_runs_csv(rows: list[RunRow], path: str | Path) -> None:
    """One line per run: id, dataset, model, method, gamma, seed, status flags, what it computed
    at (``numerics``, empty when not recorded), every metric."""
    keys = sorted({k for r in rows for k in r.metrics})
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run_id", "dataset", "model", "method", "gamma", "seed", "finished", "evaluated", "error",
                         "numerics", *keys])
        for r in rows:
            writer.writerow([r.run_id, r.dataset, r.model, r.method, r.gamma, r.seed, r.finished, r.evaluated,
                             r.error or "", r.numerics, *(_number(r.metrics.get(k)) for k in keys)])
