"""Models: the PixelCNN-VAE (images) and the DSAE (speech).

Each model class follows :class:`cmivae.models.contract.VAEModel`: a ``config_class``
dataclass (its constructor signature), ``modality``, ``capabilities``
(:mod:`cmivae.models.capabilities`), ``z_dim``, ``s_shape`` and
``forward(x) -> VAEOutput``. The registry (:data:`cmivae.registry.MODELS`,
:func:`cmivae.registry.build_model`) maps names to classes.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use, so the torch-free ``cmivae.models.capabilities`` stays torch-free.
_HOMES = {"DSAE": "dsae", "DSAEConfig": "dsae", "VAEOutput": "outputs", "PixelCNNVAE": "pixelcnn_vae",
          "PixelCNNVAEConfig": "pixelcnn_vae"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'cmivae.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cmivae.models.{_HOMES[name]}"), name)


__all__ = ["DSAE", "DSAEConfig", "PixelCNNVAE", "PixelCNNVAEConfig", "VAEOutput"]
