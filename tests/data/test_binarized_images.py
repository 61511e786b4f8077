"""load_binarized_images: threshold (G.2), seeded train/validation split, subsets, validation errors, cache."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from cmivae.data.images import binarized as binarized_images
from cmivae.data.images.binarized import ImageSplits, load_binarized_images
from cmivae.infra.errors import ConfigError, DataError

NUM_OFFICIAL_TRAIN, NUM_OFFICIAL_TEST = 50, 20


def write_idx(path: Path, array: np.ndarray) -> None:
    """uint8 IDX: magic 00 00 08 <ndim>, big-endian uint32 dims, data."""
    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def coded_images(num: int, offset: int = 0) -> np.ndarray:
    """(N, 28, 28) uint8 images whose first row spells index ``offset + i`` in bits (0 or 255)."""
    images = np.zeros((num, 28, 28), dtype=np.uint8)
    bits = ((np.arange(offset, offset + num)[:, None] >> np.arange(16)) & 1).astype(np.uint8)  # (N, 16)
    images[:, 0, :16] = bits * 255
    images[:, 1, 0] = 127  # just below the threshold
    images[:, 1, 1] = 128  # exactly at the threshold
    return images


def decode(x: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`coded_images` on binarized (N, 1, 28, 28) tensors -> (N,) indices."""
    return (x[:, 0, 0, :16].numpy().astype(np.int64) << np.arange(16)).sum(axis=1)


def write_dataset(root: Path, name: str = "mnist", num_train: int = NUM_OFFICIAL_TRAIN, **override: np.ndarray) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": coded_images(num_train),
        "train-labels-idx1-ubyte": (np.arange(num_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": coded_images(NUM_OFFICIAL_TEST, offset=1000),
        "t10k-labels-idx1-ubyte": (np.arange(NUM_OFFICIAL_TEST) % 10).astype(np.uint8),
    }
    arrays.update({k.replace("_", "-"): v for k, v in override.items()})
    for filename, array in arrays.items():
        write_idx(folder / filename, array)
    return root


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    binarized_images.clear_cache()


def test_shapes_dtypes_and_threshold(tmp_path: Path) -> None:
    splits = load_binarized_images("mnist", write_dataset(tmp_path), fetch=False)
    assert isinstance(splits, ImageSplits) and splits.name == "mnist" and splits.split_seed == 0
    assert splits.train_x.shape == (40, 1, 28, 28) and splits.val_x.shape == (10, 1, 28, 28)
    assert splits.test_x.shape == (NUM_OFFICIAL_TEST, 1, 28, 28)
    for x, y in ((splits.train_x, splits.train_y), (splits.val_x, splits.val_y), (splits.test_x, splits.test_y)):
        assert x.dtype == torch.uint8 and y.dtype == torch.int64 and len(x) == len(y)
        assert set(x.unique().tolist()) <= {0, 1}
        assert (x[:, 0, 1, 0] == 0).all() and (x[:, 0, 1, 1] == 1).all()  # 127 -> 0, 128 -> 1 (pixel/255 > 0.5)
    np.testing.assert_array_equal(decode(splits.test_x), np.arange(1000, 1000 + NUM_OFFICIAL_TEST))  # official order
    np.testing.assert_array_equal(splits.train_y.numpy(), decode(splits.train_x) % 10)  # labels follow images


def test_split_is_a_seeded_partition(tmp_path: Path) -> None:
    root = write_dataset(tmp_path)
    splits = load_binarized_images("mnist", root, fetch=False, split_seed=3)
    train, val = decode(splits.train_x), decode(splits.val_x)
    perm = np.random.default_rng(3).permutation(NUM_OFFICIAL_TRAIN)
    np.testing.assert_array_equal(train, perm[:40])
    np.testing.assert_array_equal(val, perm[40:])
    again = load_binarized_images("mnist", root, fetch=False, split_seed=3)
    assert torch.equal(again.train_x, splits.train_x) and torch.equal(again.val_y, splits.val_y)
    other = load_binarized_images("mnist", root, fetch=False, split_seed=4)
    assert not np.array_equal(decode(other.val_x), val)


def test_val_fraction(tmp_path: Path) -> None:
    root = write_dataset(tmp_path)
    splits = load_binarized_images("mnist", root, fetch=False, val_fraction=0.5)
    assert (len(splits.train_x), len(splits.val_x)) == (25, 25)
    assert len(load_binarized_images("mnist", root, fetch=False, val_fraction=0.0).val_x) == 0
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="val_fraction"):
            load_binarized_images("mnist", root, fetch=False, val_fraction=bad)


