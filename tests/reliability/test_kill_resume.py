"""SIGKILL a ``cmivae train`` process at several points, rerun the same command, and get
bit for bit the parameters of an uninterrupted run (best.pt and checkpoints/last.pt)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import torch

from cmivae.config import load_config
from cmivae.infra.errors import CheckpointError
from cmivae.runs.checkpoint import load_checkpoint
from cmivae.training.loop import fit
from tests.reliability.runs import cli_env, train_command

NUM_TRAIN = 256  # 8 steps per epoch, 16 in all
TOTAL_STEPS = 16


def _checkpoint_step(path: Path, seen: tuple[int, int] | None) -> tuple[int | None, tuple[int, int] | None]:
    """The step saved in ``path`` (``None`` if absent or being replaced) and its (inode, mtime) key."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None, seen
    key = (stat.st_ino, stat.st_mtime_ns)
    if key == seen:
        return None, seen
    try:
        return int(load_checkpoint(path)["train_state"]["step"]), key
    except CheckpointError:  # replaced between stat and read
        return None, seen


def _run_until_killed(command: list[str], out: Path, kill_at_step: int, delay: float, log: Path) -> int:
    """Start ``command``, SIGKILL it ``delay`` seconds after checkpoints/last.pt holds a step at
    or past ``kill_at_step`` (a new one, written by this process); returns that step."""
    last = out / "checkpoints" / "last.pt"
    start_step, seen = _checkpoint_step(last, None)
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=handle, env=cli_env())
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            step, seen = _checkpoint_step(last, seen)
            if step is not None and step >= kill_at_step and step != start_step:
                time.sleep(delay)  # a seeded random point after that checkpoint (maybe inside the next write)
                process.send_signal(signal.SIGKILL)
                assert process.wait(timeout=30) == -signal.SIGKILL, "the run finished before it could be killed"
                return step
            assert process.poll() is None, f"the run exited early: {log.read_text()[-2000:]}"
            time.sleep(0.005)
        raise AssertionError(f"no checkpoint at step {kill_at_step} within 120 s: {log.read_text()[-2000:]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    saved = load_checkpoint(path)
    flat = {f"model.{k}": v for k, v in saved["model"].items()}
    flat.update({f"objective.{k}": v for k, v in saved["objective"].items()})
    return flat


def _assert_bit_identical(a: Path, b: Path) -> None:
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys()
    different = [name for name in ta if not torch.equal(ta[name], tb[name])]
    assert not different, f"{b} differs from {a} in {different}"


def test_sigkill_at_random_points_then_rerun_is_bit_identical(tmp_path: Path, write_config) -> None:
    config_path = write_config("mi", num_train=NUM_TRAIN, checkpoint_every_steps=1)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    fit(load_config(str(config_path)), straight, progress=False)  # in-process, 1 thread (tests/conftest.py)

    rng = random.Random(20240607)
    # One point in each epoch and one around the boundary (step 8 is saved after the validation pass).
    kill_steps = [rng.randint(2, 6), rng.randint(7, 9), rng.randint(10, 12)]
    command = train_command(config_path, killed)
    log = tmp_path / "killed.log"
    reached = []
    for target in kill_steps:
        reached.append(_run_until_killed(command, killed, max(target, reached[-1] + 1 if reached else 0),
                                         delay=rng.uniform(0.0, 0.03), log=log))
        assert not (killed / "results.json").exists()
    assert reached == sorted(set(reached))

    final = subprocess.run(command, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert final.returncode == 0, final.stderr
    assert "resuming from" in final.stderr

    _assert_bit_identical(straight / "best.pt", killed / "best.pt")
    _assert_bit_identical(straight / "checkpoints" / "last.pt", killed / "checkpoints" / "last.pt")
    history = [[json.loads(line)["val"] for line in (run / "metrics.jsonl").read_text().splitlines()]
               for run in (straight, killed)]
    assert history[0] == history[1] and len(history[0]) == 2
    assert json.loads((straight / "results.json").read_text()) == json.loads((killed / "results.json").read_text())
    leftovers = [p.name for p in killed.rglob(".*.tmp")]
    assert not leftovers, f"temporaries of killed writes were not cleaned up: {leftovers}"
    assert log.read_text().count("resuming from") == len(kill_steps) - 1  # every life after the first resumed
