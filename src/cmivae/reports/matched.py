"""Each method against the beta-VAE curve at the same KL(z).

The paper's question is whether CMI-VAE is better than beta-VAE *at the same KL(z)*
(Sec. 5.3, Figure 3: AoLR and mCAS against KL(z), one curve per method; Sec. 5.2 for
EER(z)/EER(s)). Equal gamma does not give equal KL(z), so the tables alone cannot answer
it. Here every group of a method other than beta-VAE is compared with the beta-VAE curve
of the same data set and model, read at the group's mean KL(z):

- the beta-VAE curve is its group means (gamma 0, the plain ELBO, included), sorted by
  mean KL(z); its value at KL(z) = k is the linear interpolation between the two
  neighbouring points, and so is its standard error;
- outside the curve's KL(z) range nothing is extrapolated (the row says so), except that a
  KL(z) beyond the curve's last (or before its first) point by no more than the combined SE
  of the two KL(z) means, ``sqrt(SE_method^2 + SE_end^2)``, is read at that end point (the
  two KL(z) are equal within their spread; the row marks it ``(curve end)``);
- the difference ``method - beta-VAE`` comes with ``SE = sqrt(SE_method^2 + SE_beta^2)``,
  the spread over seeds of both (the SE of the method's KL(z) is not propagated); with a
  single seed on either side there is no SE and none is shown.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from cmivae.reports.collect import TRAITS, _method_rank, method_label, on_reference_curve
from cmivae.reports.tables import Group, _number, fewer_seeds_mark
from cmivae.runs import files

DEFAULT_METRICS = (("mi_zs", "Î(z;s)", 2, "lower"),)


@dataclass
class Matched:
    """One metric of one group against the beta-VAE curve at the group's KL(z)."""

    value: float
    value_se: float
    beta: float | None  # None: the KL(z) lies outside the beta-VAE curve
    beta_se: float
    at_end: bool = False  # read at the curve's end point: the KL(z) is beyond it by less than the KL(z) SE

    @property
    def difference(self) -> float | None:
        return None if self.beta is None else self.value - self.beta

    @property
    def difference_se(self) -> float:
        """nan when either side has a single seed (no spread to combine)."""
        return math.sqrt(self.value_se ** 2 + self.beta_se ** 2)


def _plus_minus(value: float, se: float, digits: int, sign: str = "") -> str:
    """``value ± se``, or just the value when the SE is unknown (one seed)."""
    text = f"{value:{sign}.{digits}f}"
    return text if se is None or math.isnan(se) else f"{text} ± {se:.{digits}f}"


def interpolate(curve: list[tuple[float, float, float]], x: float) -> tuple[float, float] | None:
    """Linear interpolation of ``(x_i, y_i, se_i)`` points (any order) at ``x``: ``(y, se)``,
    or None outside ``[x_0, x_last]``. Equal x values are averaged first; an unknown (nan)
    SE stays unknown."""
    merged: dict[float, list[tuple[float, float]]] = {}
    for xi, yi, si in curve:
        merged.setdefault(xi, []).append((yi, si))
    points = sorted((xi, sum(y for y, _ in v) / len(v), sum(s for _, s in v) / len(v)) for xi, v in merged.items())
    if not points or x < points[0][0] or x > points[-1][0]:
        return None
    for (x0, y0, s0), (x1, y1, s1) in zip(points, points[1:], strict=False):
        if x0 <= x <= x1:
            t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            return y0 + t * (y1 - y0), s0 + t * (s1 - s0)
    return points[0][1], points[0][2]  # a single point, hit exactly


Metric = tuple[str, str, int, str]  # key, label, digits, which direction is better


def matched_metrics(model: str, extra: tuple[Metric, ...] = ()) -> tuple[Metric, ...]:
    """The model family's same-KL metrics as its runs declare them (``config.json`` traits: the model
    class's ``matched_metrics``; :data:`DEFAULT_METRICS` when it declares none) plus ``extra`` (e.g.
    standardized probes)."""
    declared = TRAITS.model_trait(model, files.MATCHED_METRICS) or DEFAULT_METRICS
    return tuple((str(k), str(h), int(d), str(w)) for k, h, d, w in declared) + tuple(extra)


