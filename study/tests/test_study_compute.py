"""study/scripts/study_compute.py: the core-hours quoted in study/FINDINGS.md are read correctly from the logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.scripts import study_compute


def test_progress_segments_of_a_resumed_run_are_summed(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("2026-12-02 03:29:02 train: 37/368 updates (10%), 1m00s elapsed, ETA 8m59s\n"
                   "2026-12-02 03:30:02 train: 70/368 updates (19%), 2m02s elapsed, ETA 8m38s\n"
                   "2026-12-02 05:00:00 resuming from checkpoints/last.pt at epoch 2, step 92\n"
                   "2026-12-02 05:01:00 train: 120/368 updates (32%), 59s elapsed, ETA 4m\n"
                   "2026-12-02 07:00:00 train: 368/368 updates (100%), 1h02m elapsed, ETA 0s\n")
    assert study_compute.train_seconds(log) == pytest.approx(122 + 3720)


def test_an_old_log_is_timed_by_its_epoch_lines(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("2026-12-01 22:11:14 epoch 1: val neg_elbo 175.22\n"
                   "2026-12-01 22:12:01 epoch 2: val neg_elbo 145.21\n"   # 47 s
                   "2026-12-01 22:12:46 epoch 3: val neg_elbo 137.23\n"   # 45 s
                   "2026-12-01 23:12:46 epoch 4: val neg_elbo 130.00\n"   # an hour: the run was stopped, not counted
                   "2026-12-01 23:13:36 epoch 5: val neg_elbo 129.00\n")  # 50 s
    assert study_compute.train_seconds(log) == pytest.approx(47 + 45 + 50 + 47)  # + the median gap, epoch 1


def test_main_adds_training_and_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "sweep" / "runs" / "abc"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "train.log").write_text("2026-12-02 03:29:02 train: 368/368 updates (100%), 30m00s elapsed, ETA 0s\n")
    (run / "eval.json").write_text(json.dumps({"eval_seconds": 1800.0}))
    assert study_compute.main([str(tmp_path / "sweep")]) == 0
    out = capsys.readouterr().out
    assert "1 runs, 0.50 core-h training + 0.50 core-h evaluation = 1.00 core-h" in out and "total: 1.00" in out


def test_a_run_on_two_threads_counts_twice_its_wall_time(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name, saved in (("one", {}), ("two", {"torch_threads": 2})):
        run = tmp_path / "sweep" / "runs" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(saved))
        (run / "train.log").write_text("2026-12-02 03:29:02 train: 368/368 updates (100%), 30m00s elapsed, ETA 0s\n")
        (run / "eval.json").write_text(json.dumps({"eval_seconds": 360.0}))
    assert study_compute.main([str(tmp_path / "sweep")]) == 0
    assert "2 runs, 1.50 core-h training + 0.30 core-h evaluation = 1.80 core-h" in capsys.readouterr().out
