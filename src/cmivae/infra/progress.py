"""One-line progress with an ETA for long work whose progress bar is off or not a terminal
(runs side by side in a sweep or ``make demo``, ``--no-progress``, logs redirected to files).

``ProgressLine(total, "train", emit).update(done)`` emits ``train: 120/744 (16%), 1m05s
elapsed, ETA 5m38s`` at most every ``every_seconds`` and once when ``done == total``.
"""

from __future__ import annotations

import time
from collections.abc import Callable


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

    def line(self, done: int, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = now - self.start
        rate_done = done - self.start_done
        eta = elapsed / rate_done * (self.total - done) if rate_done > 0 else None
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.label}: {done}/{self.total}{unit} ({100 * done / self.total:.0f}%), "
                f"{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta) if eta is not None else '?'}")

    def update(self, done: int) -> None:
        now = time.monotonic()
        if done >= self.total or now - self.last >= self.every_seconds:
            self.last = now
            self.emit(self.line(done, now))
