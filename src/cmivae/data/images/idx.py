"""Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the values in C order, big-endian. Files may be
gzip-compressed; compression is detected from the first two bytes (``1f 8b``), never
from the file name.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cmivae.infra.errors import DataError

__all__ = ["read_idx", "IDX_DTYPES"]

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 20
_DEFAULT_FIX = "re-download it, e.g. re-run `cmivae data fetch mnist` (or `cmivae data fetch fashion-mnist`)"


def read_idx(path: str | Path, *, fix: str | None = None) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed, into a native-endian numpy array.

    Args:
        path: the file. Gzip is detected from its magic bytes, not its extension.
        fix: how the user can repair a bad file; appended to every error message
            (default: re-run ``cmivae data fetch``).

    Returns:
        A writable array with the header's shape and type, e.g. (N, 28, 28) uint8 for
        an images file and (N,) uint8 for a labels file.

    Raises:
        DataError: the file is missing, is not IDX (wrong magic number), is truncated,
            has bytes after the declared data, or is a corrupt gzip stream.
    """
    path = Path(path)
    fix = fix or _DEFAULT_FIX
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"IDX file {path} {what}; expected an MNIST-style IDX file there. To fix: {fix}.")
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if not is_gzip:
                return _read_stream(raw, path, fix)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                try:
                    return _read_stream(stream, path, fix)  # type: ignore[arg-type]
                except (OSError, EOFError, zlib.error) as exc:
                    raise DataError(
                        f"IDX file {path} starts with the gzip magic bytes but its gzip stream is corrupt or "
                        f"truncated ({exc}); expected a complete gzip-compressed IDX file. To fix: {fix}."
                    ) from exc
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}. To fix: check its permissions, or {fix}.") from exc


def _read_stream(stream: BinaryIO, path: Path, fix: str) -> np.ndarray:
    """Parse header and data from an open (possibly decompressing) binary stream."""
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise DataError(
            f"IDX file {path} is truncated: it has {len(magic)} bytes, fewer than the 4-byte magic number. "
            f"To fix: {fix}."
        )
    code, ndim = magic[2], magic[3]
    if magic[:2] != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(
            f"IDX file {path} has wrong magic number 0x{magic.hex().upper()}; expected 0x0000TTNN with type code TT "
            f"in ({known}) and NN >= 1 dimensions (0x00000803 for images, 0x00000801 for labels). It is not an "
            f"IDX file, or is compressed with something other than gzip. To fix: {fix}."
        )
    dims_bytes = _read_up_to(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DataError(
            f"IDX file {path} is truncated inside its header: the magic number declares {ndim} dimensions "
            f"({4 * ndim} bytes) but only {len(dims_bytes)} follow. To fix: {fix}."
        )
    dims = struct.unpack(f">{ndim}I", bytes(dims_bytes))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    header_bytes = 4 + 4 * ndim
    data = _read_up_to(stream, expected)
    if len(data) < expected:
        raise DataError(
            f"IDX file {path} is truncated: its header declares shape {dims} of {dtype.name}, i.e. {expected} data "
            f"bytes after the {header_bytes}-byte header, but only {len(data)} follow. To fix: {fix}."
        )
    num_extra = _count_remaining(stream)
    if num_extra:
        raise DataError(
            f"IDX file {path} has {num_extra} unexpected trailing bytes after the {expected} data bytes its header "
            f"declares (shape {dims} of {dtype.name}); expected the file to end there. To fix: {fix}."
        )
    array = np.frombuffer(data, dtype=dtype).reshape(dims)  # dims from the header, e.g. (N, H, W)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))  # big-endian on disk -> native
    return array


def _read_up_to(stream: BinaryIO, num_bytes: int) -> bytearray:
    """Read ``num_bytes`` or until EOF, in chunks, so a lying header cannot force a huge allocation."""
    out = bytearray()
    while len(out) < num_bytes:
        chunk = stream.read(min(_CHUNK_BYTES, num_bytes - len(out)))
        if not chunk:
            break
        out += chunk
    return out


def _count_remaining(stream: BinaryIO) -> int:
    count = 0
    while chunk := stream.read(_CHUNK_BYTES):
        count += len(chunk)
    return count
