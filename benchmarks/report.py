"""The results table, printed and (``--write``) kept up to date in BENCHMARKS.md.

BENCHMARKS.md keeps its hand-written account; only the block between
:data:`START` and :data:`END` is rewritten, with the command, the machine line, the date,
the load average at the start and end of the run, and the table.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

from benchmarks.suites import Row

START = "<!-- benchmarks:results:start (written by `python -m benchmarks --write`) -->"
END = "<!-- benchmarks:results:end -->"


def markdown_table(rows: Sequence[Row]) -> str:
    """Rows as a Markdown table: benchmark | measurement | value | note."""
    lines = ["| benchmark | measurement | value | note |", "|---|---|---:|---|"]
    for row in rows:
        cells = (row.benchmark, row.measurement, row.value, row.note)
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def results_block(rows: Sequence[Row], command: str, machine: str, load_before: str, load_after: str,
                  seconds: float) -> str:
    """The generated part of BENCHMARKS.md."""
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return "\n".join([
        START,
        f"Command: `{command}` ({seconds:.0f} s)  ",
        f"Machine: {machine}  ",
        f"Date: {date}; load average (1, 5, 15 min) {load_before} at the start, {load_after} at the end",
        "",
        markdown_table(rows),
        END,
    ])


def write_results(path: Path, block: str) -> None:
    """Replace the generated block of ``path`` (append it, or create the file, if absent)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n## Latest results\n\n" + block + "\n"
    path.write_text(text)
