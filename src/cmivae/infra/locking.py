"""One writer per directory: an exclusive ``flock`` on ``DIR/.cmivae.lock``.

``cmivae train`` and ``cmivae evaluate`` hold the lock of their run directory for their
whole life, ``cmivae sweep`` that of its sweep directory. A second process is refused
at once with :class:`LockError` naming the holder's pid, before it reads or writes anything
else in the directory. The lock is released by the kernel when its holder exits, however
it exits (SIGKILL included), so a stale lock file never blocks a rerun.

Re-entrant within one process (a sweep running ``fit`` then ``evaluate_run`` on one run
directory takes it once): ``flock`` locks belong to an open file, so a second ``open`` in
the same process would otherwise block itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from cmivae.infra.errors import CmivaeError

LOCK_NAME = ".cmivae.lock"

_HELD: dict[str, tuple[int, int]] = {}  # resolved directory -> (file descriptor, depth)


class LockError(CmivaeError):
    """Another process holds the directory's lock."""

    exit_code = 2


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").split()
    except OSError:
        text = []
    return f"process {text[0]}" if text and text[0].isdigit() else "another process"


@contextlib.contextmanager
def directory_lock(folder: str | Path, what: str = "run directory") -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block.

    Raises:
        LockError: another process holds it; nothing in ``folder`` was changed.
        WriteError: ``folder`` cannot be created or the lock file cannot be opened.
    """
    import fcntl

    from cmivae.infra.atomic import _write_error, broken_link
    from cmivae.infra.errors import ConfigError

    folder = Path(folder)
    if (broken := broken_link(folder)) is not None:  # else mkdir says only "File exists"
        raise ConfigError(f"{what} {broken}")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, expected a {what}; give another path")
    key = os.path.realpath(folder)
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    lock_path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise _write_error(lock_path, err) from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockError(f"{what} {folder} is in use by {_holder(fd)} (it holds {lock_path}); wait for it "
                            f"to finish or stop it, or use another directory") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)  # the first write: a full disk fails here
        except OSError as err:
            raise _write_error(lock_path, err) from err
        _HELD[key] = (fd, 1)
        try:
            yield
        finally:
            del _HELD[key]
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock
