"""The report's video (Sprites) additions: which judge scored the runs, and the swap grids.

Read from run files only (``eval.json["judge"]``, ``swaps.png``): the judge's SHA-256, frame size and
accuracy on the real test sequences, stated beside the numbers it produced, with the reminder that it is
cmivae's own judge, not the file the field shares; runs scored by different judges are flagged as not
comparable. The swap grids of one seed per method and γ are gathered into one page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmivae.infra.json_files import DamagedFile, read_json_or_none
from cmivae.reports.collect import RunRow
from cmivae.reports.plots import gather_samples
from cmivae.runs import files

JUDGE_NOTE = ("The judge's numbers come from cmivae's own judge (`cmivae judge train sprites`: a frame CNN, an LSTM "
              "over the 8 frames, an action head and four attribute heads, trained on the training split), not the "
              "judge file the field shares, which is not obtainable: compare them across our runs, and with "
              "published numbers only as context (different judge, different budget).")
SWAPS_NOTE = ("Each grid: the top row holds real test sequences B (the dynamics sources; 8 frames side by side), "
              "the left column real test sequences A; every other cell is A's z decoded with B's s. A disentangled "
              "model keeps A's character in its row and B's motion in its column.")


def judge_records(rows: list[RunRow]) -> dict[str, tuple[dict[str, Any], int]]:
    """SHA-256 -> (the judge record of ``eval.json``, how many of ``rows`` it scored)."""
    found: dict[str, tuple[dict[str, Any], int]] = {}
    for row in rows:
        try:
            evaluation = read_json_or_none(row.path / files.EVAL) or {}
        except DamagedFile:
            continue  # listed with the damaged runs
        record = evaluation.get("judge")
        if isinstance(record, dict) and isinstance(record.get("sha256"), str):
            seen = found.get(record["sha256"], (record, 0))
            found[record["sha256"]] = (seen[0], seen[1] + 1)
    return found


def _accuracy_text(record: dict[str, Any]) -> str:
    accuracy = record.get("test_accuracy") if isinstance(record.get("test_accuracy"), dict) else {}
    order = ("action", "body", "bottom", "top", "hair")  # the judge's heads (eval.json keeps keys sorted)
    names = sorted(accuracy, key=lambda k: (order.index(k) if k in order else len(order), k))
    parts = ", ".join(f"{name} {100 * accuracy[name]:.2f} %" for name in names
                      if isinstance(accuracy[name], (int, float)))
    verdict = "meets" if record.get("meets_target") else "does NOT meet"
    return f"{parts or 'accuracy not recorded'} ({verdict} the 99 % target on the action and each attribute)"


def video_lines(rows: list[RunRow], dataset: str, model: str, out_dir: str | Path) -> list[str]:
    """Markdown lines for one (data set, model) section: the judge(s) and the swap-grid page (none without
    a judge record)."""
    mine = [r for r in rows if r.dataset == dataset and r.model == model]
    records = judge_records(mine)
    if not records:
        return []
    lines = ["### The judge", "", JUDGE_NOTE, ""]
    for sha, (record, count) in sorted(records.items()):
        size = record.get("frame_size", "?")
        lines.append(f"- judge `{sha[:16]}` ({size}x{size} frames), scored {count} run{'s' if count != 1 else ''}; "
                     f"its accuracy on the real test sequences: {_accuracy_text(record)}")
    if len(records) > 1:
        lines.append("- **These runs were scored by different judges: their judge metrics are not comparable.**")
    lines.append("")
    page = gather_samples(mine, dataset, out_dir, png="swaps",
                          title="Swap grids: top row the dynamics sources B, left column real A, cells z of A with s "
                                "of B")
    if page is not None:
        lines += ["### Swaps: z of one sequence with the dynamics of others (one seed per method and γ; all in "
                  "`swaps/`)", "", SWAPS_NOTE, "", f"![swap grids]({page.name})", ""]
    return lines
