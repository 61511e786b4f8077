"""Data sets: binarized MNIST / Fashion-MNIST (paper G.2) and speech (G.1: TIMIT, any
folder of speakers, and a synthetic espeak-ng corpus). ``DATASETS`` maps config names
to loaders; :func:`load_dataset` loads one from a :class:`cmivae.config.DataConfig`."""

from __future__ import annotations

from cmivae.data.images.binarized import ImageSplits, load_binarized_images
from cmivae.data.images.fetch import fetch_dataset, resolve_data_dir
from cmivae.data.images.idx import read_idx
from cmivae.data.registry import DATASETS, load_dataset
from cmivae.data.speech.features import DEFAULT_FEATURES, FeatureParams, log_spectrogram, segment_utterance
from cmivae.data.speech.loader import SpeechSplits, SpeechSubset, load_data_config, load_speech, read_audio
from cmivae.data.speech.synthetic_speakers import make_synthetic_speech

__all__ = [
    "DATASETS",
    "DEFAULT_FEATURES",
    "FeatureParams",
    "ImageSplits",
    "SpeechSplits",
    "SpeechSubset",
    "fetch_dataset",
    "load_binarized_images",
    "load_data_config",
    "load_dataset",
    "load_speech",
    "log_spectrogram",
    "make_synthetic_speech",
    "read_audio",
    "read_idx",
    "resolve_data_dir",
    "segment_utterance",
]
