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