def matched_comparison(groups: list[Group], dataset: str, model: str, extra: tuple[Metric, ...] = ()
                       ) -> list[tuple[Group, dict[str, Matched]]]:
    """For every non-beta group of ``(dataset, model)``, each metric of
    :func:`matched_metrics` (plus ``extra``) against the beta-VAE curve at the group's mean KL(z)."""
    mine = [g for g in groups if g.dataset == dataset and g.model == model and "kl_z" in g.mean]
    beta = [g for g in mine if on_reference_curve(g.method)]
    out: list[tuple[Group, dict[str, Matched]]] = []
    for group in sorted((g for g in mine if not on_reference_curve(g.method)),
                        key=lambda g: (g.gamma, _method_rank(g.method))):
        row: dict[str, Matched] = {}
        for key, *_ in matched_metrics(model, extra):
            if key not in group.mean:
                continue
            points = [b for b in beta if key in b.mean]
            curve = [(b.mean["kl_z"], b.mean[key], b.se.get(key, math.nan)) for b in points]
            at, end = interpolate(curve, group.mean["kl_z"]), _end_within_se(group, points)
            if at is None and end is not None:
                at = interpolate(curve, end)
            row[key] = Matched(group.mean[key], group.se.get(key, math.nan),
                               None if at is None else at[0], math.nan if at is None else at[1],
                               at_end=at is not None and end is not None)
        if row:
            out.append((group, row))
    return out


def _end_within_se(group: Group, curve: list[Group]) -> float | None:
    """The KL(z) of the beta-VAE curve's end point nearest the group's KL(z) when the group's
    KL(z) lies beyond that end by at most ``sqrt(SE_group^2 + SE_end^2)`` of the two KL(z)
    means (an unknown SE counts as 0); None when it lies inside the curve or farther out."""
    if not curve:
        return None
    x = group.mean["kl_z"]
    low = min(curve, key=lambda b: b.mean["kl_z"])
    high = max(curve, key=lambda b: b.mean["kl_z"])
    if low.mean["kl_z"] <= x <= high.mean["kl_z"]:
        return None
    end = low if x < low.mean["kl_z"] else high

    def se(g: Group) -> float:
        value = g.se.get("kl_z", math.nan)
        return 0.0 if math.isnan(value) else value

    return end.mean["kl_z"] if abs(x - end.mean["kl_z"]) <= math.hypot(se(group), se(end)) else None


def matched_markdown(rows: list[tuple[Group, dict[str, Matched]]], model: str, extra: tuple[Metric, ...] = ()) -> str:
    """A Markdown table: γ | method | n | KL(z) | per metric: the method, beta-VAE at that
    KL(z), and the difference ± SE."""
    metrics = matched_metrics(model, extra)
    header = ["γ", "method", "n", "KL(z)"]
    for _, label, _, better in metrics:
        header += [label, "β-VAE at same KL(z)", f"Δ {label} ({better} is better)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group, row in rows:
        n = f"{group.n} ({group.collapsed} collapsed)" if group.collapsed else str(group.n)
        cells = [f"{group.gamma:g}", method_label(group.method), n,
                 _plus_minus(group.mean["kl_z"], group.se.get("kl_z", math.nan), 2)]
        for key, _, digits, _ in metrics:
            m = row.get(key)
            if m is None:
                cells += ["", "", ""]
                continue
            cells.append(f"{m.value:.{digits}f}" + fewer_seeds_mark(group.count.get(key), group.n))
            if m.beta is None:
                cells += ["outside the β-VAE curve", ""]
            else:
                cells += [f"{m.beta:.{digits}f}" + (" (curve end)" if m.at_end else ""),
                          _plus_minus(m.difference, m.difference_se, digits, "+")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_matched_csv(rows: list[tuple[Group, dict[str, Matched]]], model: str, path: str | Path,
                      extra: tuple[Metric, ...] = ()) -> None:
    """One line per group: gamma, method, n, kl_z, then per metric ``<key>``, ``<key>_beta``,
    ``<key>_diff``, ``<key>_diff_se`` (empty outside the beta-VAE curve) and ``<key>_at_end``
    (1 when beta-VAE was read at the curve's end point, the KL(z) beyond it within its SE)."""
    keys = [key for key, *_ in matched_metrics(model, extra)]
    columns = ("", "_beta", "_diff", "_diff_se", "_at_end")
    fields = ["gamma", "method", "n", "kl_z"] + [f"{k}{s}" for k in keys for s in columns]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for group, row in rows:
            line: dict[str, object] = {"gamma": group.gamma, "method": group.method, "n": group.n,
                                       "kl_z": _number(group.mean["kl_z"])}
            for key in keys:
                m = row.get(key)
                if m is not None:
                    line[key] = _number(m.value)
                    if m.beta is not None:
                        line.update({f"{key}_beta": _number(m.beta), f"{key}_diff": _number(m.difference),
                                     f"{key}_diff_se": _number(m.difference_se), f"{key}_at_end": int(m.at_end)})
            writer.writerow(line)
