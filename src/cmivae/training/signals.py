"""Stop training cleanly on SIGTERM (Slurm, Kubernetes, ``kill``) and SIGINT (Ctrl-C).

The first signal only records a request; the training loop checks it at the next step
boundary, writes a checkpoint and raises :class:`Interrupted`, which the command line
prints on one line and turns into the conventional exit code ``128 + signum`` (130 for
SIGINT, 143 for SIGTERM). A second signal while the first is pending stops at once
(the checkpoint written before it is kept), unless it comes within
:data:`SAME_REQUEST_SECONDS` of the first: that is the same request delivered twice, as when
Ctrl-C reaches every process of a sweep's process group and the sweep then terminates its
workers, which must still reach their step boundary and checkpoint.

A step that never reaches its boundary (a kernel wider than any image, ``critic_steps=1e9``, a
call stuck in native code, where Python's own handler does not even run) cannot be stopped
that way, so a watchdog thread sees every signal at once (``signal.set_wakeup_fd``) and ends
the process itself, exit code ``128 + signum``, when

- a second signal comes (after :data:`SAME_REQUEST_SECONDS`) and the training loop has not
  stopped within :data:`SECOND_SIGNAL_GRACE_SECONDS`, or
- the training loop has not reached a step boundary within the stop deadline after the first
  signal: ``$CMIVAE_STOP_SECONDS`` (default :data:`DEFAULT_STOP_SECONDS`, inside the 30 s that
  Slurm's ``KillWait`` and Kubernetes' ``terminationGracePeriodSeconds`` give by default before
  SIGKILL; ``0`` waits for the boundary however long it takes).

The checkpoint written before (the last one on disk, written atomically) is kept; the state of
the unfinished step cannot be checkpointed (its parameters may be half updated). Once the loop
acknowledges the request (it is writing its checkpoint) the deadline no longer applies.

Work with no step boundary to wait for (a sweep's evaluation of a trained run: long probe fits,
Î(z;s) critics) uses :func:`interrupt_on_signals` instead: the first signal raises
:class:`Interrupted` at once, wherever Python next runs, and the same watchdog ends the process
when the work has not stopped within the deadline (a native call that does not return, or code
that catches the exception and carries on). What such work writes must be atomic (``eval.json``
is written with :func:`cmivae.infra.atomic.atomic_write_json`, one metric at a time), so a stop at
any point leaves the metrics written before and no half-written file; the rerun computes the rest.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from cmivae.infra.errors import CmivaeError, ConfigError

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A second signal this soon after the first is the same stop request (a terminal's Ctrl-C reaches the whole
# process group, then the sweep terminates its workers); a person's second Ctrl-C comes later.
SAME_REQUEST_SECONDS = 1.0
STOP_SECONDS_ENV = "CMIVAE_STOP_SECONDS"
DEFAULT_STOP_SECONDS = 20.0  # first signal -> forced exit when no step boundary is reached
SECOND_SIGNAL_GRACE_SECONDS = 2.0  # a second signal: the loop's own exit first, then the watchdog's


def stop_seconds() -> float:
    """The stop deadline: ``$CMIVAE_STOP_SECONDS`` (seconds, ``0``: none), else :data:`DEFAULT_STOP_SECONDS`.

    Raises:
        ConfigError: the variable is not a non-negative number.
    """
    text = os.environ.get(STOP_SECONDS_ENV, "").strip()
    if not text:
        return DEFAULT_STOP_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value != float("inf")):
        raise ConfigError(f"{STOP_SECONDS_ENV}={text!r}: expected the seconds a stop may wait for the step "
                          f"boundary (a number >= 0; 0 waits however long), e.g. {STOP_SECONDS_ENV}=20")
    return value


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
        self.acknowledged = False  # the loop reached a step boundary and is checkpointing: no deadline
        self.log: Callable[[str], None] | None = None  # where a forced stop is recorded (train.log)

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


class Watchdog:
    """The thread that ends the process when a stop request is not honoured in time (module
    docstring). It reads the signal numbers Python's C-level handler writes to a pipe, so it
    runs even while the main thread is inside one endless native call."""

    def __init__(self, request: StopRequest, deadline: float, exit: Callable[[int], None] = os._exit, *,
                 inside: str = "inside a step", late: str = "no step boundary",
                 kept: str = "the step's state is lost, the last checkpoint on disk is kept; rerun the same command "
                             "to resume from it") -> None:
        """``inside``, ``late`` and ``kept`` word the forced stop's line: where it stopped, what did not
        happen within the deadline, and what is kept and how to go on."""
        self.request, self.deadline, self._exit = request, deadline, exit
        self.inside, self.late, self.kept = inside, late, kept
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="cmivae-stop-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        self._closed = True
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")  # wake the thread to let it end
        self._thread.join(timeout=5)
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _watch(self) -> None:
        first: tuple[int, float] | None = None  # (signum, monotonic time) of the first stop signal
        force_at: float | None = None
        why = ""
        while not self._closed:
            now = time.monotonic()
            if first is not None and self.deadline > 0 and not self.request.acknowledged and force_at is None:
                force_at, why = first[1] + self.deadline, f"{self.late} within {self.deadline:g} s"
            timeout = None if force_at is None else max(0.0, force_at - now)
            ready, _, _ = select.select([self._read], [], [], timeout)
            if self._closed:
                return
            now = time.monotonic()
            for signum in os.read(self._read, 512) if ready else b"":
                if signum not in SIGNALS:
                    continue
                if first is None:
                    first = (signum, now)
                elif now - first[1] >= SAME_REQUEST_SECONDS:
                    force_at, why = now + SECOND_SIGNAL_GRACE_SECONDS, f"a second {signal.Signals(signum).name}"
            if force_at is not None and self.request.acknowledged and why.startswith(self.late):
                force_at = None  # the loop is checkpointing: let it finish
            if first is not None and force_at is not None and time.monotonic() >= force_at:
                self._force(first[0], why)
                return

    def _force(self, signum: int, why: str) -> None:
        message = (f"stopped by {signal.Signals(signum).name} {self.inside} ({why}; {STOP_SECONDS_ENV} sets the "
                   f"deadline); {self.kept}")
        if self.request.log is not None:
            with contextlib.suppress(Exception):
                self.request.log(message)
        with contextlib.suppress(OSError):
            os.write(2, f"error: {message}\n".encode("utf-8", "backslashreplace"))
        self._exit(128 + signum)


@contextlib.contextmanager
def stop_on_signals(deadline: float | None = None) -> Iterator[StopRequest]:
    """Install the handlers and the :class:`Watchdog` for the ``with`` block (only in the main
    thread: elsewhere, e.g. a Ray worker thread, the request never fires and signals keep their
    handlers). ``deadline``: seconds from the first signal to a forced exit (default
    :func:`stop_seconds`; 0: none)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    deadline = stop_seconds() if deadline is None else deadline
    previous = {sig: signal.signal(sig, request._handle) for sig in SIGNALS}
    try:
        with Watchdog(request, deadline):
            yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def interrupt_on_signals(what: str, kept: str, deadline: float | None = None) -> Iterator[StopRequest]:
    """For work with no step boundary (a sweep's evaluation; module docstring): the first SIGTERM/SIGINT
    raises :class:`Interrupted` (``"{what} stopped by SIGTERM; {kept}"``) at once, and the :class:`Watchdog`
    ends the process, exit ``128 + signum``, when the block has not been left within ``deadline`` seconds
    (default :func:`stop_seconds`; 0: none) or a second signal comes. Only in the main thread (elsewhere
    signals keep their handlers); the handlers before it are restored on leaving.

    Args:
        what: what is stopped, e.g. ``evaluation of run 3db7cdeb6ee7``.
        kept: what a stop keeps and how to go on, e.g. ``the metrics already in eval.json are kept; rerun
            the same command to compute the rest``.
        deadline: seconds from the first signal to a forced exit.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    deadline = stop_seconds() if deadline is None else deadline

    def handle(signum: int, frame: FrameType | None) -> None:
        if request.signum is not None:  # already raised once: a repeat must not interrupt the unwinding
            return
        request.signum, request.received_at = signum, time.monotonic()
        raise Interrupted(signum, f"{what} stopped by {signal.Signals(signum).name}; {kept}")

    previous = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        with Watchdog(request, deadline, inside=f"during the {what}", late="not stopped", kept=kept):
            yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# What a stopped evaluation keeps: eval.json is written one metric at a time, atomically.
EVALUATION_KEPT = "the metrics already in eval.json are kept"


@contextlib.contextmanager
def evaluation_stop_guard(what: str, rerun: str) -> Iterator[StopRequest]:
    """The stop guard of every evaluation (``cmivae evaluate``, a sweep's): :func:`interrupt_on_signals`
    worded for it. A stop ends the evaluation at once, or by the stop deadline when a native call (a probe's
    fit) does not return; the error line is ``"evaluation of {what} stopped by SIGTERM; the metrics already
    in eval.json are kept; {rerun}"``, exit ``128 + signum``.

    Args:
        what: the run, e.g. ``runs/beta-1`` or ``run 3db7cdeb6ee7``.
        rerun: how the caller's user computes the rest, e.g. ``rerun with --missing to compute the rest``.
    """
    with interrupt_on_signals(f"evaluation of {what}", f"{EVALUATION_KEPT}; {rerun}") as request:
        yield request


@contextlib.contextmanager
def raise_on_signals(what: str, kept: Callable[[], str]) -> Iterator[None]:
    """For a supervising process (a sweep): SIGTERM/SIGINT raise :class:`Interrupted` at
    once, so ``finally`` blocks run (terminating workers, which checkpoint on their own).

    Args:
        what: what is stopped, e.g. ``sweep``.
        kept: called when the signal comes: what the stop keeps and how to go on (the sweep says what
            each running run was doing).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum, f"{what} stopped by {signal.Signals(signum).name}; {kept()}")

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
