"""How much compute the committed study sweeps took: core-hours per sweep directory.

Usage: ``python study/scripts/study_compute.py results/study-*`` (any sweep or run directories).

Per run: training time from its ``train.log`` progress lines (``train: a/b updates (...), 10m13s
elapsed``; a resumed run restarts the count, so each segment's last value is summed, and a
segment's time after its last progress line, at most a minute, is not counted; a log without
progress lines, as older runs wrote, is timed by its epoch lines' timestamps: the gaps under 15
minutes, plus one median gap for the first epoch, which has no line before it) plus the
``eval_seconds`` of its ``eval.json`` (its last evaluation call; earlier partial ones are not
counted). Wall seconds become core-seconds times the torch threads the run started with
(``config.json``'s ``torch_threads``, 1 if absent; every committed study run used one thread per
process; evaluation is counted at the same count, as ``cmivae sweep --threads`` gives both). A
lower bound, then: close to the truth for runs trained and evaluated in one go.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cmivae.infra.json_files import DamagedFile
from cmivae.runs import files
from cmivae.runs.readers import read_eval, read_json_or_none

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) epoch \d+:")
ELAPSED = re.compile(r"train: \d+/\d+ updates .*?, ((?:\d+h)?(?:\d+m)?\d*s?) elapsed")


def _seconds(text: str) -> float:
    """``1h02m`` / ``10m13s`` / ``9s`` (cmivae.infra.progress.format_seconds) -> seconds."""
    total = 0.0
    for value, unit in re.findall(r"(\d+)([hms])", text):
        total += int(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def train_seconds(log: Path) -> float:
    """Sum over training segments of the last ``elapsed`` of each."""
    if not log.exists():
        return 0.0
    lines = log.read_text(errors="replace").splitlines()
    if not any(ELAPSED.search(line) for line in lines):
        return _epoch_span(lines)
    total, last = 0.0, 0.0
    for line in lines:
        match = ELAPSED.search(line)
        if not match:
            continue
        seconds = _seconds(match.group(1))
        if seconds < last:  # a new segment (the run resumed)
            total += last
        last = seconds
    return total + last


def _epoch_span(lines: list[str]) -> float:
    """Training time from the timestamps of the epoch lines (see the module docstring)."""
    from datetime import datetime

    stamps = [datetime.fromisoformat(m.group(1)) for m in map(STAMP.search, lines) if m]
    gaps = sorted((b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False))
    kept = [g for g in gaps if g < 900]
    return sum(kept) + (kept[len(kept) // 2] if kept else 0.0)


def eval_seconds(run_dir: Path) -> float:
    """``eval.json``'s ``eval_seconds`` (0 when absent or unreadable)."""
    try:
        value = (read_eval(run_dir) or {}).get("eval_seconds", 0.0)
    except DamagedFile:
        return 0.0
    return float(value) if isinstance(value, (int, float)) else 0.0


def threads(run_dir: Path) -> int:
    """The torch threads the run started with (``config.json``'s ``torch_threads``; 1 if absent)."""
    try:
        value = (read_json_or_none(run_dir / files.CONFIG) or {}).get("torch_threads", 1)
    except DamagedFile:
        return 1
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def main(paths: list[str]) -> int:
    grand = 0.0
    for root in map(Path, paths):
        runs = sorted(p.parent for p in root.rglob(files.CONFIG))
        train = sum(train_seconds(r / files.LOG) * threads(r) for r in runs)
        evaluate = sum(eval_seconds(r) * threads(r) for r in runs)
        grand += train + evaluate
        print(f"{root}: {len(runs)} runs, {train / 3600:.2f} core-h training + {evaluate / 3600:.2f} core-h "
              f"evaluation = {(train + evaluate) / 3600:.2f} core-h")
    print(f"total: {grand / 3600:.2f} core-hours")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
