"""A compact, verified copy of a statically binarized image set, for machines without internet.

A GPU machine that cannot reach Debian, npm or the download mirrors cannot run
``cmivae data fetch``. ``cmivae data pack fashion-mnist --out FILE`` writes, from the
verified IDX files of this machine, the *binarized* arrays (paper G.2: ``pixel >= 128``)
with the pixels of each image packed 8 to a byte (``np.packbits``) into one compressed
``.npz`` (Fashion-MNIST: ~4 MB instead of 55 MB), together with a manifest: data set
name, format version, shapes, the md5s of the source IDX files, and a sha256 of every
stored array. ``cmivae data import FILE`` checks the manifest and installs the pack as
``<data_dir>/<name>/binarized-pack.npz``; :func:`cmivae.data.images.binarized.load_binarized_images`
then reads it when the IDX files are absent, giving the same arrays bit for bit
(tests/data/test_binarized_pack.py). It carries the binarized images only: grey levels
cannot be recovered from it.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cmivae.infra.atomic import atomic_write_bytes
from cmivae.infra.digests import array_sha256
from cmivae.infra.errors import DataError

FORMAT = "cmivae-binarized-pack-v1"
PACK_FILENAME = "binarized-pack.npz"
_ARRAYS = ("train_bits", "train_labels", "test_bits", "test_labels")


def pack_bytes(name: str, arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
               source_md5: dict[str, str]) -> bytes:
    """The ``.npz`` bytes of a pack of ``arrays`` = (train images, train labels, test images,
    test labels), images ``(N, 1, H, W)`` uint8 in {0, 1}, labels ``(N,)`` int64."""
    train_x, train_y, test_x, test_y = arrays
    stored = {
        "train_bits": np.packbits(train_x.reshape(train_x.shape[0], -1), axis=1),  # (N, HW) -> (N, ceil(HW / 8))
        "train_labels": train_y.astype(np.uint8),
        "test_bits": np.packbits(test_x.reshape(test_x.shape[0], -1), axis=1),
        "test_labels": test_y.astype(np.uint8),
    }
    manifest = {"format": FORMAT, "name": name, "image_shape": list(train_x.shape[1:]),
                "num_train": int(train_x.shape[0]), "num_test": int(test_x.shape[0]),
                "binarization": "pixel >= 128 (pixel / 255 > 0.5, paper G.2)", "source_md5": source_md5,
                "sha256": {key: array_sha256(value) for key, value in stored.items()}}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, manifest=np.array(json.dumps(manifest, sort_keys=True)), **stored)
    return buffer.getvalue()


def read_pack(path: str | Path, expected_name: str | None = None) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """The manifest and the unpacked arrays (train images, train labels, test images, test
    labels; images ``(N, 1, H, W)`` uint8 in {0, 1}, labels int64) of a verified pack.

    Raises:
        DataError: not a pack, a damaged pack (checksum mismatch) or a pack of another data set.
    """
    path = Path(path)
    fix = "rebuild it with `cmivae data pack NAME --out FILE` on a machine that has the data"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as err:
        raise DataError(f"cannot read data pack {path}: {err.strerror or err}; check the path") from err
    if magic != b"PK\x03\x04":  # an .npz is a zip file; numpy would answer with its allow_pickle advice
        raise DataError(f"{path} is not a readable cmivae data pack (not an .npz file); give the .npz file that "
                        f"`cmivae data pack NAME --out FILE` wrote")
    try:
        with np.load(path, allow_pickle=False) as npz:
            manifest = json.loads(str(npz["manifest"]))
            stored = {key: npz[key] for key in _ARRAYS}
    except (zipfile.BadZipFile, EOFError) as err:  # cut short in a copy or a download
        raise DataError(f"{path} is not a complete data pack (truncated, or not a zip archive: {err}); {fix}") from err
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path} is not a readable cmivae data pack ({err}); {fix}") from err
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path} has format {manifest.get('format')!r}, expected {FORMAT!r}; {fix}")
    if expected_name is not None and manifest["name"] != expected_name:
        raise DataError(f"{path} holds {manifest['name']!r}, expected {expected_name!r}; import the right pack")
    for key, value in stored.items():
        if array_sha256(value) != manifest["sha256"][key]:
            raise DataError(f"{path} is damaged: the checksum of {key} does not match its manifest; {fix}")
    shape = tuple(manifest["image_shape"])  # (C, H, W)
    pixels = int(np.prod(shape))

    def unpack(bits: np.ndarray) -> np.ndarray:
        return np.unpackbits(bits, axis=1, count=pixels).reshape(bits.shape[0], *shape)  # (N, HW/8) -> (N, C, H, W)

    arrays = (unpack(stored["train_bits"]), stored["train_labels"].astype(np.int64),
              unpack(stored["test_bits"]), stored["test_labels"].astype(np.int64))
    return manifest, arrays


def installed_pack(folder: Path) -> Path | None:
    """``folder/binarized-pack.npz`` if it exists."""
    path = folder / PACK_FILENAME
    return path if path.is_file() else None


def import_pack(path: str | Path, data_dir: str | Path | None = None) -> Path:
    """Verify the pack at ``path`` and install it into ``<data_dir>/<name>/``; returns the installed file."""
    from cmivae.data.images.fetch import resolve_data_dir

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no data pack at {path}; make one with `cmivae data pack NAME --out {path}`")
    manifest, _ = read_pack(path)
    target = resolve_data_dir(data_dir) / manifest["name"] / PACK_FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, path.read_bytes())
    return target
