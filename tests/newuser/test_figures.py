"""Issue 31 item 13: Figure 3's title fits its figure (it was clipped at both edges with one
panel); ``kl_by_update_*.png`` of runs that logged one epoch has an axis from 0 updates and no
"one line per run" legend for dots."""

from __future__ import annotations

from pathlib import Path

import matplotlib.figure

from cmivae.reports import plots
from cmivae.reports.collect import collect_runs
from cmivae.reports.tables import aggregate
from tests.reports.test_study_tables import _sweep, _write_history


def capture(monkeypatch) -> list[matplotlib.figure.Figure]:  # noqa: ANN001 - pytest fixture
    """Every figure written, laid out as written, with its text extents measured."""
    figures = []
    real = plots._write_figure

    def spy(fig, path):  # noqa: ANN001, ANN202
        fig.tight_layout()
        fig.draw_without_rendering()
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "_write_figure", spy)
    return figures


def inside(fig: matplotlib.figure.Figure) -> list[str]:
    """The texts that stick out of the figure (empty when all fit)."""
    renderer = fig._get_renderer()  # noqa: SLF001 - the renderer the layout used
    texts = list(fig.texts) + [ax.title for ax in fig.axes]
    width, height = fig.bbox.width, fig.bbox.height
    return [t.get_text() for t in texts if t.get_text() and (
        (box := t.get_window_extent(renderer)).x0 < 0 or box.x1 > width or box.y1 > height)]


def test_figure3_title_is_not_clipped(tmp_path: Path, monkeypatch) -> None:
    figures = capture(monkeypatch)
    groups = aggregate(collect_runs(_sweep(tmp_path)))  # AoLR only: one 6-inch panel
    assert plots.plot_figure3(groups, "fashion-mnist", tmp_path / "f3.png", model="pixelcnn_vae") is not None
    assert len(figures[0].axes) == 1 and figures[0].texts, "one panel, a figure title"
    assert inside(figures[0]) == []


def test_kl_by_update_with_one_epoch_has_a_sensible_axis_and_title(tmp_path: Path, monkeypatch) -> None:
    figures = capture(monkeypatch)
    root = _sweep(tmp_path)
    for run_dir in sorted((root / "runs").glob("*")):
        _write_history(run_dir, [{"epoch": 1, "step": 93, "val": {"kl_z": 5.0}}])
    assert plots.plot_kl_by_update(collect_runs(root), "fashion-mnist", "pixelcnn_vae", tmp_path / "k.png")
    ax = figures[0].axes[0]
    low, high = ax.get_xlim()
    assert low == 0 and 93 < high < 110, (low, high)
    assert "one line per run" not in ax.get_title() and "one point per run" in ax.get_title(), ax.get_title()
    assert inside(figures[0]) == []
