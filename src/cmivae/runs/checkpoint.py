"""Verified, atomic checkpoints that load without executing pickled code.

File layout: the 8-byte magic ``CMIVAE1\\n``, the 64-byte hex SHA-256 of the payload,
then the payload written by ``torch.save``. Loading checks the magic and the hash before
calling ``torch.load(..., weights_only=True)``, so a truncated or corrupted file is
detected and a file carrying pickled code is refused. :func:`load_latest` falls back to
the previous good checkpoint.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from cmivae.atomic import atomic_write_bytes
from cmivae.errors import CheckpointError

MAGIC = b"CMIVAE1\n"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (tensors, numbers, strings, lists, dicts only)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode("ascii")
    atomic_write_bytes(path, MAGIC + digest + payload)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint; raises :class:`CheckpointError` saying what is wrong."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err.strerror}") from err
    if not blob.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a cmivae checkpoint (bad magic); it may be from another program")
    digest, payload = blob[len(MAGIC):len(MAGIC) + 64], blob[len(MAGIC) + 64:]
    if hashlib.sha256(payload).hexdigest().encode("ascii") != digest:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted (checksum mismatch)")
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling refusal is reported the same way
        raise CheckpointError(f"checkpoint {path} holds objects that cannot be loaded safely "
                              f"(only tensors and plain data are allowed): {err}") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dictionary")
    return state


def load_latest(paths: list[Path], map_location: str | torch.device = "cpu",
                warn: Any = print) -> tuple[dict[str, Any], Path] | None:
    """Load the first good checkpoint among ``paths`` (newest first); ``None`` if none exist."""
    errors = []
    for path in paths:
        if not path.exists():
            continue
        try:
            return load_checkpoint(path, map_location), path
        except CheckpointError as err:
            errors.append(str(err))
            warn(f"warning: {err}; trying the previous checkpoint")
    if errors:
        raise CheckpointError("no usable checkpoint: " + "; ".join(errors) + " (use --force to start over)")
    return None
