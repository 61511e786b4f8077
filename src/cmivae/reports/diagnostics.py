"""Three study tables of the report (issue 13): critic diagnostics and probe protocols.

- **Critic diagnostics**: per adversarial group, the final-epoch training means of the
  discriminator's accuracy on positives (pairs from q(z, s), or q(z) for MI-VAE) and on
  negatives (z from the prior), and its mean logit on each
  (:func:`cmivae.objectives.base.binary_critic_loss`), beside KL(z). With an optimal critic
  the positive mean logit is the KL it estimates (Eq. 10 for CMI-VAE, Eq. 24 for MI-VAE).
  CMI-VAE's paper critic is linear in z, so on prior negatives its logit is symmetric about
  0: negatives sit at 50 % and the accuracy at <= 75 % whatever it learns; the table makes
  that ceiling visible.
- **KL(z) gap during training**: per method and gamma, its validation KL(z) over beta-VAE's at
  the same gamma and seed, at each quarter of training (study question 4: does the gap close
  with more updates?).
- **Probe protocols**: every probe metric a group has, raw beside standardized
  (``aolr`` / ``aolr_std`` ...; :mod:`cmivae.metric_names`), shown only when some group has a
  non-raw probe.
"""

from __future__ import annotations

import math

from cmivae.metric_names import probe_protocol
from cmivae.reports.collect import (
    CRITIC_DIAGNOSTICS,
    TRAITS,
    RunRow,
    _method_rank,
    on_reference_curve,
    val_kl_by_epoch,
)
from cmivae.reports.tables import Column, Group, Table, standard_error
from cmivae.runs import files

CRITIC_COLUMNS = (
    Column("kl_z", "KL(z)", 2), Column("critic_acc", "critic acc", 3), Column("critic_acc_pos", "acc (positives)", 3),
    Column("critic_acc_neg", "acc (negatives)", 3), Column("critic_logit_pos", "mean logit (positives)", 3),
    Column("critic_logit_neg", "mean logit (negatives)", 3),
)
CRITIC_NOTE = """\
Final-epoch training means of the discriminator (before each critic update). Positives are
pairs from q(z, s) (CMI-VAE) or z from q(z) (MI-VAE), negatives use z from the prior. With an
optimal critic the mean logit on positives is the KL the critic estimates (for CMI-VAE
D_KL(q(z,s) || p(z)q(s)) = I(z;s) + D_KL(q(z)||p(z))). CMI-VAE's paper critic (inner product
or scaled cosine with an embedding of s) is linear in z: on prior negatives its logit is
symmetric about 0, so its negative accuracy stays at 0.5 and its accuracy at <= 0.75 however
well it learns (MI-VAE's critic is an MLP of z and has no such cap). Runs trained before the per-class
diagnostics existed show the total accuracy only."""
PROBE_NOTE = """\
The same probes under each protocol: raw (scikit-learn LogisticRegression defaults, L2 C = 1,
on raw features: the committed results), `_std` (a StandardScaler fitted on the probe's
training set first), `_c<C>` (L2 strength C). AoSVM and mCAS(SVM) are always standardized.
`eval.json["probe_protocols"]` records each metric's protocol."""
PROBE_HEADERS = {"aolr": "AoLR", "aosvm": "AoSVM", "aoknn": "AoKNN", "s_aolr": "AoLR(s)", "s_aosvm": "AoSVM(s)",
                 "s_aoknn": "AoKNN(s)", "mcas": "mCAS", "mcas_svm": "mCAS(SVM)", "baseline": "baseline"}


def _rows(groups: list[Group], keys: list[str]) -> list[dict]:
    return [{"gamma": g.gamma, "method": g.method, "source": "ours", "n": g.n, "mean": g.mean, "se": g.se,
             "max": g.max} for g in groups if any(k in g.mean for k in keys)]


def critic_table(groups: list[Group], dataset: str, model: str) -> Table | None:
    """Critic diagnostics of the adversarial groups of ``(dataset, model)``; ``None`` if none."""
    mine = [g for g in groups if g.dataset == dataset and g.model == model]
    table = Table(0, f"critic_{dataset}_{model}", "Critic diagnostics (final-epoch training means)", CRITIC_COLUMNS,
                  _rows(mine, list(CRITIC_DIAGNOSTICS)))
    return table if table.rows else None


def _probe_header(key: str) -> str:
    p = probe_protocol(key)
    assert p is not None
    header = PROBE_HEADERS[p.probe]
    if key in ("aosvm", "mcas_svm"):
        return header  # appendix K.2's SVM protocol keeps its plain header
    parts = [{"raw": "raw", "standardized": "std", "whitened": "white"}[p.scaling]]
    parts += ["CV" if p.cross_validated else f"C={p.C:g}"] if p.cross_validated or p.C != 1.0 else []
    parts += ["all labels"] if p.labels == "all" else []
    return f"{header} ({', '.join(parts)})"


