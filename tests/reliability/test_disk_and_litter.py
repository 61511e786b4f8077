"""A full disk and what killed commands leave behind (issue 31, items 25 and 26). ENOSPC is
simulated by monkeypatching the writer; every failure is one ``error:`` line naming the file."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cmivae.cli.main import main
from cmivae.data.images import fetch
from cmivae.infra import atomic, locking
from cmivae.infra.atomic import atomic_write_bytes, remove_stale_temporaries

NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------------------- item 25: disk full

def test_disk_full_at_the_first_write_of_train_names_the_file(tmp_path: Path, write_config: Callable[..., Path],
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    """The first byte `train` writes is the pid in RUN_DIR/.cmivae.lock: it said "could not access: No space left"."""
    def full(fd: int, data: bytes, offset: int) -> int:
        raise NO_SPACE

    monkeypatch.setattr(locking.os, "pwrite", full)
    out = tmp_path / "run"
    assert main(["train", str(write_config("beta", 64, epochs=1)), "--out", str(out), "--no-progress",
                 "--threads", "1"]) == 1
    line = _error(capsys)
    assert f"could not write {out / '.cmivae.lock'}: No space left on device" in line and "disk is full" in line


def test_disk_full_during_evaluate_names_eval_json_and_keeps_what_was_computed(
        tmp_path: Path, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from cmivae.metrics import evaluate

    out = tmp_path / "run"
    assert main(["train", str(write_config("beta", 64, epochs=1)), "--out", str(out), "--no-progress",
                 "--threads", "1"]) == 0
    capsys.readouterr()
    real_write = evaluate.atomic_write_json

    def full(path: Path, obj: object) -> None:
        real_write(path.with_name("would-be-eval.json"), obj)  # what would have been written, for the test
        raise atomic._write_error(Path(path), NO_SPACE)

    monkeypatch.setattr(evaluate, "atomic_write_json", full)
    assert main(["evaluate", str(out), "--metrics", "elbo", "--threads", "1", "--quiet"]) == 1
    line = _error(capsys)
    assert f"could not write {out / 'eval.json'}: No space left on device" in line
    import json

    elbo = json.loads((out / "would-be-eval.json").read_text())["elbo"]
    assert f"computed but not saved: elbo={elbo:.6g}" in line  # the computed metric is not lost
    assert "--missing" in line and not (out / "eval.json").exists()


def test_disk_full_during_data_fetch_is_an_io_failure_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """It blamed the Debian .gz ("is not a valid gzip file") and exited 2 (bad input)."""
    if not fetch.get_spec("fashion-mnist").debian_dir.is_dir():
        pytest.skip("needs the Debian fashion-mnist package (make sysdeps)")
    real_writer = fetch.atomic_writer

    @contextlib.contextmanager
    def full_disk(path: Path, **kwargs: object) -> Iterator[object]:
        with real_writer(path, **kwargs) as handle:
            handle.write = lambda data: (_ for _ in ()).throw(NO_SPACE)  # type: ignore[method-assign]
            yield handle

    monkeypatch.setattr(fetch, "atomic_writer", full_disk)
    data = tmp_path / "data"
    assert main(["data", "fetch", "fashion-mnist", "--data-dir", str(data), "--no-download"]) == 1
    line = _error(capsys)
    assert "No space left on device" in line and "not a valid gzip" not in line
    assert f"could not write {data / 'fashion-mnist'}/.fetch-" in line
    assert not list(data.rglob(".fetch-*"))  # the failed fetch's staging folder is gone


# ----------------------------------------------------------------------------------------- item 26: litter

def test_abandoned_fetch_staging_folders_are_removed_by_the_next_fetch(tmp_path: Path, fashion_mnist_dir: str) -> None:
    data = tmp_path / "data"
    target = data / "fashion-mnist"
    target.mkdir(parents=True)
    for name in fetch.get_spec("fashion-mnist").md5:  # the verified files, without copying 55 MB
        (target / name).symlink_to(Path(fashion_mnist_dir) / "fashion-mnist" / name)
    killed = target / ".fetch-killed"  # a fetch killed mid-way: its lock file, no live holder
    killed.mkdir()
    (killed / ".cmivae.lock").write_text("12345\n")
    (killed / "train-images-idx3-ubyte").write_bytes(bytes(1 << 20))
    old = target / ".fetch-older-cmivae"  # from a version without the lock file, an hour old
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = target / ".fetch-just-created"  # no lock yet, seconds old: perhaps a fetch starting now
    fresh.mkdir()
    live = target / ".fetch-live"
    live.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; "
                               "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); "
                               "print('held', flush=True); time.sleep(60)", str(live / ".cmivae.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert fetch.fetch_dataset("fashion-mnist", data, quiet=True, allow_download=False) == target
    finally:
        holder.kill()
        holder.wait()
    assert not killed.exists() and not old.exists()
    assert fresh.exists() and live.exists()  # never another fetch's folder


def test_a_killed_writes_temporary_is_removed_by_the_next_write_of_that_file(tmp_path: Path) -> None:
    """A killed `sample` or `data pack` left `.NAME.XXXX.tmp` for good: the next write of NAME removes it,
    but never the temporary of a live writer (it holds an flock on it) nor another file's."""
    out = tmp_path / "fashion-mnist.npz"
    dead = tmp_path / ".fashion-mnist.npz.k1ll3d.tmp"
    dead.write_bytes(b"half a pack")
    other = tmp_path / ".samples.png.abcd.tmp"
    other.write_bytes(b"another file's")
    live = tmp_path / ".fashion-mnist.npz.l1v3.tmp"
    live.write_bytes(b"being written")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; "
                               "fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
                               "print('held', flush=True); time.sleep(60)", str(live)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        atomic_write_bytes(out, b"the pack")
        assert out.read_bytes() == b"the pack"
        assert not dead.exists() and other.exists() and live.exists()
        assert remove_stale_temporaries(tmp_path) == [other]  # a run restart clears every dead one, not the live
    finally:
        holder.kill()
        holder.wait()
    assert live.exists()


def test_sample_and_pack_commands_clean_what_a_killed_run_left(tmp_path: Path, fashion_mnist_dir: str,
                                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "packs" / "fashion-mnist.npz"
    out.parent.mkdir()
    stale = out.parent / ".fashion-mnist.npz.0xdead.tmp"
    stale.write_bytes(bytes(1000))
    assert main(["data", "pack", "fashion-mnist", "--out", str(out), "--data-dir", fashion_mnist_dir]) == 0
    assert out.is_file() and not stale.exists()
    assert [p.name for p in out.parent.iterdir()] == [out.name]


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_broken_symlink_as_out_is_named(tmp_path: Path, write_config: Callable[..., Path], kind: str,
                                          capsys: pytest.CaptureFixture) -> None:
    link = tmp_path / "out"
    if kind == "dangling":
        link.symlink_to(tmp_path / "gone")
        expected = f"{link} is a symbolic link to {tmp_path / 'gone'}, which does not exist"
    else:
        link.symlink_to(link)
        expected = f"{link} is a symbolic link that loops"
    assert main(["train", str(write_config("beta", 64, epochs=1)), "--out", str(link), "--no-progress"]) == 2
    line = _error(capsys)
    assert expected in line and "File exists" not in line
    assert main(["report", str(tmp_path), "--out", str(link)]) == 2
    assert expected in _error(capsys)
    assert link.is_symlink() and not (tmp_path / "gone").exists()
