"""One-line progress with an ETA (used when no progress bar is shown)."""

from __future__ import annotations

from cmivae.infra.progress import ProgressLine, format_seconds


def test_line_states_done_total_elapsed_and_eta() -> None:
    lines: list[str] = []
    ticker = ProgressLine(100, "train", lines.append, every_seconds=3600, unit="updates")
    assert ticker.line(5, now=ticker.start + 10.0).endswith("ETA ?"), "the first observed progress is no rate"
    line = ticker.line(25, now=ticker.start + 30.0)
    assert line == "train: 25/100 updates (25%), 30s elapsed, ETA 1m15s"
    ticker.update(50)
    assert lines == [], "at most one line per every_seconds"
    ticker.update(100)
    assert len(lines) == 1 and lines[0].startswith("train: 100/100 updates (100%)")


def test_resumed_work_counts_only_this_process_for_the_eta() -> None:
    ticker = ProgressLine(100, "train", print, start_done=90)
    assert ticker.line(90, now=ticker.start + 5).endswith("ETA ?")
    assert ticker.line(91, now=ticker.start + 6).endswith("ETA ?")
    assert ticker.line(95, now=ticker.start + 10).endswith("ETA 5s")


def test_no_eta_until_it_is_meaningful() -> None:
    """Issue 31 item 8: a first step after 40 s of set-up (the critic's forward passes, warm-up)
    read "ETA 10h34m" for work that ends in minutes; no ETA from one step, nor from a rate
    measured over a moment."""
    ticker = ProgressLine(1000, "I(z;s) critic", print, unit="steps")
    assert ticker.line(1, now=ticker.start + 40).endswith("ETA ?")
    assert ticker.line(2, now=ticker.start + 40.5).endswith("ETA ?"), "one step over half a second"
    assert ticker.line(4, now=ticker.start + 41.5).endswith("ETA 8m18s"), "3 steps in 1.5 s: 0.5 s a step"
    slow = ProgressLine(10, "evaluate", print)
    slow.line(1, now=slow.start + 1)
    assert slow.line(2, now=slow.start + 5).endswith("ETA ?")
    assert slow.line(2, now=slow.start + 13).endswith("ETA 1m36s"), "one unit measured over 12 s"


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (9.4, 65.2, 3725)] == ["9s", "1m05s", "1h02m"]
