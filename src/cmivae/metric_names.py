"""The names of the evaluation metrics, without importing torch (sweeps and reports use them).

``elbo`` stands for the four likelihood terms ``elbo``, ``recon``, ``kl_z`` (and ``kl_s``
for DSAE) that one pass over the test set computes; every other name is its own key of
``RUN_DIR/eval.json``.

``all`` means the paper's metrics of the model family (:data:`IMAGE_METRICS`,
:data:`SPEECH_METRICS`); it never grows, so a run evaluated with ``all`` stays evaluated.
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

IMAGE_METRICS = ("elbo", "mi_zs", "aolr", "aosvm", "mcas", "mcas_svm", "baseline")
SPEECH_METRICS = ("elbo", "mi_zs", "eer_z", "eer_s", "vc_mcas")
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


def metrics_for(is_image: bool) -> tuple[str, ...]:
    """The paper's metrics of a model family (what ``all`` means): images (Sec. 5.3) or speech (Sec. 5.2)."""
    return IMAGE_METRICS if is_image else SPEECH_METRICS


def is_known_metric(name: str, is_image: bool) -> bool:
    """``name`` is a metric of the family: one of :func:`metrics_for` or, for images, any
    probe protocol name (``aolr_std``, ``mcas_c100``, ...)."""
    return name in metrics_for(is_image) or (is_image and probe_protocol(name) is not None)


def requested_metrics(metrics: Sequence[str] | None, is_image: bool) -> list[str]:
    """The metrics a request names, in order without repeats: ``None``, ``[]`` or ``all``
    (anywhere in the list) stand for every paper metric of the family."""
    if not metrics:
        return list(metrics_for(is_image))
    out: list[str] = []
    for name in metrics:
        for item in (metrics_for(is_image) if name == "all" else (name,)):
            if item not in out:
                out.append(item)
    return out


def unknown_metrics(metrics: Sequence[str] | None, is_image: bool) -> str | None:
    """``None`` when every requested name is known, else a message naming the unknown ones
    and listing what is known (for a ConfigError)."""
    bad = [name for name in requested_metrics(metrics, is_image) if not is_known_metric(name, is_image)]
    if not bad:
        return None
    probes = "; and probe protocols <aolr|mcas|baseline>[_std][_c<C>]" if is_image else ""
    return f"unknown metric(s) {', '.join(bad)}; known: all, {', '.join(metrics_for(is_image))}{probes}"


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
