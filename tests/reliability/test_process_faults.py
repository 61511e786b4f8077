"""Process faults with real processes and real signals: two writers on one run directory,
SIGTERM/SIGINT during training, and the parent of a ``--jobs 2`` sweep killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from cmivae.config import load_config
from cmivae.infra.locking import LOCK_NAME, LockError, directory_lock
from cmivae.runs.checkpoint import load_checkpoint
from cmivae.sweeps.runner import run_sweep
from cmivae.training.loop import fit
from tests.reliability.runs import cli_env, tiny_raw_config, train_command


def _wait_for(predicate: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert process.poll() is None, f"exited ({process.returncode}) before {what}: {process.stderr.read()}"
        time.sleep(0.01)
    raise AssertionError(f"not {what} within {timeout} s")


def _holder_pid(folder: Path) -> int | None:
    try:
        text = (folder / LOCK_NAME).read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as dead
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class _HeldElsewhere:
    """Another process holding ``folder``'s lock until the ``with`` block ends."""

    def __init__(self, folder: Path, what: str = "run directory") -> None:
        code = ("import sys\nfrom cmivae.infra.locking import directory_lock\n"
                f"with directory_lock(sys.argv[1], what={what!r}):\n"
                "    print('held', flush=True)\n    sys.stdin.read()")
        self.process = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=cli_env())

    def __enter__(self) -> int:
        assert self.process.stdout.readline().strip() == "held"
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


# ---------------------------------------------------------------------------- one writer per run directory


def test_a_second_train_on_a_locked_run_directory_is_refused_and_touches_nothing(tmp_path: Path,
                                                                                   write_config) -> None:
    config, out = write_config("mi", num_train=64, epochs=1), tmp_path / "run"
    with directory_lock(out):  # this test process is the holder
        before = sorted(p.name for p in out.iterdir())
        second = subprocess.run(train_command(config, out, "--set", "objective.gamma=0.3"), capture_output=True,
                                text=True, env=cli_env(), timeout=120)
        assert second.returncode == 2
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert f"run directory {out} is in use by process {os.getpid()}" in second.stderr
        assert sorted(p.name for p in out.iterdir()) == before == [LOCK_NAME]


def test_evaluate_is_refused_while_the_run_directory_is_locked(tmp_path: Path, capsys) -> None:
    from cmivae.cli import main

    run = tmp_path / "run"
    with _HeldElsewhere(run) as pid:
        assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run directory") and f"in use by process {pid}" in err and err.count("\n") == 1


def test_lock_is_reentrant_in_one_process_and_exclusive_across(tmp_path: Path) -> None:
    with directory_lock(tmp_path / "d"), directory_lock(tmp_path / "d"):
        assert _holder_pid(tmp_path / "d") == os.getpid()
    probe = [sys.executable, "-c", "import sys; from cmivae.infra.locking import directory_lock\n"
             "with directory_lock(sys.argv[1]): print('got it')", str(tmp_path / "d")]
    with directory_lock(tmp_path / "d"):
        held = subprocess.run(probe, capture_output=True, text=True, env=cli_env(), timeout=60)
        assert held.returncode == 1 and "LockError" in held.stderr
    free = subprocess.run(probe, capture_output=True, text=True, env=cli_env(), timeout=60)
    assert free.stdout.strip() == "got it"


