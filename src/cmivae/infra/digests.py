"""SHA-256 digests of files and arrays: the one owner of how the library fingerprints data (fetched files,
binarized packs, the Sprites files and sheets)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

_BLOCK_BYTES = 1 << 22  # files are hashed in 4 MiB blocks, never read whole


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's C-order bytes (dtype and shape are not part of it)."""
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()
