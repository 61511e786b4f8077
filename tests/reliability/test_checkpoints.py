"""Damaged, foreign and malicious checkpoints; writes interrupted by a kill or a full disk.

(Tarballs with ``../`` entries, absolute paths, links or devices are refused by
``safe_extract_members``: see ``tests/data/test_fetch.py::test_unsafe_tarball_is_refused``.)
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cmivae.infra.atomic import WriteError, atomic_write_text, remove_stale_temporaries
from cmivae.infra.errors import CheckpointError
from cmivae.runs.checkpoint import MAGIC, load_checkpoint, load_latest, save_checkpoint
from cmivae.runs.directory import RunDirectory
from cmivae.training import loop
from tests.helpers import tiny_config, tiny_images
from tests.training.resume_check import killed_after


def _state() -> dict:
    return {"model": {"w": torch.arange(6.0).view(2, 3)}, "step": 3}


def _interrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_after: int) -> Path:
    """A run that died after ``stop_after`` steps (checkpoints every step)."""
    killed_after(tiny_config("mi", checkpoint_every_steps=1), tiny_images(), tmp_path / "run", monkeypatch,
                 stop_after)
    return tmp_path / "run"

# ---------------------------------------------------------------------------- damaged checkpoints


def test_truncated_last_falls_back_to_previous_with_a_warning_and_training_finishes_identically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config, data = tiny_config("mi", checkpoint_every_steps=1), tiny_images()
    loop.fit(config, tmp_path / "straight", data=data, progress=False)
    run = _interrupted_run(tmp_path, monkeypatch, stop_after=3)
    last = run / "checkpoints" / "last.pt"
    assert load_checkpoint(run / "checkpoints" / "previous.pt")["train_state"]["step"] == 2
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # e.g. a copy cut short
    capsys.readouterr()

    loop.fit(config, run, data=data, progress=False)
    captured = capsys.readouterr()
    assert f"warning: checkpoint {last} is truncated or corrupted (checksum mismatch); trying the previous" \
        in captured.err  # stderr and train.log, not stdout
    assert "trying the previous" in (run / "train.log").read_text()
    assert len(list((run / "checkpoints").glob("last.pt.damaged-*"))) == 1  # set aside, never rotated
    assert "resuming from" in captured.err and "previous.pt at epoch 0, step 2" in captured.err
    a, b = (load_checkpoint(r / "checkpoints" / "last.pt")["model"] for r in (tmp_path / "straight", run))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the fallback costs one step of work, nothing else


def test_flipped_byte_is_a_checksum_error(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, _state())
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=r"c\.pt is truncated or corrupted \(checksum mismatch\)"):
        load_checkpoint(path)


def test_both_checkpoints_damaged_names_both_and_suggests_force(tmp_path: Path) -> None:
    paths = [tmp_path / "last.pt", tmp_path / "previous.pt"]
    for path in paths:
        save_checkpoint(path, _state())
        path.write_bytes(path.read_bytes()[:-10])
    warnings: list[str] = []
    with pytest.raises(CheckpointError, match=r"no usable checkpoint: .*last\.pt.*previous\.pt.*--force"):
        load_latest(paths, warn=warnings.append)
    assert len(warnings) == 1  # the last failure is in the error itself


def test_file_without_the_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(_state(), path)  # a plain torch.save file, e.g. from another program
    with pytest.raises(CheckpointError, match="is not a cmivae checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is not a cmivae checkpoint"):
        load_checkpoint(path)


# ---------------------------------------------------------------------------- malicious checkpoints


class _Exploit:
    """Unpickling this runs ``os.system`` (the classic pickle attack)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _signed(payload: bytes) -> bytes:
    """A valid cmivae header: magic + sha256 of the payload."""
    return MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + payload


@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
def test_checkpoint_that_executes_code_is_refused(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "pwned"
    exploit = _Exploit(f"touch {marker}")
    if container == "torch.save":
        buffer = io.BytesIO()
        torch.save({"model": {"w": torch.zeros(2)}, "extra": exploit}, buffer)
        payload = buffer.getvalue()
    else:
        payload = pickle.dumps({"model": exploit}, protocol=2)
    path = tmp_path / "evil.pt"
    path.write_bytes(_signed(payload))

    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_checkpoint(path)
    assert not marker.exists(), "the checkpoint's code ran"
    # The payload is armed: a plain unpickler would have run it (in a subprocess, to keep this one clean).
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=pickle.dumps(exploit), check=True, timeout=60)
    assert marker.exists()


# ---------------------------------------------------------------------------- interrupted writes


def test_exception_during_the_rename_leaves_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, _state())
    before = path.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process is stopped between write and rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"model": {"w": torch.ones(3)}, "step": 4})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"], "the temporary is removed"


_SLOW_WRITER = """
import os, sys, time
from cmivae.infra import atomic
real_fsync = os.fsync
def stalled_fsync(fd):
    print("written", flush=True)
    time.sleep(60)  # killed here: the data is in the temporary, not yet renamed
atomic.os.fsync = stalled_fsync
atomic.atomic_write_bytes(sys.argv[1], b"new" * 100_000)
"""


def test_sigkill_during_an_atomic_write_leaves_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    atomic_write_text(path, "old")
    writer = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
        time.sleep(0.05)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
    assert path.read_text() == "old"
    stale = [p for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert len(stale) == 1 and stale[0].name.startswith(".last.pt.") and stale[0].stat().st_size == 300_000
    # A restarted run clears such leftovers (RunDirectory.prepare calls this).
    assert remove_stale_temporaries(tmp_path) == stale
    assert os.listdir(tmp_path) == ["last.pt"]


def test_run_directory_removes_temporaries_of_killed_writes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / ".last.pt.abc123.tmp").write_bytes(b"half")
    (run / ".metrics.jsonl.xyz.tmp").write_bytes(b"half")
    RunDirectory(run).prepare(tiny_config(), force=False, resume=False)
    assert not list(run.rglob("*.tmp"))
    assert "removed 2 unfinished temporary file(s)" in (run / "train.log").read_text()


class _FullDisk(io.FileIO):
    """A file whose writes fail as on a full disk, after writing part of the data."""

    def write(self, data) -> int:  # type: ignore[override]
        super().write(bytes(data)[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_is_reported_naming_the_file_and_nothing_half_written_remains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, _state())
    before = path.read_bytes()
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(fd, "wb"))
    with pytest.raises(WriteError) as info:
        save_checkpoint(path, {"model": {"w": torch.ones(1000)}})
    message = str(info.value)
    assert message.startswith(f"could not write {path}: No space left on device; the disk is full")
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["last.pt"], "no temporary is left behind"


def test_disk_full_during_training_stops_with_one_line_and_exit_code_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cmivae import cli

    run = _interrupted_run(tmp_path, monkeypatch, stop_after=2)
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(fd, "wb"))
    monkeypatch.setattr(loop, "load_dataset", lambda config: tiny_images())
    from cmivae.registry import resolve

    config = tiny_config("mi", checkpoint_every_steps=1)
    monkeypatch.setattr("cmivae.registry.load_resolved", lambda *args: resolve(config))
    monkeypatch.setattr("cmivae.config.load_config", lambda *args: config)  # the CLI's torch-free checks
    assert cli.main(["train", "tiny", "--out", str(run), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: could not write {run / 'checkpoints' / 'last.pt'}: No space left on device")
    assert "run the same command again" in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["previous.pt"]  # last.pt was rotated to it
    assert load_checkpoint(run / "checkpoints" / "previous.pt")["train_state"]["step"] == 2
