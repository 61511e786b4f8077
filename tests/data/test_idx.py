"""read_idx: round trips, gzip detection by magic bytes, and an actionable error for each bad input."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from cmivae.data.images.idx import read_idx
from cmivae.infra.errors import DataError

_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialize ``array`` as IDX: magic 00 00 <type> <ndim>, big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, _TYPE_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)  # (N, H, W)


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_uint8(tmp_path: Path, images: np.ndarray, compress: bool) -> None:
    out = read_idx(write_idx(tmp_path / "x-idx3-ubyte", images, compress=compress))
    assert out.dtype == np.uint8 and out.shape == (5, 4, 3)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 1  # writable


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32])
def test_round_trip_big_endian_types(tmp_path: Path, dtype: type) -> None:
    array = (np.arange(12) - 6).astype(dtype).reshape(3, 4)
    out = read_idx(write_idx(tmp_path / "a.idx", array))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_gzip_detected_by_magic_not_extension(tmp_path: Path, images: np.ndarray) -> None:
    gz_named_plain = write_idx(tmp_path / "plain.gz", images, compress=False)
    plain_named_gz = write_idx(tmp_path / "compressed.idx", images, compress=True)
    np.testing.assert_array_equal(read_idx(gz_named_plain), images)
    np.testing.assert_array_equal(read_idx(plain_named_gz), images)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    with pytest.raises(DataError, match="does not exist") as err:
        read_idx(path)
    assert str(path) in str(err.value) and "cmivae data fetch" in str(err.value)


def test_fix_hint_is_used(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="re-run `cmivae data fetch fashion-mnist`"):
        read_idx(tmp_path / "nope", fix="re-run `cmivae data fetch fashion-mnist`")


@pytest.mark.parametrize(
    "head",
    [b"\x89PNG\r\n\x1a\n", b"\x00\x00\x07\x03", b"\x00\x00\x08\x00", b"\x01\x00\x08\x03"],
    ids=["png", "bad-type", "zero-dims", "nonzero-prefix"],
)
def test_wrong_magic(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "bad"
    path.write_bytes(head + b"\x00" * 32)
    with pytest.raises(DataError, match="wrong magic number") as err:
        read_idx(path)
    message = str(err.value)
    assert str(path) in message and "expected 0x0000TTNN" in message and "cmivae data fetch" in message


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data(tmp_path: Path, images: np.ndarray, compress: bool) -> None:
    data = idx_bytes(images)[:-7]
    path = tmp_path / "short"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataError, match="is truncated") as err:
        read_idx(path)
    message = str(err.value)
    assert str(path) in message and "(5, 4, 3)" in message and "60 data bytes" in message and "only 53" in message


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "short-header"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 5))  # declares 3 dims, has 1
    with pytest.raises(DataError, match="truncated inside its header"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="fewer than the 4-byte magic"):
        read_idx(path)


def test_trailing_garbage(tmp_path: Path, images: np.ndarray) -> None:
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(images) + b"junk")
    with pytest.raises(DataError, match="4 unexpected trailing bytes") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_corrupt_gzip(tmp_path: Path, images: np.ndarray) -> None:
    blob = bytearray(gzip.compress(idx_bytes(images)))
    blob[len(blob) // 2] ^= 0xFF  # flip bits mid-stream -> bad deflate data or CRC mismatch
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="gzip stream is corrupt or truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value) and "cmivae data fetch" in str(err.value)


def test_truncated_gzip(tmp_path: Path, images: np.ndarray) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(images))[:-10])  # stream cut before its trailer
    with pytest.raises(DataError, match="gzip stream is corrupt or truncated"):
        read_idx(path)
