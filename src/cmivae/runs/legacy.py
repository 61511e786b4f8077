"""Runs that predate a record: the one place that knows what older run directories lack.

Runs trained before ``config.json["traits"]`` existed (every committed run under
``study/results``) name their model and objective only; :func:`legacy_traits` supplies what
their classes declared then, so torch-free readers treat old and new runs alike. Nothing
outside this module spells a model or objective name to fill in a missing record.
"""

from __future__ import annotations

from typing import Any

from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, PRIOR_S, SAMPLE
from cmivae.runs import files

# model name -> what its class declared when the committed runs were trained
_MODEL_TRAITS: dict[str, dict[str, Any]] = {
    "pixelcnn_vae": {files.CAPABILITIES: [SAMPLE], files.MODEL_LABEL: "PixelCNN-VAE",
                     files.MATCHED_METRICS: [["mi_zs", "Î(z;s)", 2, "lower"], ["aolr", "AoLR", 4, "higher"],
                                             ["mcas", "mCAS", 4, "higher"]]},
    "dsae": {files.CAPABILITIES: [DECODE, LOCAL_SEQUENCE, PRIOR_S], files.MODEL_LABEL: "DSAE",
             files.MATCHED_METRICS: [["mi_zs", "Î(z;s)", 2, "lower"], ["eer_z", "EER(z) %", 2, "lower"],
                                     ["eer_s", "EER(s) %", 2, "higher"]]},
}
# objective name -> its display label when the committed runs were trained
_OBJECTIVE_LABELS = {"elbo": "VAE (ELBO)", "beta": "β-VAE", "mi": "MI-VAE", "cmi": "CMI-VAE",
                     "mmd": "kernel MMD (CMI)"}


def legacy_traits(config: dict[str, Any]) -> dict[str, Any]:
    """The traits (:data:`cmivae.runs.files.TRAIT_KEYS`) of a run that predates them, from its
    hashed config dict; an unknown name gets no capability and its name as its label."""
    model = str((config.get("model") or {}).get("name", ""))
    objective = str((config.get("objective") or {}).get("name", ""))
    known = _MODEL_TRAITS.get(model, {})
    return {files.CAPABILITIES: sorted(known.get(files.CAPABILITIES, [])),
            files.MODEL_LABEL: known.get(files.MODEL_LABEL, model),
            files.OBJECTIVE_LABEL: _OBJECTIVE_LABELS.get(objective, objective),
            files.MATCHED_METRICS: [list(m) for m in known.get(files.MATCHED_METRICS, [])]}
