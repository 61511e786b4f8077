"""Data sets: binarized MNIST / Fashion-MNIST images (paper G.2) and their fetching."""

from __future__ import annotations

from cmivae.data.binarized_images import ImageSplits, load_binarized_images
from cmivae.data.fetch import fetch_dataset, resolve_data_dir
from cmivae.data.idx import read_idx

__all__ = [
    "ImageSplits",
    "fetch_dataset",
    "load_binarized_images",
    "read_idx",
    "resolve_data_dir",
]
