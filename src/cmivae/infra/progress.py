"""One-line progress with an ETA for long work whose progress bar is off or not a terminal
(runs side by side in a sweep or ``make demo``, ``--no-progress``, logs redirected to files).

``ProgressLine(total, "train", emit).update(done)`` emits ``train: 120/744 (16%), 1m05s
elapsed, ETA 5m38s`` at most every ``every_seconds`` and once when ``done == total``.

The ETA is the one place that decides when a rate means something: it is measured from the
first observed progress on (what came before it, e.g. the forward passes ahead of a critic's
first step or a first step's warm-up, is not a rate), and it is shown only once
:data:`ETA_MIN_UNITS` units were done since then or :data:`ETA_MIN_SECONDS` seconds passed
with at least one done; until then ``ETA ?``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# An ETA is shown once this many units were done after the first observed one ...
ETA_MIN_UNITS = 3
# ... or, with at least one done, once the rate was measured over this many seconds.
ETA_MIN_SECONDS = 10.0


def format_seconds(seconds: float) -> str:
    """``65.2`` -> ``1m05s``; ``3725`` -> ``1h02m``; ``9.4`` -> ``9s``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressLine:
    """Periodic ``label: done/total (pct), elapsed, ETA`` lines through ``emit``.

    Args:
        total: units of work in all (steps, batches, files).
        label: what is being done, e.g. ``"train"`` or ``"I(z;s) critic"``.
        emit: where lines go (``print``, a run's log).
        every_seconds: at most one line per this many seconds (0: every update).
        start_done: units already done before this process started (resumed work): the rate
            and ETA count only what this process did.
    """

    def __init__(self, total: int, label: str, emit: Callable[[str], None], *, every_seconds: float = 30.0,
                 start_done: int = 0, unit: str = "") -> None:
        self.total, self.label, self.emit = max(1, int(total)), label, emit
        self.every_seconds, self.start_done, self.unit = every_seconds, start_done, unit
        self.start = self.last = time.monotonic()
        self.reference: tuple[float, int] | None = None  # (time, done) of the first observed progress

    def _observe(self, done: int, now: float) -> None:
        if self.reference is None and done > self.start_done:
            self.reference = (now, done)  # the first unit's time includes warm-up: not a rate

    def eta(self, done: int, now: float) -> float | None:
        """Seconds left at the rate measured since the first observed progress; ``None`` until
        that rate is meaningful (:data:`ETA_MIN_UNITS`, :data:`ETA_MIN_SECONDS`)."""
        self._observe(done, now)
        if done >= self.total:
            return 0.0
        if self.reference is None:
            return None
        since, first = self.reference
        units, seconds = done - first, now - since
        if units <= 0 or seconds <= 0 or (units < ETA_MIN_UNITS and seconds < ETA_MIN_SECONDS):
            return None
        return seconds / units * (self.total - done)

    def line(self, done: int, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = now - self.start
        eta = self.eta(done, now)
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.label}: {done}/{self.total}{unit} ({100 * done / self.total:.0f}%), "
                f"{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta) if eta is not None else '?'}")

    def update(self, done: int) -> None:
        now = time.monotonic()
        self._observe(done, now)
        if done >= self.total or now - self.last >= self.every_seconds:
            self.last = now
            self.emit(self.line(done, now))
