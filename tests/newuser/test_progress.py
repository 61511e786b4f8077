"""One-line progress with an ETA (used when no progress bar is shown)."""

from __future__ import annotations

from cmivae.infra.progress import ProgressLine, format_seconds


def test_line_states_done_total_elapsed_and_eta() -> None:
    lines: list[str] = []
    ticker = ProgressLine(100, "train", lines.append, every_seconds=3600, unit="updates")
    line = ticker.line(25, now=ticker.start + 30.0)
    assert line == "train: 25/100 updates (25%), 30s elapsed, ETA 1m30s"
    ticker.update(50)
    assert lines == [], "at most one line per every_seconds"
    ticker.update(100)
    assert len(lines) == 1 and lines[0].startswith("train: 100/100 updates (100%)")


def test_resumed_work_counts_only_this_process_for_the_eta() -> None:
    ticker = ProgressLine(100, "train", print, start_done=90)
    assert ticker.line(90, now=ticker.start + 5).endswith("ETA ?")
    assert ticker.line(95, now=ticker.start + 10).endswith("ETA 10s")


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (9.4, 65.2, 3725)] == ["9s", "1m05s", "1h02m"]
