"""``cmivae compare RUN_DIR...``: runs side by side, one column per run, read from files only.

Every run gets its own column: runs whose default label (objective and gamma) coincide,
e.g. two seeds of one config, are told apart by the config keys in which they differ
(``beta g=0.3 seed=1``). Each row says which way is better (:data:`cmivae.metric_names.DIRECTION`);
an image model's ``kl_s`` (always 0: it has no KL(s) term) is left out; the table ends with one
sentence, computed from the numbers, saying what the comparison shows.

Runs are ranked only against runs of the same data set and model family: others get their
own table, under a line saying why (nats per image and nats per speech segment are not one
scale). Within a table, runs of different training budgets are listed with their budgets; a
run with no ``results.json`` (interrupted) is marked unfinished with what it trained; a
damaged file is an error naming it; ties and the same run given twice name no "highest".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmivae.infra.errors import ConfigError, DataError
from cmivae.metric_names import BOOKKEEPING_KEYS, LABELS, REPRESENTATION_METRICS, display_order, metric_direction
from cmivae.modality import is_image_dataset
from cmivae.reports.collect import budget_text, difference_labels, flatten, model_label, read_run
from cmivae.runs import files
from cmivae.runs.readers import unfinished_note

# Not results: bookkeeping, the redundant -ELBO, and the training critic's diagnostics (critic_*,
# read from metrics.jsonl; `cmivae report` has a table of them).
HIDDEN_KEYS = ("neg_elbo", *BOOKKEEPING_KEYS)
# What to do about a damaged run file (read_run names it and the reason).
DAMAGED_FIX = {files.EVAL: "move it away (or delete it) and run `cmivae evaluate {path}` to write it again",
               files.RESULTS: "move it away (or delete it) and rerun `cmivae train` with the run's config and "
                              "--out {path} to finish the run again",
               files.CONFIG: "it cannot be read as a run; leave it out of the comparison"}


@dataclass
class RunColumn:
    """One run of the comparison: its label, directory, flattened config and metric values."""

    label: str
    path: Path
    config: dict[str, Any]
    values: dict[str, float]
    unfinished: str | None = None  # readers.unfinished_note: what an interrupted run trained
    budget: str = ""  # collect.budget_text of the run's config

    @property
    def is_image(self) -> bool:
        return is_image_dataset(str(self.config.get("data.name")))

    @property
    def kind(self) -> str:
        """What a run can be ranked against: its data set and model family."""
        model = str(self.config.get("model.name"))
        return f"{self.config.get('data.name')} / {model_label(model)}"


def default_label(config: dict[str, Any]) -> str:
    objective = config.get("objective", {})
    return f"{objective.get('name', '?')} g={objective.get('gamma', '?')}"


def read_columns(runs: list[str | Path], labels: list[str] | None = None) -> list[RunColumn]:
    """The runs as columns with unique labels (``labels`` first, defaults for the rest).

    Raises:
        ConfigError: a directory is not a run directory, or has neither results.json nor eval.json,
            or ``labels`` is not one label per run.
        DataError: a run file is damaged (named, with what to do).
    """
    if labels is not None and len(labels) != len(runs):
        raise ConfigError(f"--labels gives {len(labels)} label(s) for {len(runs)} runs; give one label per run, "
                          f"in the order of the runs, or leave --labels out for the default labels")
    columns = []
    for i, run in enumerate(runs):
        path = Path(run)
        row = read_run(path)
        if row is None:
            raise ConfigError(f"{path} is not a run directory (no readable config.json); give directories that "
                              f"`cmivae train --out` wrote")
        for damage in row.damaged:
            name = damage.split(":", 1)[0]
            fix = DAMAGED_FIX.get(name, "move it away (or delete it)").format(path=path)
            raise DataError(f"{path / name} is damaged ({damage.split(':', 1)[1].strip()}); {fix}")
        if not (row.finished or row.evaluated):
            raise ConfigError(f"{path} has no results.json or eval.json; train (and evaluate) it first")
        values = {k: v for k, v in row.metrics.items() if k not in HIDDEN_KEYS and not k.startswith("critic_")}
        label = labels[i] if labels else default_label(row.config)
        columns.append(RunColumn(label, path, flatten(row.config), values, unfinished_note(path),
                                 budget_text(row.config)))  # the budget asked for, not how far it got
    return unique_labels(columns)


def unique_labels(columns: list[RunColumn]) -> list[RunColumn]:
    """Make every label unique: columns sharing a label get the config keys they differ in
    (``seed=1``; the full ``section.key`` where the short name is ambiguous), then, for
    identical configs, their directory name."""
    by_label: dict[str, list[RunColumn]] = {}
    for column in columns:
        by_label.setdefault(column.label, []).append(column)
    for label, same in by_label.items():
        if len(same) < 2:
            continue
        configs = [{k: v for k, v in c.config.items() if k != "data.data_dir"} for c in same]
        for column, extra in zip(same, difference_labels(configs), strict=True):
            column.label = f"{label} {extra}".strip()
    seen: dict[str, int] = {}
    for column in columns:
        seen[column.label] = seen.get(column.label, 0) + 1
    for column in columns:
        if seen[column.label] > 1:
            column.label = f"{column.label} ({column.path.name})"
    counts: dict[str, int] = {}
    for column in columns:  # the same directory given twice
        counts[column.label] = counts.get(column.label, 0) + 1
        if counts[column.label] > 1:
            column.label = f"{column.label} #{counts[column.label]}"
    return columns


def table_keys(columns: list[RunColumn]) -> list[str]:
    """Rows in display order; ``kl_s`` dropped when every column is an image model (no KL(s) term)."""
    keys = display_order(sorted({k for c in columns for k in c.values}))
    if all(c.is_image for c in columns):
        keys = [k for k in keys if k != "kl_s"]
    return keys


def _format(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


NEITHER = {"kl_z": "neither: nats of information in z", "kl_s": "neither: nats of information in s",
           "baseline": "reference: a classifier on 100 real images"}


def direction_text(key: str) -> str:
    """``higher is better``, ``lower is better``, or why neither is."""
    direction = metric_direction(key)
    if direction:
        return f"{direction} is better"
    return NEITHER.get(key, "neither")


def format_table(columns: list[RunColumn]) -> str:
    """The side-by-side table, a "better" column stating the direction of each metric."""
    keys = table_keys(columns)
    width = max([len(k) for k in keys] + [6])
    colw = max([len(c.label) for c in columns] + [10])
    lines = [" " * width + "  " + "  ".join(c.label.rjust(colw) for c in columns) + "  better"]
    for key in keys:
        cells = "  ".join(_format(c.values.get(key)).rjust(colw) for c in columns)
        lines.append(f"{key.ljust(width)}  {cells}  {direction_text(key)}".rstrip())
    return "\n".join(lines)


def _better(key: str, a: float, b: float) -> int:
    """+1 if ``a`` is better than ``b`` on ``key``, -1 if worse, 0 if equal to 4 significant digits."""
    if f"{a:.4g}" == f"{b:.4g}":
        return 0
    higher = metric_direction(key) == "higher"
    return 1 if (a > b) == higher else -1


def summary_sentence(columns: list[RunColumn]) -> str:
    """One sentence saying what the numbers show (computed from them, not canned)."""
    shared = [k for k in REPRESENTATION_METRICS if all(k in c.values for c in columns)]
    if len(columns) < 2:
        return f"One run ({columns[0].label}); give two or more run directories to compare them."
    if len({c.path.resolve() for c in columns}) == 1:
        return (f"The same run ({columns[0].path}) given {len(columns)} times: nothing to compare; give two or "
                f"more different run directories.")
    if not shared:
        with_elbo = [c for c in columns if "elbo" in c.values]
        evaluate = ("no representation metric is in every run's eval.json, so run `cmivae evaluate` on each run "
                    "to compare the representations.")
        if not with_elbo:
            return "No metric is in every run; " + evaluate
        best = max(with_elbo, key=lambda c: c.values["elbo"])
        tied = [c for c in with_elbo if _better("elbo", c.values["elbo"], best.values["elbo"]) == 0]
        if len(tied) > 1:
            return (f"{' and '.join(c.label for c in tied)} have the same test ELBO ({best.values['elbo']:.4g}): "
                    f"no run is highest; " + evaluate)
        return f"{best.label} has the highest test ELBO; " + evaluate
    kl = [c.values.get("kl_z") for c in columns]
    if len(columns) == 2:
        kl = kl[::-1]  # the sentence names the second run first
        ref, other = columns
        wins = [k for k in shared if _better(k, other.values[k], ref.values[k]) > 0]
        losses = [k for k in shared if _better(k, other.values[k], ref.values[k]) < 0]
        verdict = ("is better than" if len(wins) > len(losses) else "is worse than" if len(losses) > len(wins)
                   else "is level with")
        detail = ", ".join(f"{LABELS.get(k, k)} {other.values[k]:.4g} vs {ref.values[k]:.4g}" for k in shared)
        sentence = (f"{other.label} {verdict} {ref.label} on the global representation: better on "
                    f"{len(wins)} and worse on {len(losses)} of {len(shared)} metrics ({detail})")
    else:
        bests = []
        for key in shared:
            best = columns[0]
            for column in columns[1:]:
                if _better(key, column.values[key], best.values[key]) > 0:
                    best = column
            tied = [c.label for c in columns if _better(key, c.values[key], best.values[key]) == 0]
            who = best.label if len(tied) == 1 else "tie of " + ", ".join(tied)
            bests.append(f"{LABELS.get(key, key)}: {who} ({best.values[key]:.4g})")
        sentence = "Best per representation metric: " + "; ".join(bests)
    if all(v is not None for v in kl):
        low, high = min(kl), max(kl)  # type: ignore[type-var]
        spread = (high - low) / max(abs(high), 1e-9)
        sentence += (f", at KL(z) {' vs '.join(f'{v:.3g}' for v in kl)} nats"
                     + (" (different KL(z): part of a difference may come from it; `cmivae report` compares "
                        "at the same KL(z))" if spread > 0.1 else ""))
    return sentence + "; single runs, so small differences may be seed noise."


def notes(columns: list[RunColumn]) -> list[str]:
    """Lines under a table: unfinished runs and what they trained, and different budgets."""
    lines = [f"{c.label} is {c.unfinished}" for c in columns if c.unfinished]
    if len({c.budget for c in columns}) > 1:
        lines.append("Different training budgets (part of a difference may come from the budget): "
                     + "; ".join(f"{c.label}: {c.budget}" for c in columns))
    return lines


def mark_unfinished(columns: list[RunColumn]) -> list[RunColumn]:
    for column in columns:
        if column.unfinished:
            column.label += " (unfinished)"
    return columns


def compare_runs(runs: list[str | Path], labels: list[str] | None = None) -> str:
    """The tables and their summary sentences for ``cmivae compare``: one table per data set
    and model family (:attr:`RunColumn.kind`), never ranked against each other."""
    columns = mark_unfinished(read_columns(runs, labels))
    groups: dict[str, list[RunColumn]] = {}
    for column in columns:
        groups.setdefault(column.kind, []).append(column)
    if len(groups) == 1:
        return "\n".join([format_table(columns), *notes(columns), summary_sentence(columns)])
    parts = [f"These runs are of {len(groups)} data sets or model families ({'; '.join(groups)}): their "
             f"numbers are on different scales (nats per image, per speech segment, other data), so each is "
             f"compared only with runs of its own, in {len(groups)} tables."]
    for kind, group in groups.items():
        parts += ["", f"{kind}:", format_table(group), *notes(group), summary_sentence(group)]
    return "\n".join(parts)
