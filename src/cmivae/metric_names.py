"""The names of the evaluation metrics, without importing torch (sweeps and reports use them).

``elbo`` stands for the four likelihood terms ``elbo``, ``recon``, ``kl_z`` (and ``kl_s``
for DSAE) that one pass over the test set computes; every other name is its own key of
``RUN_DIR/eval.json``.

``all`` means the paper's metrics (:data:`PAPER_METRICS`) that the run supports: what each
metric needs of a run (model capabilities, data set labels) is in :data:`METRIC_NEEDS`, the one
table; for a kind of run it never grows, so a run evaluated with ``all`` stays evaluated.
A request may name ``all`` together with more metrics (``[all, aolr_std]``).

Probe protocols (image models). The logistic probes ``aolr``, ``mcas`` and ``baseline``
take a protocol written into the metric name, ``<probe>[_std][_c<C>]``:

- no suffix: the *raw* protocol of the committed results: scikit-learn's
  ``LogisticRegression`` defaults (L2, ``C = 1``, lbfgs) on the raw features;
- ``_std``: *standardized*: a ``StandardScaler`` fitted on the probe's training set first;
- ``_c<C>``: L2 strength ``C`` (inverse regularization; larger = weaker), e.g. ``aolr_c100``,
  ``aolr_std_c0.1``.

``aosvm`` and ``mcas_svm`` are always the RBF SVM on standardized features (appendix K.2).
``eval.json`` records the protocol of every probe metric under ``probe_protocols``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cmivae.infra.errors import ConfigError
from cmivae.modality import CLASS, DATASET_LABELS, SPEAKER
from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, SAMPLE

# The standardized twins of the logistic probes (same C = 1): the study's "report both".
STANDARDIZED_PROBES = ("aolr_std", "mcas_std", "baseline_std")

# probe -> what it is fitted on (see cmivae.metrics.latent_probe)
PROBE_FEATURES = {"aolr": "z_mean", "aosvm": "z_mean", "mcas": "generated", "mcas_svm": "generated",
                  "baseline": "real"}
LOGISTIC_PROBES = ("aolr", "mcas", "baseline")
_PROBE_NAME = re.compile(r"^(?P<probe>aolr|mcas|baseline)(?P<std>_std)?"
                         r"(?:_c(?P<c>[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?))?$")


@dataclass(frozen=True)
class ProbeProtocol:
    """How one probe metric was computed (recorded in ``eval.json``).

    Attributes:
        probe: the base probe (``aolr``, ``aosvm``, ``mcas``, ``mcas_svm``, ``baseline``).
        features: ``z_mean`` (mean of q(z|x)), ``generated`` (decoded samples) or ``real`` (images).
        classifier: ``logistic`` (L2 logistic regression, lbfgs) or ``svm`` (RBF SVC).
        scaling: ``raw`` (features as they are) or ``standardized`` (StandardScaler fitted on
            the probe's training set).
        C: scikit-learn's inverse regularization strength (1.0 = its default).
    """

    probe: str
    features: str
    classifier: str
    scaling: str
    C: float

    @property
    def standardized(self) -> bool:
        return self.scaling == "standardized"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_protocol(name: str) -> ProbeProtocol | None:
    """The protocol of a probe metric name, ``None`` if ``name`` is not a probe metric."""
    if name in ("aosvm", "mcas_svm"):
        return ProbeProtocol(name, PROBE_FEATURES[name], "svm", "standardized", 1.0)
    match = _PROBE_NAME.match(name)
    if match is None:
        return None
    c = float(match["c"]) if match["c"] else 1.0
    if not c > 0:
        return None
    probe = match["probe"]
    return ProbeProtocol(probe, PROBE_FEATURES[probe], "logistic", "standardized" if match["std"] else "raw", c)


@dataclass(frozen=True)
class Needs:
    """What a metric needs of a run: model capabilities (:mod:`cmivae.models.capabilities`)
    and labels of the data set (:data:`cmivae.modality.DATASET_LABELS`)."""

    capabilities: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Offers:
    """What a run offers the metrics: its model's capabilities and its data set's labels."""

    capabilities: frozenset[str]
    labels: frozenset[str]

    @classmethod
    def of(cls, capabilities: Iterable[str], data_name: str) -> Offers:
        """A model's declared ``capabilities`` on data set ``data_name``."""
        return cls(frozenset(capabilities), DATASET_LABELS.get(data_name, frozenset()))


# Every metric of `cmivae evaluate` and what it needs: the one table (the evaluation, its preflight
# and the sweep preflight read it). Its order is the order `all` lists them in.
METRIC_NEEDS: dict[str, Needs] = {
    "elbo": Needs(),
    "mi_zs": Needs(),
    "aolr": Needs(labels=frozenset({CLASS})),
    "aosvm": Needs(labels=frozenset({CLASS})),
    "mcas": Needs(frozenset({SAMPLE}), frozenset({CLASS})),
    "mcas_svm": Needs(frozenset({SAMPLE}), frozenset({CLASS})),
    "baseline": Needs(labels=frozenset({CLASS})),
    "eer_z": Needs(labels=frozenset({SPEAKER})),
    "eer_s": Needs(frozenset({LOCAL_SEQUENCE}), frozenset({SPEAKER})),
    "vc_mcas": Needs(frozenset({DECODE}), frozenset({SPEAKER})),
}
# The paper's metrics: what ``all`` (and no --metrics) means, restricted to what a run offers. It
# never grows for a kind of run, so a run evaluated with ``all`` stays evaluated.
PAPER_METRICS = tuple(METRIC_NEEDS)


def metric_needs(name: str) -> Needs | None:
    """What metric ``name`` needs (a probe protocol name needs what its base probe does);
    ``None``: not a metric."""
    if name in METRIC_NEEDS:
        return METRIC_NEEDS[name]
    protocol = probe_protocol(name)
    return None if protocol is None else METRIC_NEEDS[protocol.probe]


def is_known_metric(name: str) -> bool:
    """``name`` is a metric: a key of :data:`METRIC_NEEDS` or a probe protocol name."""
    return metric_needs(name) is not None


def why_unsupported(name: str, offers: Offers) -> str | None:
    """``None`` when the run offers what metric ``name`` needs, else why not (one clause)."""
    needs = metric_needs(name)
    if needs is None:
        return f"{name} is not a metric"
    lacking = sorted(needs.capabilities - offers.capabilities)
    if lacking:
        return (f"{name} needs the model capability {', '.join(lacking)} (the model declares "
                f"{', '.join(sorted(offers.capabilities)) or 'none'})")
    unlabelled = sorted(needs.labels - offers.labels)
    if unlabelled:
        return (f"{name} needs {', '.join(unlabelled)} labels (the data set has "
                f"{', '.join(sorted(offers.labels)) or 'none'})")
    return None


def default_metrics(offers: Offers) -> list[str]:
    """The paper metrics a run supports: what ``all`` means for it."""
    return [name for name in PAPER_METRICS if why_unsupported(name, offers) is None]


def requested_metrics(metrics: Sequence[str] | None, offers: Offers) -> list[str]:
    """The metrics a request names, in order without repeats: ``None``, ``[]`` or ``all``
    (anywhere in the list) stand for :func:`default_metrics`."""
    out: list[str] = []
    for name in metrics or ["all"]:
        for item in (default_metrics(offers) if name == "all" else (name,)):
            if item not in out:
                out.append(item)
    return out


def skipped_defaults(metrics: Sequence[str] | None, offers: Offers) -> dict[str, str]:
    """The paper metrics that ``all`` (or no request) leaves out for this run, each with why."""
    if metrics and "all" not in metrics:
        return {}
    return {name: why for name in PAPER_METRICS if (why := why_unsupported(name, offers)) is not None}


def unknown_metrics(metrics: Sequence[str] | None) -> str | None:
    """``None`` when every requested name is a metric, else a message naming the unknown ones
    and listing what is known (for a ConfigError)."""
    bad = [name for name in (metrics or []) if name != "all" and not is_known_metric(name)]
    if not bad:
        return None
    return (f"unknown metric(s) {', '.join(bad)}; known: all, {', '.join(PAPER_METRICS)}; and probe protocols "
            f"<aolr|mcas|baseline>[_std][_c<C>]")


def check_requested(metrics: Sequence[str] | None, offers: Offers) -> None:
    """Refuse (:class:`ConfigError`, one line) an unknown metric, or a metric named in the request
    that the run cannot support; the defaults of ``all`` it cannot support are skipped instead."""
    problem = unknown_metrics(metrics)
    if problem:
        raise ConfigError(problem)
    explicit = [name for name in (metrics or []) if name != "all"]
    for name in explicit:
        why = why_unsupported(name, offers)
        if why is not None:
            keep = [m for m in requested_metrics(metrics, offers) if why_unsupported(m, offers) is None]
            raise ConfigError(f"{why}; leave it out" + (f" (--metrics {' '.join(keep)})" if keep else ""))


def supported_request(metrics: Sequence[str] | None, offers: Offers) -> list[str]:
    """The requested metrics this run computes: :func:`requested_metrics` without the skipped defaults."""
    return [name for name in requested_metrics(metrics, offers) if why_unsupported(name, offers) is None]


# Every key of results.json / eval.json in the order tables and `cmivae evaluate` print them:
# likelihood terms, I(z; s), then the representation metrics of each family, the baseline last.
DISPLAY_ORDER = ("elbo", "neg_elbo", "recon", "kl_z", "kl_s", "mi_zs", "aolr", "aosvm", "mcas", "mcas_svm",
                 "baseline", "eer_z", "eer_s", "vc_mcas")

# Which way is better, per metric: "higher", "lower", or None where neither is (KL(z) and KL(s)
# measure how much information a latent holds, and the baseline does not depend on the model).
DIRECTION: dict[str, str | None] = {
    "elbo": "higher", "neg_elbo": "lower", "recon": "lower", "kl_z": None, "kl_s": None,
    "mi_zs": "lower",  # CMI-VAE minimizes I(z; s) (Eq. 8)
    "aolr": "higher", "aosvm": "higher", "mcas": "higher", "mcas_svm": "higher", "baseline": None,
    "eer_z": "lower", "eer_s": "higher", "vc_mcas": "higher",
}

# The metrics that measure the global representation (what the paper's claims are about).
REPRESENTATION_METRICS = ("aolr", "aosvm", "mcas", "mcas_svm", "eer_z", "eer_s", "vc_mcas")


def metric_direction(key: str) -> str | None:
    """``"higher"`` or ``"lower"`` (which is better) or ``None``; probe protocol variants
    (``aolr_std``, ``mcas_c100``) are accuracies like their base probe."""
    if key in DIRECTION:
        return DIRECTION[key]
    protocol = probe_protocol(key)
    return None if protocol is None or protocol.probe == "baseline" else "higher"


def display_order(keys: Sequence[str]) -> list[str]:
    """``keys`` in :data:`DISPLAY_ORDER`, unknown keys after them alphabetically."""
    known = [k for k in DISPLAY_ORDER if k in keys]
    return known + sorted(k for k in keys if k not in DISPLAY_ORDER)


LABELS = {"elbo": "ELBO", "neg_elbo": "-ELBO", "recon": "Recon", "kl_z": "KL(z)", "kl_s": "KL(s)",
          "mi_zs": "I(z;s)", "aolr": "AoLR", "aosvm": "AoSVM", "mcas": "mCAS", "mcas_svm": "mCAS(SVM)",
          "baseline": "baseline", "eer_z": "EER(z)", "eer_s": "EER(s)", "vc_mcas": "VC-mCAS"}