def test_a_file_as_out_is_one_line(tmp_path: Path, write_config, capsys) -> None:
    from cmivae.cli import main

    target = tmp_path / "a-file"
    target.write_text("not a run\n")
    assert main(["train", str(write_config()), "--out", str(target), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{target} is a file" in err and target.read_text() == "not a run\n"


# ---------------------------------------------------------------------------- signals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_checkpoint_prints_one_line_and_the_rerun_is_bit_identical(
        tmp_path: Path, write_config, signum: int) -> None:
    config = write_config("mi", num_train=256, epochs=160)  # 1,280 steps: still training at the signal
    out = tmp_path / "run"
    process = subprocess.Popen(train_command(config, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=cli_env())
    try:
        if signum == signal.SIGTERM:  # meanwhile a second writer with another config is refused
            _wait_for(lambda: _holder_pid(out) == process.pid, process, "locked")
            other = subprocess.run(train_command(write_config("beta", num_train=64, epochs=1), out),
                                   capture_output=True, text=True, env=cli_env(), timeout=120)
            assert other.returncode == 2 and f"is in use by process {process.pid}" in other.stderr, other.stderr
        _wait_for(lambda: (out / "config.json").exists(), process, "training started")
        time.sleep(0.3)
        process.send_signal(signum)
        code = process.wait(timeout=120)
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 128 + signum, stderr
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: stopped by {signal.Signals(signum).name} at step ")
    assert "checkpoint saved" in last_line and "Traceback" not in stderr
    step = int(last_line.split(" at step ")[1].split(";")[0])
    assert load_checkpoint(out / "checkpoints" / "last.pt")["train_state"]["step"] == step
    assert not (out / "results.json").exists()
    assert json.loads((out / "config.json").read_text())["config"]["objective"]["name"] == "mi"
    if signum != signal.SIGTERM:
        return

    rerun = subprocess.run(train_command(config, out), capture_output=True, text=True, env=cli_env(), timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"step {step}" in rerun.stderr and "resuming from" in rerun.stderr
    fit(load_config(str(config)), tmp_path / "straight", progress=False)  # the resumed run equals a straight one
    a, b = (load_checkpoint(r / "best.pt")["model"] for r in (tmp_path / "straight", out))
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = [(r / "metrics.jsonl").read_text().splitlines() for r in (tmp_path / "straight", out)]
    assert [json.loads(x)["val"] for x in lines[0]] == [json.loads(x)["val"] for x in lines[1]]


# ---------------------------------------------------------------------------- sweeps


def _sweep_file(tmp_path: Path, data_dir: str, epochs: int) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(tiny_raw_config(data_dir, "beta", 64, epochs=epochs)))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"objective.gamma": [0.2, 0.4]},
                                    "evaluate": False}))
    return path


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_killing_a_sweep_parent_stops_its_workers_and_the_rerun_finishes(
        tmp_path: Path, fashion_mnist_dir: str, signum: int) -> None:
    sweep, out = _sweep_file(tmp_path, fashion_mnist_dir, epochs=40), tmp_path / "out"
    command = [sys.executable, "-m", "cmivae", "sweep", str(sweep), "--out", str(out), "--jobs", "2"]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        runs = out / "runs"
        workers: list[int | None] = []

        def both_locked() -> bool:  # both runs training at once, each run directory locked by its worker
            # (a run that already finished has released its lock: wait on the locks, not on config.json)
            workers[:] = [_holder_pid(d) for d in runs.iterdir()] if runs.is_dir() else []
            return len(list(runs.glob("*/config.json"))) == 2 and len(workers) == 2 and all(workers)

        _wait_for(both_locked, parent, "both runs trained")
        assert all(workers) and parent.pid not in workers
        parent.send_signal(signum)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers), "a worker kept training after its sweep died"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    if signum == signal.SIGTERM:
        assert parent.returncode == 128 + signal.SIGTERM
        assert parent.stderr.read().strip().splitlines()[-1].startswith("error: sweep stopped by SIGTERM")
    for run in runs.iterdir():  # each worker checkpointed on its way out (SIGTERM from the parent's death),
        # unless its tiny run had already finished before the signal arrived (a quiet machine is fast)
        assert (run / "checkpoints" / "last.pt").exists() or (run / "results.json").exists()
    if signum == signal.SIGTERM:
        return
    # the rerun (sequential here: --jobs is not part of a run's config) resumes and finishes both
    again = subprocess.run([*command[:-1], "1"], capture_output=True, text=True, env=cli_env(), timeout=600)
    assert again.returncode == 0, again.stderr + again.stdout
    unfinished = sum(1 for run in runs.iterdir() if not (run / "results.json").exists())
    assert unfinished == 0 and again.stdout.count("(resuming)") <= 2


def test_ctrl_c_on_a_sweep_lets_every_worker_checkpoint_where_it_stopped(tmp_path: Path,
                                                                         fashion_mnist_dir: str) -> None:
    """Ctrl-C reaches the whole process group: each worker gets SIGINT, then the sweep's SIGTERM a moment
    later. That is one stop request (signals.SAME_REQUEST_SECONDS), not a second signal that stops at once:
    each worker reaches its step boundary, checkpoints there and says so in train.log."""
    sweep, out = _sweep_file(tmp_path, fashion_mnist_dir, epochs=4000), tmp_path / "out"
    command = [sys.executable, "-m", "cmivae", "sweep", str(sweep), "--out", str(out), "--jobs", "2"]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
                              start_new_session=True)  # its own process group, as a terminal's foreground job
    runs = out / "runs"
    try:
        def both_training() -> bool:
            return runs.is_dir() and len([d for d in runs.iterdir() if _holder_pid(d)]) == 2 and \
                len(list(runs.glob("*/metrics.jsonl"))) == 2
        _wait_for(both_training, parent, "both runs trained an epoch")
        os.killpg(parent.pid, signal.SIGINT)
        parent.wait(timeout=120)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
    assert parent.returncode == 128 + signal.SIGINT
    assert parent.stderr.read().strip().splitlines()[-1].startswith("error: sweep stopped by SIGINT")
    for run in runs.iterdir():
        stopped = [line for line in (run / "train.log").read_text().splitlines() if "stopped by SIGINT at step" in line]
        assert len(stopped) == 1 and "checkpoint saved" in stopped[0], (run / "train.log").read_text()
        step = int(stopped[0].split(" at step ")[1].split(";")[0])
        assert load_checkpoint(run / "checkpoints" / "last.pt")["train_state"]["step"] == step


def test_a_sweep_refuses_a_directory_another_sweep_holds(tmp_path: Path, fashion_mnist_dir: str) -> None:
    sweep, out = _sweep_file(tmp_path, fashion_mnist_dir, epochs=1), tmp_path / "out"
    with _HeldElsewhere(out, "sweep directory") as pid, \
            pytest.raises(LockError, match=f"sweep directory .* in use by process {pid}"):
        run_sweep(sweep, out, log=lambda m: None)
    assert not (out / "runs").exists()
