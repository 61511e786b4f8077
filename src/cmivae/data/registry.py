"""Data sets by name: ``load_dataset(DataConfig)`` returns splits held in memory.

Every data set returns an object with ``train_x``, ``val_x`` and ``test_x`` tensors
(images: uint8 ``(N, 1, 28, 28)`` in {0, 1}; speech: float32 ``(N, T, F)``; video: uint8
``(N, T, 3, H, W)``) and the labels the metrics need (``*_y`` class labels for images; ``*``
speaker/utterance indices for speech; ``*_attributes``, ``*_action``, ``*_character`` for video).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _images(config: Any) -> Any:
    from cmivae.data.images.binarized import load_binarized_images

    return load_binarized_images(config.name, config.data_dir, val_fraction=config.val_fraction,
                                 split_seed=config.split_seed, num_train=config.num_train, num_test=config.num_test)


def _speech(config: Any) -> Any:
    from cmivae.data.speech.loader import load_data_config

    return load_data_config(config)


def _video(config: Any) -> Any:
    from cmivae.data.video.loader import load_sprites

    return load_sprites(config)


DATASETS: dict[str, Callable[[Any], Any]] = {
    "mnist": _images,
    "fashion-mnist": _images,
    "synthetic-speech": _speech,
    "timit": _speech,
    "speech-folder": _speech,
    "sprites": _video,
}


def load_dataset(config: Any) -> Any:
    """Load the data set named by ``config.name`` (a :class:`cmivae.config.DataConfig`)."""
    from cmivae.infra.errors import ConfigError

    if config.name not in DATASETS:
        raise ConfigError(f"unknown data set {config.name!r}; known data sets: {', '.join(DATASETS)}")
    return DATASETS[config.name](config)
