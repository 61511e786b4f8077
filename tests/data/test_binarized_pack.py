"""Data packs for offline (GPU) machines: pack -> import -> load gives the IDX files' splits bit for bit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cmivae.data.images import binarized as binarized_images
from cmivae.data.images.binarized import load_binarized_images, read_binarized
from cmivae.data.images.pack import PACK_FILENAME, import_pack, pack_bytes, read_pack
from cmivae.infra.errors import DataError
from tests.data.test_binarized_images import write_dataset

SPLITS = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    binarized_images.clear_cache()


def _pack(tmp_path: Path, name: str = "mnist") -> tuple[Path, Path]:
    """(IDX data dir, pack file) of the synthetic data set."""
    root = write_dataset(tmp_path / "idx", name)
    pack = tmp_path / "data.npz"
    pack.write_bytes(pack_bytes(name, read_binarized(name, root / name), {"train-images-idx3-ubyte": "x"}))
    return root, pack


def test_imported_pack_loads_the_same_splits(tmp_path: Path) -> None:
    root, pack = _pack(tmp_path)
    installed = import_pack(pack, tmp_path / "offline")
    assert installed == tmp_path / "offline" / "mnist" / PACK_FILENAME
    expected = load_binarized_images("mnist", root, fetch=False, num_train=30, num_test=10)
    binarized_images.clear_cache()
    # fetch=True would look for Debian/npm/mirrors; with a pack and no IDX files it is not needed.
    got = load_binarized_images("mnist", tmp_path / "offline", fetch=True, num_train=30, num_test=10)
    for split in SPLITS:
        a, b = getattr(expected, split), getattr(got, split)
        assert a.dtype == b.dtype and torch.equal(a, b), split


def test_pack_manifest_records_provenance(tmp_path: Path) -> None:
    _, pack = _pack(tmp_path)
    manifest, (train_x, train_y, test_x, test_y) = read_pack(pack, expected_name="mnist")
    assert manifest["name"] == "mnist" and manifest["image_shape"] == [1, 28, 28]
    assert manifest["source_md5"] == {"train-images-idx3-ubyte": "x"}
    assert train_x.shape == (50, 1, 28, 28) and train_x.dtype == np.uint8 and set(np.unique(train_x)) <= {0, 1}
    assert train_y.dtype == np.int64 and test_x.shape[0] == test_y.shape[0] == 20


def test_damaged_or_foreign_packs_are_refused(tmp_path: Path) -> None:
    _, pack = _pack(tmp_path)
    with pytest.raises(DataError, match="holds 'mnist', expected 'fashion-mnist'"):
        read_pack(pack, expected_name="fashion-mnist")
    with np.load(pack) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["train_bits"] = arrays["train_bits"].copy()
    arrays["train_bits"][0, 0] ^= 1
    damaged = tmp_path / "damaged.npz"
    np.savez_compressed(damaged, **arrays)
    with pytest.raises(DataError, match="damaged: the checksum of train_bits"):
        read_pack(damaged)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable cmivae data pack"):
        read_pack(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="no data pack at"):
        import_pack(tmp_path / "missing.npz", tmp_path)


def test_idx_files_win_over_a_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, pack = _pack(tmp_path)
    import_pack(pack, root)
    monkeypatch.setattr(binarized_images, "read_pack", lambda *a, **k: pytest.fail("the IDX files are there"))
    assert load_binarized_images("mnist", root, fetch=False).train_x.shape == (40, 1, 28, 28)


@pytest.mark.slow
def test_cli_pack_and_import_real_fashion_mnist(tmp_path: Path, fashion_mnist_dir: str) -> None:
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "PATH": "/usr/bin:/bin"}
    pack = tmp_path / "fashion.npz"
    run = [sys.executable, "-m", "cmivae", "data"]
    made = subprocess.run([*run, "pack", "fashion-mnist", "--out", str(pack), "--data-dir", fashion_mnist_dir],
                          capture_output=True, text=True, env=env, timeout=300)
    assert made.returncode == 0, made.stderr
    assert pack.stat().st_size < 20 * 2**20  # travels with the repository to a GPU machine
    done = subprocess.run([*run, "import", str(pack), "--data-dir", str(tmp_path / "offline")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = load_binarized_images("fashion-mnist", fashion_mnist_dir, fetch=False)
    binarized_images.clear_cache()
    got = load_binarized_images("fashion-mnist", tmp_path / "offline")
    assert all(torch.equal(getattr(expected, s), getattr(got, s)) for s in SPLITS)
    missing = subprocess.run([*run, "import", str(tmp_path / "nope.npz")], capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no data pack at")
