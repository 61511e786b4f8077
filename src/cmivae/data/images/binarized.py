"""Statically binarized MNIST and Fashion-MNIST with a seeded train/validation split (paper, Appendix G.2).

G.2: "each pixel value in [0, 1] is binarized with the threshold 0.5. The datasets are
originally split into train/test subsets, and we further split the train subsets into 80%
of train and 20% of validation subsets."

Binarization here is the *static threshold* ``pixel / 255 > 0.5``, which for uint8 pixels is
``pixel >= 128`` (13.2 % of MNIST training pixels are on). This is not the Larochelle
"binarized_mnist" (sampled once from the grey levels); numbers from papers using that
version are not directly comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cmivae.data.images.fetch import IDX_FILENAMES, fetch_dataset, get_spec, resolve_data_dir
from cmivae.data.images.idx import read_idx
from cmivae.data.images.pack import installed_pack, pack_bytes, read_pack
from cmivae.infra.atomic import atomic_write_bytes
from cmivae.infra.errors import ConfigError, DataError

__all__ = ["ImageSplits", "load_binarized_images", "BINARIZE_THRESHOLD", "IMAGE_SIZE"]

# uint8 pixels >= 128 are on; equals pixel/255 > 0.5 (G.2).
BINARIZE_THRESHOLD = 128
IMAGE_SIZE = 28
NUM_CLASSES = 10

# (name, data folder) -> (train images, train labels, test images, test labels), already binarized:
# images (N, 1, 28, 28) uint8 in {0, 1}, labels (N,) int64. Never handed out; every load copies.
_CACHE: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


@dataclass
class ImageSplits:
    """Train/validation/test tensors of a binarized image data set.

    Attributes:
        train_x, val_x, test_x: ``torch.uint8`` images ``(N, 1, 28, 28)`` with values in {0, 1}.
        train_y, val_y, test_y: ``torch.int64`` class labels ``(N,)`` in 0..9.
        split_seed: seed of the permutation that split the official train set into train/validation.
        name: data set name (``"mnist"`` or ``"fashion-mnist"``).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    split_seed: int
    name: str


def load_binarized_images(
    name: str,
    data_dir: str | Path | None = None,
    *,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    num_train: int | None = None,
    num_test: int | None = None,
    fetch: bool = True,
) -> ImageSplits:
    """Load ``name`` statically binarized, with the official test set and a seeded validation split (G.2).

    The official training set of N images is permuted with ``numpy.random.default_rng(split_seed)``;
    the first ``N - round(N * val_fraction)`` permuted indices are the train part, the rest
    validation (48,000 / 12,000 for MNIST with the default 0.2). Subsets for fast runs are
    deterministic: ``num_train`` keeps the first images of the permuted train part (and the
    validation part shrinks in proportion, ``round(num_train * val_fraction / (1 - val_fraction))``),
    ``num_test`` keeps the first test images in the official order.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        data_dir: root data folder (see :func:`cmivae.data.images.fetch.resolve_data_dir`).
        val_fraction: share of the official train set held out for validation, in [0, 1).
        split_seed: seed of the train/validation permutation.
        num_train: optional number of training images to keep.
        num_test: optional number of test images to keep.
        fetch: fetch and verify the files first (:func:`fetch_dataset`); with False, the
            files must already be in ``<data_dir>/<name>/`` and are not checksummed.
            Without the IDX files, a pack installed by ``cmivae data import``
            (:mod:`cmivae.data.images.pack`, verified by its checksums) is read instead.

    Raises:
        ConfigError: unknown name or invalid fraction / subset size.
        DataError: missing, corrupt or inconsistent files.
    """
    get_spec(name)  # unknown names fail here with the list of known ones
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}; the paper uses 0.2 (G.2).")
    folder = resolve_data_dir(data_dir) / name
    key = (name, str(folder.resolve()))
    if key not in _CACHE:
        pack = installed_pack(folder)
        if pack is not None and not all((folder / f).is_file() for f in IDX_FILENAMES):
            _CACHE[key] = read_pack(pack, expected_name=name)[1]  # an offline machine: `cmivae data import`
        else:
            if fetch:
                folder = fetch_dataset(name, data_dir, quiet=True)
            _CACHE[key] = read_binarized(name, folder)
    train_x_all, train_y_all, test_x_all, test_y_all = _CACHE[key]

    num_official = len(train_x_all)
    num_val_full = int(round(num_official * val_fraction))
    perm = np.random.default_rng(split_seed).permutation(num_official)  # (N,)
    train_idx, val_idx = perm[: num_official - num_val_full], perm[num_official - num_val_full :]
    if num_train is not None:
        _check_subset("num_train", num_train, len(train_idx))
        num_val = min(len(val_idx), int(round(num_train * val_fraction / (1.0 - val_fraction))))
        train_idx, val_idx = train_idx[:num_train], val_idx[:num_val]
    num_test_kept = len(test_x_all)
    if num_test is not None:
        _check_subset("num_test", num_test, len(test_x_all))
        num_test_kept = num_test

    # Fancy indexing and the explicit copies keep the cache private to this module.
    return ImageSplits(
        train_x=torch.from_numpy(train_x_all[train_idx]),
        train_y=torch.from_numpy(train_y_all[train_idx]),
        val_x=torch.from_numpy(train_x_all[val_idx]),
        val_y=torch.from_numpy(train_y_all[val_idx]),
        test_x=torch.from_numpy(test_x_all[:num_test_kept].copy()),
        test_y=torch.from_numpy(test_y_all[:num_test_kept].copy()),
        split_seed=split_seed,
        name=name,
    )


