"""Metrics of the paper: pure functions of arrays (plus an explicit seed or rng).

- :func:`equal_error_rate`, :func:`speaker_verification_eer`: EER(z), EER(s), Sec. 5.2.
- :func:`balanced_subset`, :func:`probe_accuracy`, :func:`classification_accuracy_score`:
  AoLR / AoSVM, mCAS / mCAS(SVM), the baseline score (Sec. 5.3, appendix K.2) and VC-mCAS
  (appendix J).
- :func:`estimate_mutual_information`: Î(z; s) of appendix A, Eqs. 15-16.

Turning a trained model into these arrays is the job of a separate adapter.
"""

from __future__ import annotations

from cmivae.metrics.eer import equal_error_rate, speaker_verification_eer
from cmivae.metrics.latent_probe import balanced_subset, classification_accuracy_score, probe_accuracy
from cmivae.metrics.mutual_information import estimate_mutual_information

__all__ = [
    "balanced_subset",
    "classification_accuracy_score",
    "equal_error_rate",
    "estimate_mutual_information",
    "probe_accuracy",
    "speaker_verification_eer",
]