def probe_table(groups: list[Group], dataset: str, model: str) -> Table | None:
    """Every probe metric of ``(dataset, model)``'s groups, raw and the other protocols side
    by side; ``None`` unless some group has a non-raw probe (``aolr_std``, ``aolr_c100``, ...)."""
    mine = [g for g in groups if g.dataset == dataset and g.model == model]
    keys = sorted({k for g in mine for k in g.mean if probe_protocol(k) is not None},
                  key=lambda k: (list(PROBE_HEADERS).index(probe_protocol(k).probe), k))  # type: ignore[union-attr]
    if not any(k not in PROBE_HEADERS for k in keys):
        return None
    columns = (Column("kl_z", "KL(z)", 2), *(Column(k, _probe_header(k), 4) for k in keys))
    return Table(0, f"probes_{dataset}_{model}", "Probe protocols: raw and standardized probes", columns,
                 _rows(mine, keys))


def z_probe_panels(groups: list[Group]) -> list[tuple[str, str]]:
    """``[(key, header)]`` of the probes on z the groups have, in the order AoLR raw, its other
    protocols (``aolr_std``, ``aolr_c100``, ...), AoSVM: the panels of the report's probe figure."""
    keys = {k for g in groups for k in g.mean if (p := probe_protocol(k)) is not None and p.features == "z_mean"}
    order = sorted(keys, key=lambda k: (k != "aolr", probe_protocol(k).classifier == "svm", k))  # type: ignore[union-attr]
    return [(k, _probe_header(k)) for k in order]


def extra_matched_metrics(groups: list[Group], dataset: str, model: str) -> tuple[tuple[str, str, int, str], ...]:
    """Matched-KL entries for the other protocols of the z and mCAS probes some group has (``aolr_std``,
    ``aosvm_cv``, ``aoknn_cv``, ...), then the
    paper's nonlinear probes, AoSVM and mCAS(SVM) (appendix K.2: an RBF SVM instead of the logistic
    classifier), where some group has them: the logistic and SVM probes can disagree on which method has
    the better global features at the same KL(z) (study/findings/q5-strong-decoder.md, tenth session)."""
    mine = [g for g in groups if g.dataset == dataset and g.model == model]
    # every other protocol of the probes of z and of generated images (aolr_std, aosvm_cv, aoknn_cv, ...);
    # the probes of s measure where class information lies, not a better representation: not matched
    keys = sorted({k for g in mine for k in g.mean if (p := probe_protocol(k)) is not None
                   and p.features in ("z_mean", "generated") and k not in PROBE_HEADERS})
    keys += [k for k in ("aosvm", "mcas_svm") if any(k in g.mean for g in mine)]
    return tuple((k, _probe_header(k), 4, "higher") for k in keys)


KL_GAP_NOTE = """\
Each cell: the method's validation KL(z) divided by β-VAE's at the same γ and seed, at the end of
that epoch (mean ± SE over the seeds both have; 1 = no gap). A ratio rising toward 1 as training
goes on says the method's lower KL(z) is a slower climb, not a different optimum."""


def kl_gap_table(rows: list[RunRow], dataset: str, model: str) -> Table | None:
    """KL(z) of each non-β-VAE method over β-VAE's at the same γ and seed, at each quarter of
    training (the epochs ceil(E/4), ceil(E/2), ceil(3E/4), E of β-VAE's runs); ``None`` if no
    method has a β-VAE partner with the same epochs."""
    mine = [r for r in rows if r.dataset == dataset and r.model == model and r.finished]
    histories = {id(r): val_kl_by_epoch(r) for r in mine}
    # the reference curve's method at each gamma (beta-VAE; not the ELBO, which has gamma 0 only)
    beta = {(round(r.gamma, 6), r.seed): histories[id(r)] for r in mine
            if on_reference_curve(r.method) and TRAITS.objective_trait(r.method, files.USES_GAMMA) and histories[id(r)]}
    if not beta:
        return None
    epochs = max(max(h) for h in beta.values())
    marks = sorted({math.ceil(epochs * q / 4) for q in (1, 2, 3, 4)})
    steps = {e: next(h[e][0] for h in beta.values() if e in h) for e in marks}
    columns = tuple(Column(f"kl_ratio_e{e}", f"epoch {e} ({steps[e]} updates)", 2) for e in marks)
    table = Table(0, f"kl_gap_{dataset}_{model}", "KL(z) gap to β-VAE during training (validation KL(z) ratio)",
                  columns)
    groups: dict[tuple[str, float], list[RunRow]] = {}
    for r in mine:
        if not on_reference_curve(r.method):
            groups.setdefault((r.method, round(r.gamma, 6)), []).append(r)
    for (method, gamma), members in sorted(groups.items(), key=lambda kv: (kv[0][1], _method_rank(kv[0][0]),
                                                                               kv[0][0])):
        mean, se, count, seeds = {}, {}, {}, set()
        for e, column in zip(marks, columns, strict=True):
            ratios = []
            for r in members:
                partner = beta.get((gamma, r.seed), {})
                own = histories[id(r)]
                if e in own and e in partner and partner[e][1] > 0:
                    ratios.append(own[e][1] / partner[e][1])
                    seeds.add(r.seed)
            if ratios:
                mean[column.key], se[column.key] = sum(ratios) / len(ratios), standard_error(ratios)
                count[column.key] = len(ratios)
        if mean:
            table.rows.append({"gamma": gamma, "method": method, "source": "ours", "n": len(seeds), "mean": mean,
                               "se": se, "max": {}, "count": count})
    return table if table.rows else None
