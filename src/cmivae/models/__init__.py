"""Models: the PixelCNN-VAE (images) and the DSAE (speech).

Each model class follows :class:`cmivae.models.contract.VAEModel`: a ``config_class``
dataclass (its constructor signature), ``modality``, ``z_dim``, ``s_shape`` and
``forward(x) -> VAEOutput``. The registry (:data:`cmivae.registry.MODELS`,
:func:`cmivae.registry.build_model`) maps names to classes.
"""

from __future__ import annotations

from cmivae.models.dsae import DSAE, DSAEConfig
from cmivae.models.outputs import VAEOutput
from cmivae.models.pixelcnn_vae import PixelCNNVAE, PixelCNNVAEConfig

__all__ = ["DSAE", "DSAEConfig", "PixelCNNVAE", "PixelCNNVAEConfig", "VAEOutput"]
