"""Crash-safe file writes: write a temporary sibling, flush, fsync, rename.

A kill during a write leaves the previous file intact (and at most a hidden temporary
``.<name>.<random>.tmp`` beside it, which :func:`remove_stale_temporaries` clears when a run
restarts, and the next write of the same file clears too); a failed write (a full disk, a
permission problem) removes its temporary and raises :class:`WriteError` naming the file, never
leaving a partial file under the real name.

A writer holds an ``flock`` on its temporary while it writes, so a temporary whose lock can be
taken belongs to a process that died: only those are removed, never another live writer's.
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
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # a write failed for lack of space


class WriteError(CmivaeError, OSError):
    """A file could not be written (e.g. the disk is full). Also an ``OSError`` with the
    original ``errno``, so callers catching ``OSError`` keep working; the command line
    prints it on one line and exits 1."""

    exit_code = 1

    def __str__(self) -> str:
        return str(self.strerror)


def _write_error(path: Path, err: OSError) -> WriteError:
    reason = err.strerror or str(err)
    if err.errno in DISK_FULL:
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
        remove_stale_temporaries(path.parent, path.name, suffix)  # a killed earlier write of this file
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        _lock(fd)  # held until the descriptor closes: the temporary is in use
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


def _lock(fd: int, blocking: bool = True) -> bool:
    """``flock(LOCK_EX)`` on ``fd``; False when another process holds it (non-blocking)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locks, temporaries count as stale
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:  # a filesystem without flock: the writer proceeds unlocked
        return True
    return True


def _abandoned(candidate: Path) -> bool:
    """Whether the temporary ``candidate`` has no live writer (its flock can be taken)."""
    try:
        fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return _lock(fd, blocking=False)
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | Path, name: str | None = None, suffix: str = TEMP_SUFFIX) -> list[Path]:
    """Delete the temporaries that writes killed mid-way (SIGKILL, power loss) left in
    ``folder`` (only those of the file ``name`` if given); returns what was removed. A
    temporary a live process is writing (it holds its flock) is left alone."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.glob(f".{glob_escape(name) + '.' if name else ''}*{suffix}"):
        if candidate.is_file() and not candidate.is_symlink() and _abandoned(candidate):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def glob_escape(text: str) -> str:
    """``text`` with the glob characters ``*?[`` matched literally."""
    import glob

    return glob.escape(text)


def broken_link(path: str | Path) -> str | None:
    """Why ``path`` is a symbolic link that cannot be followed (``None`` if it is not one):
    a dangling link names its missing target, a loop says so."""
    path = Path(path)
    if not path.is_symlink():
        return None
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return f"{path} is a symbolic link that loops (following it never ends); remove it or give another path"
        return (f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; create the target, "
                f"remove the link, or give another path")
    return None
