"""The names of the evaluation metrics, without importing torch (sweeps and reports use them).

``elbo`` stands for the four likelihood terms ``elbo``, ``recon``, ``kl_z`` (and ``kl_s``
for DSAE) that one pass over the test set computes; every other name is its own key of
``RUN_DIR/eval.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

IMAGE_METRICS = ("elbo", "mi_zs", "aolr", "aosvm", "mcas", "mcas_svm", "baseline")
SPEECH_METRICS = ("elbo", "mi_zs", "eer_z", "eer_s", "vc_mcas")


def metrics_for(is_image: bool) -> tuple[str, ...]:
    """Every metric of a model family: images (Sec. 5.3) or speech (Sec. 5.2)."""
    return IMAGE_METRICS if is_image else SPEECH_METRICS


def requested_metrics(metrics: Sequence[str] | None, is_image: bool) -> list[str]:
    """The metrics a request names: every metric of the family for ``None`` or ``["all"]``."""
    return list(metrics_for(is_image)) if not metrics or list(metrics) == ["all"] else list(metrics)


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


def display_order(keys: Sequence[str]) -> list[str]:
    """``keys`` in :data:`DISPLAY_ORDER`, unknown keys after them alphabetically."""
    known = [k for k in DISPLAY_ORDER if k in keys]
    return known + sorted(k for k in keys if k not in DISPLAY_ORDER)

LABELS = {"elbo": "ELBO", "neg_elbo": "-ELBO", "recon": "Recon", "kl_z": "KL(z)", "kl_s": "KL(s)",
          "mi_zs": "I(z;s)", "aolr": "AoLR", "aosvm": "AoSVM", "mcas": "mCAS", "mcas_svm": "mCAS(SVM)",
          "baseline": "baseline", "eer_z": "EER(z)", "eer_s": "EER(s)", "vc_mcas": "VC-mCAS"}
