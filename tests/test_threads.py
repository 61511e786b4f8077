"""``--threads N|auto`` (:mod:`cmivae.infra.threads`): the load decides, OMP_NUM_THREADS wins, bad input
is one error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cmivae.infra.errors import ConfigError
from cmivae.infra.threads import busy_cores, choose_threads, parse_threads


@pytest.fixture
def no_omp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.mark.parametrize("busy, jobs, expected", [
    (0.0, 1, 2),    # free cores: one thread per core
    (0.3, 1, 2),    # a little background work rounds to nothing
    (0.9, 1, 1),    # another process holds a core: one thread
    (2.0, 1, 1),    # every core busy: still one
    (0.0, 2, 1),    # two processes side by side on 2 free cores: one each
    (0.0, 3, 1),
])
def test_auto_gives_each_process_the_free_cores(no_omp: None, busy: float, jobs: int, expected: int) -> None:
    choice = choose_threads("auto", jobs, n_cores=2, load=lambda n: busy)
    assert choice.threads == expected and "of 2 cores busy" in choice.reason


def test_auto_on_a_bigger_machine_and_with_the_load_unknown(no_omp: None) -> None:
    assert choose_threads("auto", 2, n_cores=16, load=lambda n: 3.6).threads == 6  # 12 free // 2
    unknown = choose_threads("auto", 4, n_cores=16, load=lambda n: None)
    assert unknown.threads == 4 and "load unknown" in unknown.reason


def test_omp_num_threads_and_a_count_win_over_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads("auto", n_cores=2, load=lambda n: 2.0) == choose_threads("auto", n_cores=2)
    assert choose_threads("auto", n_cores=2).threads == 3 and "OMP_NUM_THREADS=3" in choose_threads("auto").reason
    assert choose_threads("2", n_cores=2, load=lambda n: 2.0).threads == 2 and choose_threads(5).threads == 5


@pytest.mark.parametrize("bad", ["0", "-1", "many", "", 0, True])
def test_a_bad_threads_value_says_what_to_give(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"--threads .*expected a positive number of threads"):
        parse_threads(bad)  # type: ignore[arg-type]


def test_busy_cores_reads_proc_stat_over_a_window(tmp_path: Path) -> None:
    """Two readings of a fake /proc/stat 'cpu' line: 300 of 400 jiffies busy on 2 cores = 1.5 cores."""
    stat = tmp_path / "stat"
    readings = iter(["cpu  100 0 100 800 0 0 0 0 0 0\n", "cpu  250 0 250 900 0 0 0 0 0 0\n"])
    stat.write_text(next(readings))

    import cmivae.infra.threads as threads

    real_sleep = threads.time.sleep
    try:
        threads.time.sleep = lambda seconds: stat.write_text(next(readings))  # type: ignore[assignment]
        assert busy_cores(2, stat=stat) == pytest.approx(1.5)
    finally:
        threads.time.sleep = real_sleep
    measured = busy_cores(2, seconds=0.05)  # the real file where there is one: a number of cores
    assert measured is None or 0.0 <= measured <= 2.0 + 1e-9


def test_the_cli_sets_the_threads_it_reports(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                             tmp_path: Path) -> None:
    from cmivae.cli.main import main

    before = torch.get_num_threads()
    try:
        assert main(["evaluate", str(tmp_path / "missing"), "--threads", "2"]) != 0  # the run is missing ...
        assert torch.get_num_threads() == 2  # ... but the threads were set first, and said
        assert "torch threads: 2 (as asked)" in capsys.readouterr().out
        assert main(["train", "pixelcnn-cpu", "--threads", "none"]) == 2
        assert "--threads 'none': expected a positive number" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)


def test_a_resumed_run_keeps_the_count_it_started_with(no_omp: None, tmp_path: Path) -> None:
    import json

    from cmivae.runs import files
    from cmivae.runs.readers import resume_threads

    run = tmp_path / "run"
    (run / files.CHECKPOINTS).mkdir(parents=True)
    assert resume_threads(run) is None  # no config.json, no checkpoint: a new run
    (run / files.CONFIG).write_text(json.dumps({"config": {s: {} for s in ("data", "model", "objective", "train")},
                                                "torch_threads": 3}))
    assert resume_threads(run) is None, "no checkpoint yet: nothing to resume"
    (run / files.CHECKPOINTS / files.LAST).write_bytes(b"")
    assert resume_threads(run) == 3
    choice = choose_threads("auto", n_cores=2, load=lambda n: 0.0, resumed=resume_threads(run))
    assert choice.threads == 3 and "bit-identical" in choice.reason
    assert choose_threads("1", resumed=3).threads == 1, "an explicit count still wins"
    (run / files.RESULTS).write_text("{}")
    assert resume_threads(run) is None, "a finished run does not resume"
    (run / files.RESULTS).unlink()
    (run / files.CONFIG).write_text("{not json")
    assert resume_threads(run) is None, "a damaged record: training reports it, the choice falls back"


@pytest.mark.parametrize("huge", ["1000000000", 10**9, "65"])
def test_a_thread_count_far_above_the_cores_is_refused_in_one_line(huge: object) -> None:
    """Issue 31, item 24: `--threads 1000000000` ended in the OpenMP runtime's out-of-memory text, exit 1."""
    with pytest.raises(ConfigError, match=r"--threads .* is more than .* threads per core .*16 cores"):
        parse_threads(huge, n_cores=16)  # type: ignore[arg-type]
    assert parse_threads("64", n_cores=16) == 64  # a few threads per core stays allowed (hyperthreads, I/O)


def test_the_cli_refuses_a_huge_thread_count_with_exit_2(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from cmivae.cli.main import main

    before = torch.get_num_threads()
    try:
        assert main(["evaluate", str(tmp_path / "missing"), "--threads", "1000000000"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --threads 1000000000") and err.count("\n") == 1
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
