"""Crash-safe file writes: write a temporary sibling, flush, fsync, rename.

A kill during a write leaves the previous file intact (and at most a hidden temporary
``.<name>.<random>.tmp`` beside it, which :func:`remove_stale_temporaries` clears when a run
restarts); a failed write (a full disk, a permission problem) removes its temporary and
raises :class:`WriteError` naming the file, never leaving a partial file under the real name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cmivae.infra import json_files
from cmivae.infra.errors import CmivaeError

TEMP_SUFFIX = ".tmp"
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


class WriteError(CmivaeError, OSError):
    """A file could not be written (e.g. the disk is full). Also an ``OSError`` with the
    original ``errno``, so callers catching ``OSError`` keep working; the command line
    prints it on one line and exits 1."""

    exit_code = 1

    def __str__(self) -> str:
        return str(self.strerror)


def _write_error(path: Path, err: OSError) -> WriteError:
    reason = err.strerror or str(err)
    if err.errno in _DISK_FULL:
        hint = "the disk is full: free some space, then run the same command again (a training run resumes)"
    else:
        hint = f"check that {path.parent} exists and is writable"
    return WriteError(err.errno, f"could not write {path}: {reason}; {hint}")


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: int = 0o644, suffix: str = TEMP_SUFFIX) -> Iterator[BinaryIO]:
    """Open a temporary sibling of ``path`` for binary writing; on a clean exit flush,
    fsync and rename it over ``path`` (then fsync the folder), on any error delete it.

    Raises:
        WriteError: the write failed with an ``OSError``; ``path`` is unchanged and no
            temporary is left. Other exceptions raised inside the block pass through.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise _write_error(path, err) from err
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: str | Path) -> None:
    """Make renames in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically replace a text file (UTF-8). A file name that is not UTF-8 (Python holds its
    bytes as lone surrogates) is written as ``\\xNN`` escapes, so the file stays UTF-8 text."""
    atomic_write_bytes(path, utf8_text(text))


def utf8_text(text: str) -> bytes:
    """``text`` as UTF-8; a file name's undecodable bytes (lone surrogates) as ``\\xNN``."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")  # the bytes a file name held
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace").encode("utf-8")


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically replace a JSON file (indented, keys sorted for readable diffs); strict
    JSON: a NaN or infinite value is written as ``null`` and flagged (:mod:`cmivae.infra.json_files`)."""
    atomic_write_text(path, json_files.dumps(obj, indent=2, sort_keys=True) + "\n")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries that writes killed mid-way (SIGKILL, power loss) left in
    ``folder``; returns what was removed. Call it only when no write to ``folder`` is running."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.glob(f".*{TEMP_SUFFIX}"):
        if candidate.is_file():
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
    return removed
