"""Stop training cleanly on SIGTERM (Slurm, Kubernetes, ``kill``) and SIGINT (Ctrl-C).

The first signal only records a request; the training loop checks it at the next step
boundary, writes a checkpoint and raises :class:`Interrupted`, which the command line
prints on one line and turns into the conventional exit code ``128 + signum`` (130 for
SIGINT, 143 for SIGTERM). A second signal while the first is pending stops at once
(the checkpoint written before it is kept), unless it comes within
:data:`SAME_REQUEST_SECONDS` of the first: that is the same request delivered twice, as when
Ctrl-C reaches every process of a sweep's process group and the sweep then terminates its
workers, which must still reach their step boundary and checkpoint.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

from cmivae.infra.errors import CmivaeError

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A second signal this soon after the first is the same stop request (a terminal's Ctrl-C reaches the whole
# process group, then the sweep terminates its workers); a person's second Ctrl-C comes later.
SAME_REQUEST_SECONDS = 1.0


class Interrupted(CmivaeError):
    """Training stopped on a signal; :attr:`exit_code` is ``128 + signum``."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class StopRequest:
    """What the handler saw: :attr:`signum` is ``None`` until a signal arrives."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.received_at = 0.0  # time.monotonic() of the first signal

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.signum is not None:
            if now - self.received_at < SAME_REQUEST_SECONDS:  # the same request, delivered twice
                return
            raise Interrupted(signum, f"stopped by a second {signal.Signals(signum).name}; "
                                      f"rerun the same command to resume from the last checkpoint")
        self.signum, self.received_at = signum, now


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install the handlers for the ``with`` block (only in the main thread: elsewhere,
    e.g. a Ray worker thread, the request never fires and signals keep their handlers)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.signal(sig, request._handle) for sig in SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def raise_on_signals(what: str) -> Iterator[None]:
    """For a supervising process (a sweep): SIGTERM/SIGINT raise :class:`Interrupted` at
    once, so ``finally`` blocks run (terminating workers, which checkpoint on their own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum, f"{what} stopped by {signal.Signals(signum).name}; running runs wrote a "
                                  f"checkpoint; rerun the same command to resume")

    previous = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def die_with_parent(parent_pid: int) -> None:
    """In a worker process: get SIGTERM when the parent dies, however it dies (SIGKILL
    included; Linux ``PR_SET_PDEATHSIG``), so no run trains unsupervised. A no-op elsewhere."""
    import ctypes
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
