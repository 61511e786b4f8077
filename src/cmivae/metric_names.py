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

Video models (Sprites, issue 29: :mod:`cmivae.metrics.video_eval`): ``all`` is :data:`VIDEO_METRICS`; each
name other than ``elbo`` and ``mi_zs`` is the headline key of a group (:data:`VIDEO_METRIC_GROUPS`) that one
computation writes together (asking for any key of a group computes the group), and needs the model
capabilities of :data:`VIDEO_METRIC_NEEDS` (:mod:`cmivae.models.capabilities`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

IMAGE_METRICS = ("elbo", "mi_zs", "aolr", "aosvm", "mcas", "mcas_svm", "baseline")
SPEECH_METRICS = ("elbo", "mi_zs", "eer_z", "eer_s", "vc_mcas")
VIDEO_METRICS = ("elbo", "mi_zs", "judge_action_acc", "judge_attr_acc", "swap_acc", "probe_z_attr")
# headline key -> every eval.json key its one computation writes (cmivae.metrics.video_eval)
VIDEO_METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "judge_action_acc": ("judge_action_acc", "judge_action_is", "judge_action_h_yx", "judge_action_h_y"),
    "judge_attr_acc": ("judge_attr_acc", "judge_attr_is", "judge_attr_h_yx", "judge_attr_h_y"),
    "swap_acc": ("swap_acc", "swap_action_acc", "swap_attr_acc"),
    "probe_z_attr": ("probe_z_attr", "probe_s_action", "leak_z_action", "leak_s_attr"),
}
# headline key -> the model capabilities it needs (names of cmivae.models.capabilities)
VIDEO_METRIC_NEEDS: dict[str, tuple[str, ...]] = {
    "judge_action_acc": ("local_sequence", "decode"), "judge_attr_acc": ("local_sequence", "decode", "prior_s"),
    "swap_acc": ("local_sequence", "decode"), "probe_z_attr": ("local_sequence",),
}
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


def metrics_for(is_image: bool, modality: str | None = None) -> tuple[str, ...]:
    """The paper's metrics of a model family (what ``all`` means): images (Sec. 5.3) or speech (Sec. 5.2);
    ``modality="video"``: the Sprites judge protocol (:data:`VIDEO_METRICS`)."""
    if modality == "video":
        return VIDEO_METRICS
    return IMAGE_METRICS if is_image else SPEECH_METRICS


def video_group(name: str) -> str | None:
    """The headline key of the video metric group holding ``name`` (``None``: not a grouped video key)."""
    return next((head for head, keys in VIDEO_METRIC_GROUPS.items() if name in keys), None)


def is_known_metric(name: str, is_image: bool, modality: str | None = None) -> bool:
    """``name`` is a metric of the family: one of :func:`metrics_for` or, for images, any
    probe protocol name (``aolr_std``, ``mcas_c100``, ...), for video any key of a group."""
    if modality == "video":
        return name in VIDEO_METRICS or video_group(name) is not None
    return name in metrics_for(is_image) or (is_image and probe_protocol(name) is not None)


def requested_metrics(metrics: Sequence[str] | None, is_image: bool, modality: str | None = None) -> list[str]:
    """The metrics a request names, in order without repeats: ``None``, ``[]`` or ``all``
    (anywhere in the list) stand for every paper metric of the family."""
    if not metrics:
        return list(metrics_for(is_image, modality))
    out: list[str] = []
    for name in metrics:
        for item in (metrics_for(is_image, modality) if name == "all" else (name,)):
            if item not in out:
                out.append(item)
    return out


def unknown_metrics(metrics: Sequence[str] | None, is_image: bool, modality: str | None = None) -> str | None:
    """``None`` when every requested name is known, else a message naming the unknown ones
    and listing what is known (for a ConfigError)."""
    bad = [name for name in requested_metrics(metrics, is_image, modality)
           if not is_known_metric(name, is_image, modality)]
    if not bad:
        return None
    probes = "; and probe protocols <aolr|mcas|baseline>[_std][_c<C>]" if is_image else ""
    return f"unknown metric(s) {', '.join(bad)}; known: all, {', '.join(metrics_for(is_image, modality))}{probes}"


# Every key of results.json / eval.json in the order tables and `cmivae evaluate` print them:
# likelihood terms, I(z; s), then the representation metrics of each family, the baseline last.
DISPLAY_ORDER = ("elbo", "neg_elbo", "recon", "kl_z", "kl_s", "mi_zs", "aolr", "aosvm", "mcas", "mcas_svm",
                 "baseline", "eer_z", "eer_s", "vc_mcas", *(k for keys in VIDEO_METRIC_GROUPS.values() for k in keys))

# Which way is better, per metric: "higher", "lower", or None where neither is (KL(z) and KL(s)
# measure how much information a latent holds, and the baseline does not depend on the model).
DIRECTION: dict[str, str | None] = {
    "elbo": "higher", "neg_elbo": "lower", "recon": "lower", "kl_z": None, "kl_s": None,
    "mi_zs": "lower",  # CMI-VAE minimizes I(z; s) (Eq. 8)
    "aolr": "higher", "aosvm": "higher", "mcas": "higher", "mcas_svm": "higher", "baseline": None,
    "eer_z": "lower", "eer_s": "higher", "vc_mcas": "higher",
    # video (the Sprites judge): the kept factor should survive, the resampled one vary (IS, H(y) higher,
    # H(y|x) lower: confident and diverse); leakage probes lower
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
          "baseline": "baseline", "eer_z": "EER(z)", "eer_s": "EER(s)", "vc_mcas": "VC-mCAS",
          "judge_action_acc": "action acc (z resampled)", "judge_action_is": "IS (action)",
          "judge_action_h_yx": "H(y|x) (action)", "judge_action_h_y": "H(y) (action)",
          "judge_attr_acc": "attribute acc (s resampled)", "judge_attr_is": "IS (attributes)",
          "judge_attr_h_yx": "H(y|x) (attributes)", "judge_attr_h_y": "H(y) (attributes)",
          "swap_acc": "swap acc (both)", "swap_action_acc": "swap acc (B's action)",
          "swap_attr_acc": "swap acc (A's attributes)", "probe_z_attr": "probe z->attributes",
          "probe_s_action": "probe s->action", "leak_z_action": "leak z->action", "leak_s_attr": "leak s->attributes"}