def test_subsets_are_prefixes(tmp_path: Path) -> None:
    root = write_dataset(tmp_path)
    full = load_binarized_images("mnist", root, fetch=False)
    small = load_binarized_images("mnist", root, fetch=False, num_train=8, num_test=5)
    assert torch.equal(small.train_x, full.train_x[:8])
    assert torch.equal(small.val_x, full.val_x[:2])  # 8 * 0.2 / 0.8 = 2
    assert torch.equal(small.test_x, full.test_x[:5]) and torch.equal(small.test_y, full.test_y[:5])
    with pytest.raises(ConfigError, match="num_train=41"):
        load_binarized_images("mnist", root, fetch=False, num_train=41)
    with pytest.raises(ConfigError, match="num_test=0"):
        load_binarized_images("mnist", root, fetch=False, num_test=0)


def test_count_mismatch_names_both_files(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, train_labels_idx1_ubyte=np.zeros(49, dtype=np.uint8))
    with pytest.raises(DataError) as err:
        load_binarized_images("mnist", root, fetch=False)
    message = str(err.value)
    assert "train-images-idx3-ubyte has 50 images" in message and "train-labels-idx1-ubyte has 49 labels" in message
    assert "cmivae data fetch mnist" in message


def test_wrong_image_size(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, t10k_images_idx3_ubyte=np.zeros((20, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte holds uint8 images of shape \(20, 32, 32\)"):
        load_binarized_images("mnist", root, fetch=False)


def test_labels_out_of_range(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, t10k_labels_idx1_ubyte=np.full(20, 10, dtype=np.uint8))
    with pytest.raises(DataError, match="expected classes 0..9"):
        load_binarized_images("mnist", root, fetch=False)


def test_missing_files_without_fetch(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as err:
        load_binarized_images("fashion-mnist", tmp_path, fetch=False)
    assert "re-run `cmivae data fetch fashion-mnist`" in str(err.value)


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected one of: fashion-mnist, mnist"):
        load_binarized_images("svhn", tmp_path, fetch=False)


def test_fetch_true_calls_fetch_dataset_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_dataset(tmp_path, name="fashion-mnist")
    calls = []

    def fake_fetch(name: str, data_dir: Path, *, quiet: bool) -> Path:
        calls.append(name)
        return Path(data_dir) / name

    monkeypatch.setattr(binarized_images, "fetch_dataset", fake_fetch)
    load_binarized_images("fashion-mnist", root)
    load_binarized_images("fashion-mnist", root, num_train=4)
    assert calls == ["fashion-mnist"]  # the second load is served from the cache


def test_cache_is_not_shared_with_callers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_dataset(tmp_path)
    first = load_binarized_images("mnist", root, fetch=False)

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("second load must come from the cache")

    monkeypatch.setattr(binarized_images, "read_idx", no_read)
    first.test_x.fill_(7)
    first.train_x.fill_(7)
    second = load_binarized_images("mnist", root, fetch=False)
    assert set(second.test_x.unique().tolist()) <= {0, 1} and set(second.train_x.unique().tolist()) <= {0, 1}


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian package dataset-fashion-mnist missing"
)
def test_real_fashion_mnist_sizes(tmp_path: Path) -> None:
    from cmivae.data.images import fetch

    fetch.fetch_dataset("fashion-mnist", tmp_path, quiet=True, allow_download=False)
    splits = load_binarized_images("fashion-mnist", tmp_path, num_train=1000, num_test=500)
    assert (len(splits.train_x), len(splits.val_x), len(splits.test_x)) == (1000, 250, 500)
    full = load_binarized_images("fashion-mnist", tmp_path)
    assert (len(full.train_x), len(full.val_x), len(full.test_x)) == (48000, 12000, 10000)
