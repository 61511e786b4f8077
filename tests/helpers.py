"""Tiny configs and in-memory data shared by the tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from cmivae.config import load_config

TINY_PIXELCNN = {"name": "pixelcnn_vae", "image_shape": [1, 8, 8], "z_dim": 4, "kernel_sizes": [5, 3, 3],
                 "channels": 8, "inject_after": 2, "encoder_channels": [4], "encoder_hidden": 16}
TINY_DSAE = {"name": "dsae", "x_dim": 6, "num_steps": 8, "z_dim": 3, "s_dim": 2, "hidden_dim": 8, "rnn_dim": 8,
             "prior_dim": 8, "decoder_hidden_dim": 8}
TINY_VIDEO_DSAE = {"name": "video_dsae", "frame_size": 8, "num_steps": 8, "z_dim": 3, "s_dim": 2,
                   "conv_channels": [4, 8], "kernel_size": 3, "frame_features": [16], "hidden_dim": 8, "rnn_dim": 8,
                   "prior_dim": 8}
# One tiny config per registered model (tests/contracts checks every model has one) and a data set of its modality.
TINY_MODELS: dict[str, dict[str, Any]] = {"pixelcnn_vae": TINY_PIXELCNN, "dsae": TINY_DSAE,
                                          "video_dsae": TINY_VIDEO_DSAE}
TINY_DATA = {"image": "fashion-mnist", "speech": "synthetic-speech", "video": "sprites"}


def tiny_raw(objective: str = "cmi", gamma: float = 0.5, model: str = "pixelcnn_vae", **train: Any) -> dict[str, Any]:
    """The raw dict of :func:`tiny_config`."""
    from cmivae.registry import MODELS

    params = dict(TINY_MODELS[model])
    modality = MODELS[model].modality
    return {"data": {"name": TINY_DATA[modality]}, "model": params,
            "objective": {"name": objective, "gamma": gamma, "critic_hidden_dim": 8},
            "train": {"epochs": 2, "batch_size": 16, "lr": 1e-3, "seed": 0, "precision": "fp32",
                      "checkpoint_every_minutes": 0, **train}}


def tiny_config(objective: str = "cmi", gamma: float = 0.5, model: str = "pixelcnn_vae", **train: Any):
    """A config (``model`` x ``objective``) that trains in well under a second per epoch."""
    return load_config(tiny_raw(objective, gamma, model, **train))


def tiny_batch(model: Any, batch_size: int = 8, seed: int = 0) -> torch.Tensor:
    """A random input batch for a built model: binary images ``(B, C, H, W)``, spectra ``(B, T, F)`` or
    uint8 video frames ``(B, T, C, H, W)``."""
    generator = torch.Generator().manual_seed(seed)
    if model.modality == "video":
        return torch.randint(0, 256, (batch_size, *model.input_shape), generator=generator, dtype=torch.uint8)
    if model.modality == "image":
        return (torch.rand(batch_size, *model.input_shape, generator=generator) < 0.5).float()
    return torch.randn(batch_size, *model.input_shape, generator=generator)


def tiny_images(n_train: int = 64, n_val: int = 32, n_test: int = 32, seed: int = 0) -> SimpleNamespace:
    """Random binary 8x8 images with a global factor (the image's density) and labels."""
    generator = torch.Generator().manual_seed(seed)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 2, (n,), generator=generator)
        density = 0.2 + 0.6 * labels.float()  # (N,)
        x = (torch.rand(n, 1, 8, 8, generator=generator) < density.view(n, 1, 1, 1)).to(torch.uint8)
        return x, labels

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = make(n_train), make(n_val), make(n_test)
    return SimpleNamespace(train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y, test_x=test_x, test_y=test_y)
