"""The names of the evaluation metrics, without importing torch (sweeps and reports use them).

``elbo`` stands for the four likelihood terms ``elbo``, ``recon``, ``kl_z`` (and ``kl_s``
for DSAE) that one pass over the test set computes; every other name is its own key of
``RUN_DIR/eval.json``.

``mi_zs`` (the critic trained on 2,000 training pairs) has twins ``mi_zs_n<N>`` trained on N
pairs (``mi_zs_n9000``; test pairs stay 1,000). Each comes with ``<name>_bound`` where the
estimator was calibrated at its settings: the nats up to which it recovered a known I(z; s)
(:mod:`cmivae.metrics.mi_calibration`); tables show an estimate above it as ``> bound``.

``all`` means the paper metrics a run supports: those of :data:`METRIC_NEEDS` whose model capabilities
and data set labels the run offers (:func:`default_metrics`); it never grows for a kind of run, so a run
evaluated with ``all`` stays evaluated. A request may name ``all`` together with more metrics
(``[all, aolr_std]``).

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

Video (Sprites, issue 29: :mod:`cmivae.metrics.video_eval`): ``judge_action_acc``, ``judge_attr_acc``,
``swap_acc`` and ``probe_z_attr`` each name a group of keys one computation writes together
(:data:`VIDEO_METRIC_GROUPS`); asking for any key of a group computes the group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cmivae.infra.errors import ConfigError
from cmivae.modality import ACTION, ATTRIBUTES, CLASS, DATASET_LABELS, SPEAKER
from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, PRIOR_S, SAMPLE

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


_MI_NAME = re.compile(r"^mi_zs(?:_n(?P<n>[1-9][0-9]*))?$")


def mi_train_pairs(name: str, default: int) -> int | None:
    """Training pairs of an Î(z; s) metric: ``default`` for ``mi_zs``, N for ``mi_zs_n<N>``;
    ``None`` if ``name`` is not one."""
    match = _MI_NAME.match(name)
    if match is None:
        return None
    return int(match["n"]) if match["n"] else default


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
    # the Sprites judge protocol (cmivae.metrics.video_eval): keep s, draw z, judge the action; keep z, draw s
    # from the learned prior, judge the attributes; swaps; probes from the posterior means
    "judge_action_acc": Needs(frozenset({LOCAL_SEQUENCE, DECODE}), frozenset({ACTION})),
    "judge_attr_acc": Needs(frozenset({LOCAL_SEQUENCE, DECODE, PRIOR_S}), frozenset({ATTRIBUTES})),
    "swap_acc": Needs(frozenset({LOCAL_SEQUENCE, DECODE}), frozenset({ACTION, ATTRIBUTES})),
    "probe_z_attr": Needs(frozenset({LOCAL_SEQUENCE}), frozenset({ACTION, ATTRIBUTES})),
}
# headline key -> every eval.json key its one computation writes (cmivae.metrics.video_eval)
VIDEO_METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "judge_action_acc": ("judge_action_acc", "judge_action_is", "judge_action_h_yx", "judge_action_h_y"),
    "judge_attr_acc": ("judge_attr_acc", "judge_attr_is", "judge_attr_h_yx", "judge_attr_h_y"),
    "swap_acc": ("swap_acc", "swap_action_acc", "swap_attr_acc"),
    "probe_z_attr": ("probe_z_attr", "probe_s_action", "leak_z_action", "leak_s_attr"),
}


def video_group(name: str) -> str | None:
    """The headline key of the video metric group holding ``name`` (``None``: not a video metric key)."""
    return next((head for head, keys in VIDEO_METRIC_GROUPS.items() if name in keys), None)
# The paper's metrics: what ``all`` (and no --metrics) means, restricted to what a run offers. It
# never grows for a kind of run, so a run evaluated with ``all`` stays evaluated.
PAPER_METRICS = tuple(METRIC_NEEDS)


def metric_needs(name: str) -> Needs | None:
    """What metric ``name`` needs (a probe protocol name needs what its base probe does);
    ``None``: not a metric."""
    if name in METRIC_NEEDS:
        return METRIC_NEEDS[name]
    if video_group(name) is not None:
        return METRIC_NEEDS[str(video_group(name))]
    if mi_train_pairs(name, 0) is not None:  # mi_zs_n<N>: as mi_zs
        return METRIC_NEEDS["mi_zs"]
    protocol = probe_protocol(name)
    if protocol is None:
        return None
    # a probe without its own entry (aoknn, the s probes) needs what the probes of its features need
    return METRIC_NEEDS.get(protocol.probe, Needs(labels=frozenset({CLASS})))


def is_known_metric(name: str) -> bool:
    """``name`` is a metric: a key of :data:`METRIC_NEEDS`, a key of a video group, an ``mi_zs_n<N>`` or a
    probe protocol name."""
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
            f"<aolr|aosvm|aoknn|s_aolr|s_aosvm|s_aoknn|mcas|mcas_svm|baseline>[_std|_raw|_white][_c<C>|_cv][_all]; "
            f"and mi_zs_n<N> (Î(z;s) from N training pairs); and any key of a video group "
            f"({', '.join(k for keys in VIDEO_METRIC_GROUPS.values() for k in keys)})")


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
DISPLAY_ORDER = ("elbo", "neg_elbo", "recon", "kl_z", "kl_s", "mi_zs", "mi_zs_bound", "aolr", "aosvm", "mcas",
                 "mcas_svm", "baseline", "eer_z", "eer_s", "vc_mcas",
                 *(k for keys in VIDEO_METRIC_GROUPS.values() for k in keys))

# Which way is better, per metric: "higher", "lower", or None where neither is (KL(z) and KL(s)
# measure how much information a latent holds, and the baseline does not depend on the model).
DIRECTION: dict[str, str | None] = {
    "elbo": "higher", "neg_elbo": "lower", "recon": "lower", "kl_z": None, "kl_s": None,
    "mi_zs": "lower",  # CMI-VAE minimizes I(z; s) (Eq. 8)
    "mi_zs_bound": None,  # how far mi_zs can be trusted (cmivae.metrics.mi_calibration), not a result
    "aolr": "higher", "aosvm": "higher", "mcas": "higher", "mcas_svm": "higher", "baseline": None,
    "eer_z": "lower", "eer_s": "higher", "vc_mcas": "higher",
    # video (the Sprites judge): the kept factor should survive the resampling of the other, read confidently
    # (H(y|x) low) and as diverse as the balanced subset (IS, H(y) high); leakage probes lower
    "judge_action_acc": "higher", "judge_action_is": "higher", "judge_action_h_yx": "lower",
    "judge_action_h_y": "higher", "judge_attr_acc": "higher", "judge_attr_is": "higher",
    "judge_attr_h_yx": "lower", "judge_attr_h_y": "higher", "swap_acc": "higher", "swap_action_acc": "higher",
    "swap_attr_acc": "higher", "probe_z_attr": "higher", "probe_s_action": "higher", "leak_z_action": "lower",
    "leak_s_attr": "lower",
}

# The metrics that measure the global representation (what the paper's claims are about).
REPRESENTATION_METRICS = ("aolr", "aosvm", "mcas", "mcas_svm", "eer_z", "eer_s", "vc_mcas", "judge_action_acc",
                          "judge_attr_acc", "swap_acc", "probe_z_attr", "probe_s_action", "leak_z_action",
                          "leak_s_attr")


# results.json / eval.json keys that are not measures of a model: how training went and how long the
# evaluation took. Tables and comparisons never show them as results (runs.csv and summary.csv keep them).
BOOKKEEPING_KEYS = ("best_epoch", "steps", "skipped_batches", "eval_seconds")


def bound_of(key: str) -> str | None:
    """The Î(z; s) metric whose calibrated bound ``key`` is (``mi_zs_bound`` -> ``mi_zs``,
    ``mi_zs_n9000_bound`` -> ``mi_zs_n9000``); ``None``: ``key`` is not a bound."""
    name = key.removesuffix("_bound")
    return name if name != key and mi_train_pairs(name, 0) is not None else None


def is_bookkeeping(key: str) -> bool:
    """``key`` is not a result to table: a :data:`BOOKKEEPING_KEYS` key, or the calibrated bound of an
    Î(z; s) estimate (read with its estimate: a table shows an estimate above it as ``> B``)."""
    return key in BOOKKEEPING_KEYS or bound_of(key) is not None


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
          "baseline": "baseline", "eer_z": "EER(z)", "eer_s": "EER(s)", "vc_mcas": "VC-mCAS",
          "judge_action_acc": "action acc (z resampled)", "judge_action_is": "IS (action)",
          "judge_action_h_yx": "H(y|x) (action)", "judge_action_h_y": "H(y) (action)",
          "judge_attr_acc": "attribute acc (s resampled)", "judge_attr_is": "IS (attributes)",
          "judge_attr_h_yx": "H(y|x) (attributes)", "judge_attr_h_y": "H(y) (attributes)",
          "swap_acc": "swap acc (both)", "swap_action_acc": "swap acc (B's action)",
          "swap_attr_acc": "swap acc (A's attributes)", "probe_z_attr": "probe z->attributes",
          "probe_s_action": "probe s->action", "leak_z_action": "leak z->action", "leak_s_attr": "leak s->attributes"}
