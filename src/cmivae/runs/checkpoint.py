"""Verified, atomic checkpoints that load without executing pickled code.

File layout: the 8-byte magic ``CMIVAE1\\n``, the 64-byte hex SHA-256 of the payload,
then the payload written by ``torch.save``. Loading checks the magic and the hash before
calling ``torch.load(..., weights_only=True)``, so a truncated or corrupted file is
detected and a file carrying pickled code is refused. :func:`load_latest` falls back to
the previous good checkpoint when one fails for any reason (damaged bytes, or a
checksum-valid file whose structure or shapes do not fit) and sets the failed one aside;
:func:`save_rotating` never rotates an unverified ``last.pt`` over ``previous.pt``, so once
the first checkpoint is written at least one verified checkpoint exists at every instant.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cmivae.infra.atomic import atomic_write_bytes
from cmivae.infra.errors import CheckpointError, ConfigError

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
                              f"(only tensors and plain data are allowed): {_first_line(err)}") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dictionary")
    return state


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message, without torch's advice to retry with
    ``weights_only=False`` (which would run the pickled code this loader refuses)."""
    text = str(err).strip().splitlines()
    for line in text:
        line = line.strip()
        if line and "weights_only" not in line and not line.startswith(("(1)", "(2)", "WeightsUnpickler")):
            return line[:300]
    return type(err).__name__


def verify_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` carries the magic and a matching checksum (no unpickling)."""
    try:
        blob = Path(path).read_bytes()
    except OSError:
        return False
    digest, payload = blob[len(MAGIC):len(MAGIC) + 64], blob[len(MAGIC) + 64:]
    return blob.startswith(MAGIC) and hashlib.sha256(payload).hexdigest().encode("ascii") == digest


def set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint out of the rotation (``last.pt.damaged-<time>``), kept
    for inspection, never loaded or rotated again."""
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    path.replace(target)
    return target


def save_rotating(last: Path, previous: Path, state: dict[str, Any], warn: Callable[[str], None] = print) -> None:
    """Write ``state`` as ``last``, keeping the old ``last`` as ``previous`` only if it
    verifies; an unverified ``last`` is set aside instead, so ``previous`` is never lost to
    a damaged file and a kill at any point leaves at least one verified checkpoint."""
    last.parent.mkdir(parents=True, exist_ok=True)
    if last.exists():
        if verify_checkpoint(last):
            last.replace(previous)  # atomic: the verified old last is now previous
        else:
            moved = set_aside(last)
            warn(f"warning: {last} does not verify; set aside as {moved.name} (previous.pt kept)")
    save_checkpoint(last, state)


Restore = Callable[[dict[str, Any], Path], Any]


def load_latest(paths: list[Path], map_location: str | torch.device = "cpu",
                warn: Callable[[str], None] = print, restore: Restore | None = None,
                set_aside_failed: bool = False) -> tuple[Any, Path] | None:
    """Load the first good checkpoint among ``paths`` (newest first); ``None`` if none exist.

    Args:
        restore: ``(checkpoint, path) -> value`` applied to each loaded checkpoint; any
            exception but a :class:`~cmivae.infra.errors.ConfigError` (a refusal, e.g. another
            config) counts as this checkpoint failing (wrong structure, wrong shapes), and
            the next one is tried. The returned pair holds its value (default: the checkpoint).
        set_aside_failed: rename the checkpoints that failed before a good one was found
            (:func:`set_aside`; rank 0 only). Nothing is renamed when none is usable.

    Raises:
        CheckpointError: checkpoints exist but none is usable, naming every reason.
        ConfigError: ``restore`` refused one.
    """
    errors: list[tuple[Path, str]] = []
    existing = [path for path in paths if path.exists()]
    for i, path in enumerate(existing):
        try:
            checkpoint = load_checkpoint(path, map_location)
            value = restore(checkpoint, path) if restore is not None else checkpoint
        except ConfigError:
            raise
        except CheckpointError as err:
            errors.append((path, str(err)))
        except Exception as err:  # noqa: BLE001 - a valid file of the wrong structure or shapes
            errors.append((path, f"checkpoint {path} does not fit this model "
                                 f"({type(err).__name__}: {_first_line(err)})"))
        else:
            for failed, _ in errors:
                if set_aside_failed and failed.exists():
                    moved = set_aside(failed)
                    warn(f"warning: set aside the unusable {failed.name} as {moved.name}")
            return value, path
        if i + 1 < len(existing):  # the last failure is in the error itself
            warn(f"warning: {errors[-1][1]}; trying the previous checkpoint")
    if errors:
        raise CheckpointError("no usable checkpoint: " + "; ".join(e for _, e in errors)
                              + " (use --force to start over)")
    return None
