"""The names of the evaluation metrics, without importing torch (sweeps and reports use them).

``elbo`` stands for the four likelihood terms ``elbo``, ``recon``, ``kl_z`` (and ``kl_s``
for DSAE) that one pass over the test set computes; every other name is its own key of
``RUN_DIR/eval.json``.

``mi_zs`` (the critic trained on 2,000 training pairs) has twins ``mi_zs_n<N>`` trained on N
pairs (``mi_zs_n9000``; test pairs stay 1,000). Each comes with ``<name>_bound`` where the
estimator was calibrated at its settings: the nats up to which it recovered a known I(z; s)
(:mod:`cmivae.metrics.mi_calibration`); tables show an estimate above it as ``> bound``.

``all`` means the paper's metrics of the model family (:data:`IMAGE_METRICS`,
:data:`SPEECH_METRICS`); it never grows, so a run evaluated with ``all`` stays evaluated.
A request may name ``all`` together with more metrics (``[all, aolr_std]``).

Probe protocols (image models). A probe metric's name says how it was computed,
``<probe>[_<scaling>][_c<C> | _cv][_all]``:

- ``<probe>``: what is probed with which classifier. On the mean of q(z|x): ``aolr``
  (logistic), ``aosvm`` (RBF SVM), ``aoknn`` (k nearest neighbours); on the pooled mean of s
  (``s_aolr``, ``s_aosvm``, ``s_aoknn``: s averaged over time or space, so "s holds global
  information" is measured); on generated images ``mcas`` / ``mcas_svm``; on real images
  ``baseline``.
- scaling: the logistic and kNN probes default to the *raw* features, the SVM to
  *standardized* ones (appendix K.2); ``_std`` standardizes (a ``StandardScaler`` fitted on the
  probe's training set), ``_raw`` keeps the SVM's features raw, ``_white`` PCA-whitens them
  (fitted on the probe's training set). A token that repeats the default is not a name
  (``aolr_raw``, ``aosvm_std``), so every protocol has one name.
- regularization: none = scikit-learn's defaults (L2 ``C = 1``; the SVM's ``gamma='scale'``);
  ``_c<C>`` (logistic only): L2 strength ``C`` (inverse regularization; larger = weaker), e.g.
  ``aolr_c100``, ``aolr_std_c0.1``; ``_cv``: chosen by seeded stratified cross-validation on
  the probe's training labels only (:data:`cmivae.metrics.latent_probe.CV_GRIDS`: C of the
  logistic probe, C and the RBF width of the SVM, k of kNN, which has no other protocol).
- labels: none = 100 training images per class (1000 labels, Sec. 5.3); ``_all``: every
  training image of the run (z and s probes only): the two ends of a label-count curve.

The names of the committed results (``aolr``, ``aolr_std``, ``aolr_c100``, ``aosvm``, ``mcas``,
``mcas_svm``, ``baseline`` ...) keep their meaning. ``eval.json`` records the protocol of every
probe metric under ``probe_protocols``, with the values cross-validation chose.
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
PROBE_FEATURES = {"aolr": "z_mean", "aosvm": "z_mean", "aoknn": "z_mean", "s_aolr": "s_pooled",
                  "s_aosvm": "s_pooled", "s_aoknn": "s_pooled", "mcas": "generated", "mcas_svm": "generated",
                  "baseline": "real"}
# probe -> its classifier: L2 logistic regression, RBF SVM, or k nearest neighbours
PROBE_CLASSIFIER = {"aolr": "logistic", "aosvm": "svm", "aoknn": "knn", "s_aolr": "logistic", "s_aosvm": "svm",
                    "s_aoknn": "knn", "mcas": "logistic", "mcas_svm": "svm", "baseline": "logistic"}
LOGISTIC_PROBES = tuple(p for p, c in PROBE_CLASSIFIER.items() if c == "logistic")
# The scaling a probe uses when its name has no scaling token (the SVM standardizes, appendix K.2).
DEFAULT_SCALING = {"logistic": "raw", "svm": "standardized", "knn": "raw"}
_SCALING_TOKENS = {"std": "standardized", "raw": "raw", "white": "whitened"}
_PROBE_NAME = re.compile(r"^(?P<probe>s_aolr|s_aosvm|s_aoknn|aolr|aosvm|aoknn|mcas_svm|mcas|baseline)"
                         r"(?:_(?P<scaling>std|raw|white))?"
                         r"(?:_c(?P<c>[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?)|(?P<cv>_cv))?(?P<all>_all)?$")


@dataclass(frozen=True)
class ProbeProtocol:
    """How one probe metric was computed (recorded in ``eval.json``).

    Attributes:
        probe: the base probe (``aolr``, ``aosvm``, ``aoknn``, ``s_aolr``, ``s_aosvm``,
            ``s_aoknn``, ``mcas``, ``mcas_svm``, ``baseline``).
        features: ``z_mean`` (mean of q(z|x)), ``s_pooled`` (mean of s pooled over time or
            space), ``generated`` (decoded samples) or ``real`` (images).
        classifier: ``logistic`` (L2 logistic regression, lbfgs), ``svm`` (RBF SVC) or ``knn``.
        scaling: ``raw`` (features as they are), ``standardized`` (StandardScaler) or
            ``whitened`` (PCA whitening), each fitted on the probe's training set.
        C: scikit-learn's inverse regularization strength (1.0 = its default); ``None`` when
            cross-validation chooses it.
        selection: ``fixed`` (the name's values) or ``cv`` (chosen by cross-validation on the
            probe's training labels; ``eval.json`` records what was chosen).
        labels: ``1k`` (100 training images per class) or ``all`` (every training image).
    """

    probe: str
    features: str
    classifier: str
    scaling: str
    C: float | None
    selection: str = "fixed"
    labels: str = "1k"

    @property
    def standardized(self) -> bool:
        return self.scaling == "standardized"

    @property
    def cross_validated(self) -> bool:
        return self.selection == "cv"

    def to_dict(self) -> dict[str, Any]:
        """The fields, leaving out ``selection`` and ``labels`` at their defaults (the records of
        the committed results have only the first five)."""
        out = asdict(self)
        for key, default in (("selection", "fixed"), ("labels", "1k")):
            if out[key] == default:
                del out[key]
        return out


def probe_protocol(name: str) -> ProbeProtocol | None:
    """The protocol of a probe metric name, ``None`` if ``name`` is not a probe metric."""
    match = _PROBE_NAME.match(name)
    if match is None:
        return None
    probe = match["probe"]
    classifier = PROBE_CLASSIFIER[probe]
    features = PROBE_FEATURES[probe]
    scaling = _SCALING_TOKENS[match["scaling"]] if match["scaling"] else DEFAULT_SCALING[classifier]
    if match["scaling"] and scaling == DEFAULT_SCALING[classifier]:
        return None  # aolr_raw, aosvm_std: the default spelled out is not a second name
    if match["c"] is not None and classifier != "logistic":
        return None  # a fixed C is a logistic protocol; the SVM's is sklearn's default or _cv
    if classifier == "knn" and not match["cv"]:
        return None  # k is always chosen by cross-validation
    if match["all"] and features not in ("z_mean", "s_pooled"):
        return None  # mCAS and the baseline have 100 source images, not a label count
    if match["cv"]:
        return ProbeProtocol(probe, features, classifier, scaling, None, "cv", "all" if match["all"] else "1k")
    c = float(match["c"]) if match["c"] else 1.0
    if not c > 0:
        return None
    return ProbeProtocol(probe, features, classifier, scaling, c, "fixed", "all" if match["all"] else "1k")


def metrics_for(is_image: bool) -> tuple[str, ...]:
    """The paper's metrics of a model family (what ``all`` means): images (Sec. 5.3) or speech (Sec. 5.2)."""
    return IMAGE_METRICS if is_image else SPEECH_METRICS


_MI_NAME = re.compile(r"^mi_zs(?:_n(?P<n>[1-9][0-9]*))?$")


def mi_train_pairs(name: str, default: int) -> int | None:
    """Training pairs of an Î(z; s) metric: ``default`` for ``mi_zs``, N for ``mi_zs_n<N>``;
    ``None`` if ``name`` is not one."""
    match = _MI_NAME.match(name)
    if match is None:
        return None
    return int(match["n"]) if match["n"] else default


def is_known_metric(name: str, is_image: bool) -> bool:
    """``name`` is a metric of the family: one of :func:`metrics_for`, an ``mi_zs_n<N>`` or, for
    images, any probe protocol name (``aolr_std``, ``mcas_c100``, ...)."""
    return (name in metrics_for(is_image) or mi_train_pairs(name, 0) is not None
            or (is_image and probe_protocol(name) is not None))


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
    probes = ("; and probe protocols <aolr|aosvm|aoknn|s_aolr|s_aosvm|s_aoknn|mcas|mcas_svm|baseline>"
              "[_std|_raw|_white][_c<C>|_cv][_all]" if is_image else "")
    probes += "; and mi_zs_n<N> (Î(z;s) from N training pairs)"
    return f"unknown metric(s) {', '.join(bad)}; known: all, {', '.join(metrics_for(is_image))}{probes}"


# Every key of results.json / eval.json in the order tables and `cmivae evaluate` print them:
# likelihood terms, I(z; s), then the representation metrics of each family, the baseline last.
DISPLAY_ORDER = ("elbo", "neg_elbo", "recon", "kl_z", "kl_s", "mi_zs", "mi_zs_bound", "aolr", "aosvm", "mcas",
                 "mcas_svm", "baseline", "eer_z", "eer_s", "vc_mcas")

# Which way is better, per metric: "higher", "lower", or None where neither is (KL(z) and KL(s)
# measure how much information a latent holds, and the baseline does not depend on the model).
DIRECTION: dict[str, str | None] = {
    "elbo": "higher", "neg_elbo": "lower", "recon": "lower", "kl_z": None, "kl_s": None,
    "mi_zs": "lower",  # CMI-VAE minimizes I(z; s) (Eq. 8)
    "mi_zs_bound": None,  # how far mi_zs can be trusted (cmivae.metrics.mi_calibration), not a result
    "aolr": "higher", "aosvm": "higher", "mcas": "higher", "mcas_svm": "higher", "baseline": None,
    "eer_z": "lower", "eer_s": "higher", "vc_mcas": "higher",
}

# The metrics that measure the global representation (what the paper's claims are about).
REPRESENTATION_METRICS = ("aolr", "aosvm", "mcas", "mcas_svm", "eer_z", "eer_s", "vc_mcas")


def metric_direction(key: str) -> str | None:
    """``"higher"`` or ``"lower"`` (which is better) or ``None``; probe protocol variants
    (``aolr_std``, ``mcas_c100``) are accuracies like their base probe; the probes of s
    (``s_aolr_cv``) measure where class information lies, which is better neither way."""
    if key in DIRECTION:
        return DIRECTION[key]
    if mi_train_pairs(key, 0) is not None:
        return "lower"  # mi_zs_n<N>: as mi_zs
    protocol = probe_protocol(key)
    if protocol is None or protocol.probe == "baseline" or protocol.features == "s_pooled":
        return None
    return "higher"


def display_order(keys: Sequence[str]) -> list[str]:
    """``keys`` in :data:`DISPLAY_ORDER`, unknown keys after them alphabetically."""
    known = [k for k in DISPLAY_ORDER if k in keys]
    return known + sorted(k for k in keys if k not in DISPLAY_ORDER)


LABELS = {"elbo": "ELBO", "neg_elbo": "-ELBO", "recon": "Recon", "kl_z": "KL(z)", "kl_s": "KL(s)",
          "mi_zs": "I(z;s)",
          "mi_zs_bound": "I(z;s) trusted to", "aolr": "AoLR", "aosvm": "AoSVM", "mcas": "mCAS", "mcas_svm": "mCAS(SVM)",
          "baseline": "baseline", "eer_z": "EER(z)", "eer_s": "EER(s)", "vc_mcas": "VC-mCAS"}
