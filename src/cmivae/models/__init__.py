"""Models: one registry. Each model class has a ``config_class`` dataclass (its
constructor signature), attributes ``z_dim``, ``s_shape`` and ``critic_similarity``,
and ``forward(x) -> VAEOutput``."""

from __future__ import annotations

from typing import Any

from torch import nn

from cmivae.config import reject_unknown_keys
from cmivae.errors import ConfigError
from cmivae.models.outputs import VAEOutput
from cmivae.models.pixelcnn_vae import PixelCNNVAE, PixelCNNVAEConfig

MODELS: dict[str, type[nn.Module]] = {
    "pixelcnn_vae": PixelCNNVAE,
}

try:  # the DSAE lands separately; the registry lists what is importable
    from cmivae.models.dsae import DSAE

    MODELS["dsae"] = DSAE
except ImportError:  # pragma: no cover
    pass


def model_config(name: str, params: dict[str, Any]) -> Any:
    """Validate ``params`` against model ``name``'s config dataclass and build it."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    config_class = MODELS[name].config_class
    reject_unknown_keys(params, config_class, "model", f"model {name!r}")
    try:
        return config_class(**params)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid model config: {err}") from err


def build_model(name: str, params: dict[str, Any]) -> nn.Module:
    """Create model ``name`` from its config parameters (see :func:`model_config`)."""
    config = model_config(name, params)
    return MODELS[name](config)


__all__ = ["MODELS", "PixelCNNVAE", "PixelCNNVAEConfig", "VAEOutput", "build_model", "model_config"]