def clear_cache() -> None:
    """Forget data sets loaded in this process (e.g. after re-fetching files)."""
    _CACHE.clear()


def read_binarized(name: str, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train images, train labels, test images, test labels of the IDX files in ``folder``,
    binarized: images ``(N, 1, 28, 28)`` uint8 in {0, 1}, labels ``(N,)`` int64."""
    fix = f"re-run `cmivae data fetch {name}`" + ("" if folder.is_dir() else f" (expected the files in {folder})")
    arrays = []
    for split in ("train", "t10k"):
        images_path, labels_path = folder / f"{split}-images-idx3-ubyte", folder / f"{split}-labels-idx1-ubyte"
        images, labels = read_idx(images_path, fix=fix), read_idx(labels_path, fix=fix)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(
                f"{images_path} holds {images.dtype} images of shape {images.shape}; expected uint8 "
                f"(N, {IMAGE_SIZE}, {IMAGE_SIZE}) for {name}. To fix: {fix}."
            )
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise DataError(
                f"{labels_path} holds {labels.dtype} labels of shape {labels.shape}; expected uint8 (N,). "
                f"To fix: {fix}."
            )
        if len(images) != len(labels):
            raise DataError(
                f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; expected "
                f"the same count. The files are from different sets or versions. To fix: {fix}."
            )
        if len(labels) and int(labels.max()) >= NUM_CLASSES:
            raise DataError(
                f"{labels_path} has label {int(labels.max())}; expected classes 0..{NUM_CLASSES - 1}. To fix: {fix}."
            )
        binary = (images >= BINARIZE_THRESHOLD).astype(np.uint8)[:, None]  # (N, 28, 28) -> (N, 1, 28, 28)
        arrays += [binary, labels.astype(np.int64)]
    return arrays[0], arrays[1], arrays[2], arrays[3]


def write_pack(name: str, out: str | Path, data_dir: str | Path | None = None) -> Path:
    """Pack data set ``name`` from the verified IDX files of ``data_dir`` into ``out``
    (``cmivae data pack``; the format: :mod:`cmivae.data.images.pack`)."""
    folder = fetch_dataset(name, data_dir, quiet=True, allow_download=False)
    out = Path(out)
    atomic_write_bytes(out, pack_bytes(name, read_binarized(name, folder), dict(get_spec(name).md5)))
    return out


def _check_subset(arg: str, value: int, available: int) -> None:
    if not 0 < value <= available:
        raise ConfigError(f"{arg}={value} is out of range; expected 1..{available} for this split.")
