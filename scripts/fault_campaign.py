"""Fault campaign of issue 15: inject each fault into real ``cmivae`` processes, count
faults tried / survived and tracebacks seen.

    PYTHONPATH=src python scripts/fault_campaign.py [--data-dir ~/.cache/cmivae] [--work /tmp/faults]

A fault *survives* when the command ends with the documented exit code, prints no
traceback, and the check after it holds (data kept, rerun works, damage named). Each
invocation is a fresh ``python -m cmivae`` process on a tiny model and 64-256 real
Fashion-MNIST images (one thread), so results do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.reliability.runs import tiny_raw_config  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
       "PYTHONPATH": str(REPO / "src")}
STATS = {"invocations": 0, "tracebacks": 0}


class Campaign:
    def __init__(self, work: Path, data_dir: str) -> None:
        self.work, self.data_dir, self.n = work, data_dir, 0

    def config(self, objective: str = "mi", num_train: int = 128, **train: object) -> Path:
        self.n += 1
        path = self.work / f"config{self.n}.yaml"
        path.write_text(yaml.safe_dump(tiny_raw_config(self.data_dir, objective, num_train, **train)))
        return path

    def out(self, name: str) -> Path:
        return self.work / name


def _count(stderr: str) -> None:
    STATS["invocations"] += 1
    STATS["tracebacks"] += "Traceback (most recent call last)" in stderr


def cli(*args: object, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "cmivae", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)
    _count(done.stderr + done.stdout)
    return done


def start(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cmivae", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    _count(out + err)
    return process.returncode, err


def wait_for(predicate: Callable[[], bool], timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def one_line(done: subprocess.CompletedProcess, code: int, *needles: str) -> bool:
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return done.returncode == code and last.startswith("error: ") and all(n in last for n in needles)


def train(c: Campaign, config: Path, out: Path, *extra: object) -> subprocess.CompletedProcess:
    return cli("train", config, "--out", out, "--no-progress", *extra)


def finished_run(c: Campaign, name: str, **train_args: object) -> tuple[Path, Path]:
    config, out = c.config("mi", 64, epochs=2, checkpoint_every_steps=1, **train_args), c.out(name)
    assert train(c, config, out).returncode == 0
    return config, out


# ------------------------------------------------------------------------------------------- faults


def f_two_writers(c: Campaign) -> bool:
    out = c.out("two")
    first = start("train", c.config("mi", 256, epochs=30), "--out", out, "--no-progress")
    wait_for(lambda: (out / ".cmivae.lock").exists() and (out / ".cmivae.lock").read_text().strip() != "")
    second = train(c, c.config("beta", 64, epochs=1), out)
    first.send_signal(signal.SIGTERM)
    code, _ = finish(first)
    return one_line(second, 2, f"in use by process {first.pid}") and code == 143 and \
        json.loads((out / "config.json").read_text())["config"]["objective"]["name"] == "mi"


def _signal(c: Campaign, signum: int, name: str) -> bool:
    config, out = c.config("mi", 256, epochs=30), c.out(name)
    process = start("train", config, "--out", out, "--no-progress")
    wait_for(lambda: (out / "config.json").exists())
    time.sleep(0.3)
    process.send_signal(signum)
    code, err = finish(process)
    saved = (out / "checkpoints" / "last.pt").exists()
    rerun = train(c, config, out)
    return code == 128 + signum and f"stopped by {signal.Signals(signum).name}" in err and saved and \
        rerun.returncode == 0 and "resuming from" in rerun.stderr


def f_sigterm(c: Campaign) -> bool:
    return _signal(c, signal.SIGTERM, "sigterm")


def f_sigint(c: Campaign) -> bool:
    return _signal(c, signal.SIGINT, "sigint")


def f_sigkill(c: Campaign) -> bool:
    config, out = c.config("mi", 256, epochs=30, checkpoint_every_steps=5), c.out("sigkill")
    process = start("train", config, "--out", out, "--no-progress")
    wait_for(lambda: (out / "checkpoints" / "last.pt").exists())
    process.kill()
    finish(process)
    rerun = train(c, config, out)
    return rerun.returncode == 0 and "resuming from" in rerun.stderr


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _resume_after(c: Campaign, name: str, damage: Callable[[Path], None]) -> subprocess.CompletedProcess:
    """Kill a run by SIGTERM after its 3rd checkpoint, damage last.pt, rerun."""
    config, out = c.config("mi", 256, epochs=20, checkpoint_every_steps=1), c.out(name)
    process = start("train", config, "--out", out, "--no-progress")
    wait_for(lambda: (out / "checkpoints" / "previous.pt").exists())
    process.send_signal(signal.SIGTERM)
    finish(process)
    damage(out / "checkpoints" / "last.pt")
    return train(c, config, out)


def f_truncated_last_falls_back(c: Campaign) -> bool:
    done = _resume_after(c, "trunc2", _truncate)
    return done.returncode == 0 and "trying the previous checkpoint" in done.stderr and \
        "previous.pt" in done.stderr


def f_wrong_shape_last(c: Campaign) -> bool:
    def reshape(path: Path) -> None:
        sys.path.insert(0, str(REPO / "src"))
        import torch

        from cmivae.runs.checkpoint import load_checkpoint, save_checkpoint

        state = load_checkpoint(path)
        key = next(iter(state["model"]))
        state["model"][key] = torch.zeros(3, 3)
        save_checkpoint(path, state)

    done = _resume_after(c, "shape", reshape)
    return done.returncode == 0 and "does not fit this model" in done.stderr


def f_both_damaged(c: Campaign) -> bool:
    def both(path: Path) -> None:
        _truncate(path)
        _truncate(path.with_name("previous.pt"))

    done = _resume_after(c, "both", both)
    return one_line(done, 1, "no usable checkpoint", "--force")


def f_pickled_code(c: Campaign) -> bool:
    def evil(path: Path) -> None:
        payload = pickle.dumps({"model": shutil.rmtree}, protocol=2)
        path.write_bytes(b"CMIVAE1\n" + hashlib.sha256(payload).hexdigest().encode() + payload)
        path.with_name("previous.pt").write_bytes(path.read_bytes())

    done = _resume_after(c, "evil", evil)
    return one_line(done, 1, "cannot be loaded safely") and "weights_only" not in done.stderr


def f_config_gone_other_config(c: Campaign) -> bool:
    config, out = c.config("mi", 256, epochs=20, checkpoint_every_steps=1), c.out("gone")
    process = start("train", config, "--out", out, "--no-progress")
    wait_for(lambda: (out / "checkpoints" / "last.pt").exists())
    process.send_signal(signal.SIGTERM)
    finish(process)
    (out / "config.json").unlink()
    done = train(c, config, out, "--set", "train.lr=0.01")
    return one_line(done, 2, "was written by a different config", "train.lr")


def _bad_config_json(c: Campaign, name: str, content: bytes) -> bool:
    config, out = finished_run(c, name)
    (out / "results.json").unlink()
    (out / "config.json").write_bytes(content)
    return one_line(train(c, config, out), 2, "config.json is unreadable", "--force")


def f_config_half(c: Campaign) -> bool:
    return _bad_config_json(c, "half", b'{"config": {"data": ')


def f_config_not_utf8(c: Campaign) -> bool:
    return _bad_config_json(c, "utf8", b'{"config": "\xff\xfe"}')


def f_config_wrong_type(c: Campaign) -> bool:
    return _bad_config_json(c, "typed", b'{"config": [1, 2]}')


def f_out_is_file(c: Campaign) -> bool:
    target = c.out("a-file")
    target.write_text("keep me")
    return one_line(train(c, c.config(), target), 2, "is a file") and target.read_text() == "keep me"


def f_out_below_file(c: Campaign) -> bool:
    (c.out("file2")).write_text("")
    return one_line(train(c, c.config(), c.out("file2") / "run"), 1, "could not write")


def f_train_log_dir(c: Campaign) -> bool:
    out = c.out("logdir")
    (out / "train.log").mkdir(parents=True)
    return one_line(train(c, c.config("mi", 64, epochs=1), out), 1, "could not write", "train.log")


def f_skip_divergence(c: Campaign) -> bool:
    out = c.out("skipdiv")
    done = train(c, c.config("beta", 64), out, "--set", "train.lr=1.0e+30", "--set", "train.nonfinite=skip")
    text = (out / "failure.json").read_text() if (out / "failure.json").exists() else ""
    return one_line(done, 1) and text != "" and "NaN" not in text and not (out / "results.json").exists()


def f_stop_divergence(c: Campaign) -> bool:
    out = c.out("stopdiv")
    done = train(c, c.config("mi", 64), out, "--set", "train.lr=1.0e+30")
    return one_line(done, 1, "is nan at step", "no checkpoint was written yet")


def f_failed_start_then_other_config(c: Campaign) -> bool:
    out = c.out("failedstart")
    first = train(c, c.config("mi", 16), out)
    second = train(c, c.config("beta", 64, epochs=1), out)
    return one_line(first, 2, "larger than the training set") and second.returncode == 0


def f_failure_json_removed(c: Campaign) -> bool:
    config, out = c.config("mi", 64, epochs=1), c.out("failrm")
    out.mkdir()
    (out / "failure.json").write_text('{"error": "old"}')
    done = train(c, config, out)
    return done.returncode == 0 and not (out / "failure.json").exists()


def f_history_rebuilt(c: Campaign) -> bool:
    config, out = finished_run(c, "history")
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "results.json").unlink()
    (out / "metrics.jsonl").write_text(lines[0] + "\n")
    done = train(c, config, out)
    return done.returncode == 0 and len((out / "metrics.jsonl").read_text().splitlines()) == len(lines) == 2


def _sweep(c: Campaign, name: str, epochs: int = 1) -> tuple[Path, Path]:
    base = c.work / f"{name}-base.yaml"
    base.write_text(yaml.safe_dump(tiny_raw_config(c.data_dir, "beta", 64, epochs=epochs)))
    sweep = c.work / f"{name}.yaml"
    sweep.write_text(yaml.safe_dump({"base": base.name, "grid": {"objective.gamma": [0.2, 0.4]},
                                     "evaluate": False}))
    return sweep, c.out(name)


def f_report_damaged(c: Campaign) -> bool:
    sweep, out = _sweep(c, "rep")
    assert cli("sweep", sweep, "--out", out).returncode == 0
    a, b = sorted((out / "runs").iterdir())
    (a / "config.json").write_bytes(b"\xff\xfe{")
    (b / "results.json").write_text('{"elbo": -8')
    done = cli("report", out, "--out", c.out("rep-report"), "--no-paper")
    report = (c.out("rep-report") / "report.md").read_text() if done.returncode == 0 else ""
    status = cli("sweep-status", out)
    return done.returncode == 0 and "damaged: config.json: not UTF-8" in report and \
        "damaged: results.json: not valid JSON" in report and status.returncode == 0 and \
        status.stdout.count("damaged") >= 2


def f_sweep_status_bad_index(c: Campaign) -> bool:
    out = c.out("badindex")
    out.mkdir()
    (out / "sweep.json").write_text('{"sweep": ')
    one = one_line(cli("sweep-status", out), 2, "sweep.json is damaged")
    (out / "sweep.json").write_text('{"sweep": {"file": 3}, "runs": [{"run_dir": 5}]}')
    typed = cli("sweep-status", out, "-v")
    return one and typed.returncode == 0 and "malformed" in typed.stdout


def f_sweep_damaged_eval(c: Campaign) -> bool:
    sweep, out = _sweep(c, "sweepdamage")
    assert cli("sweep", sweep, "--out", out, "--no-evaluate").returncode == 0
    a = sorted((out / "runs").iterdir())[0]
    (a / "results.json").write_text("{")
    done = cli("sweep", sweep, "--out", out, "--no-evaluate")
    return done.returncode == 1 and "1/2 done, 1 failed" in done.stdout and "results.json is damaged" in done.stdout


def f_sweep_parent_killed(c: Campaign) -> bool:
    sweep, out = _sweep(c, "sweepkill", epochs=60)
    parent = start("sweep", sweep, "--out", out, "--jobs", "2")
    wait_for(lambda: len(list((out / "runs").glob("*/config.json"))) == 2 if (out / "runs").exists() else False)
    pids = [int((d / ".cmivae.lock").read_text()) for d in (out / "runs").iterdir()]
    parent.kill()
    finish(parent)

    def gone() -> bool:
        alive = []
        for pid in pids:
            try:
                alive.append(Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z")
            except FileNotFoundError:
                alive.append(False)
        return not any(alive)

    stopped = wait_for(gone, 60)
    rerun = cli("sweep", sweep, "--out", out)
    return stopped and rerun.returncode == 0 and "2/2 done" in rerun.stdout


def f_second_sweep(c: Campaign) -> bool:
    sweep, out = _sweep(c, "twosweeps", epochs=60)
    first = start("sweep", sweep, "--out", out)
    wait_for(lambda: (out / ".cmivae.lock").exists() and (out / ".cmivae.lock").read_text().strip() != "")
    second = cli("sweep", sweep, "--out", out)
    first.send_signal(signal.SIGTERM)
    code, _ = finish(first)
    return one_line(second, 2, "sweep directory", "in use by process") and code == 143


def f_evaluate_locked(c: Campaign) -> bool:
    out = c.out("evallock")
    first = start("train", c.config("mi", 256, epochs=30), "--out", out, "--no-progress")
    wait_for(lambda: (out / "config.json").exists())
    done = cli("evaluate", out)
    first.send_signal(signal.SIGTERM)
    finish(first)
    return one_line(done, 2, "in use by process")


def f_audio_1hz(c: Campaign) -> bool:
    import struct

    import numpy as np
    import soundfile as sf

    path = c.work / "liar.wav"
    sf.write(str(path), np.random.default_rng(0).normal(size=16000) * 0.1, 16000, subtype="PCM_16")
    blob = bytearray(path.read_bytes())
    blob[24:28], blob[28:32] = struct.pack("<I", 1), struct.pack("<I", 2)
    path.write_bytes(bytes(blob))
    code = ("import sys, resource\nfrom cmivae.data.speech.loader import read_audio\nfrom cmivae.infra.errors import DataError\n"
            "try:\n    read_audio(sys.argv[1], 16000)\nexcept DataError as err:\n    print(err)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=ENV,
                          timeout=120)
    _count(done.stderr)
    lines = done.stdout.splitlines()
    return len(lines) == 2 and "claims a sample rate of 1 Hz" in lines[0] and int(lines[1]) < 1_500_000  # KiB


# ------------------------------------------------------------------------ issue 31: budget, bytes, litter

def f_budget_z_dim(c: Campaign) -> bool:
    """model.z_dim=1000000 (7.3 GB before): refused with the estimate before anything is built"""
    out = c.out("budget")
    done = train(c, c.config("mi", 64, epochs=1), out, "--set", "model.z_dim=1000000")
    return one_line(done, 2, "this config needs ~", "GiB") and not out.exists()


def f_budget_critic_width(c: Campaign) -> bool:
    """objective.critic_hidden_dim=10000000 (5.6 GB before): refused with the estimate"""
    done = train(c, c.config("cmi", 64, epochs=1), c.out("budget2"), "--set", "objective.critic_hidden_dim=10000000")
    return one_line(done, 2, "this config needs ~")


def f_budget_max_memory(c: Campaign) -> bool:
    """train.max_memory_gb below the tiny model's estimate: refused naming the key"""
    done = train(c, c.config("mi", 64, epochs=1), c.out("budget3"), "--set", "train.max_memory_gb=0.00001")
    return one_line(done, 2, "train.max_memory_gb=1e-05")


def f_kernel_wider_than_image(c: Campaign) -> bool:
    """model.kernel_sizes=[1001, 3] (a step that never ended): refused"""
    done = train(c, c.config("mi", 64, epochs=1), c.out("kernel"), "--set", "model.kernel_sizes=[1001, 3]")
    return one_line(done, 2, "wider than the image")


def f_critic_steps_huge(c: Campaign) -> bool:
    """objective.critic_steps=1000000000 (a step that never ended): refused"""
    done = train(c, c.config("mi", 64, epochs=1), c.out("steps"), "--set", "objective.critic_steps=1000000000")
    return one_line(done, 2, "objective.critic_steps must be an integer from 1 to")


def f_threads_huge(c: Campaign) -> bool:
    """--threads 1000000000 (the OpenMP runtime's out-of-memory text, exit 1): one line, exit 2"""
    return one_line(train(c, c.config("mi", 64, epochs=1), c.out("threads"), "--threads", "1000000000"), 2,
                    "--threads 1000000000")


def _bad_config_file(c: Campaign, name: str, content: bytes, *needles: str) -> bool:
    path = c.work / name
    path.write_bytes(content)
    return one_line(cli("show-config", path), 2, *needles) and one_line(train(c, path, c.out(name + "-run")), 2,
                                                                        *needles)


def f_config_random_bytes(c: Campaign) -> bool:
    """a config file of random bytes (UnicodeDecodeError before)"""
    return _bad_config_file(c, "random.yaml", hashlib.sha256(b"x").digest() * 40, "is not UTF-8 text")


def f_yaml_float_tag(c: Campaign) -> bool:
    """YAML `!!float x` (ValueError before)"""
    return _bad_config_file(c, "tag.yaml", b"train:\n  lr: !!float x\n", "is not valid YAML")


def f_yaml_anchor_loop(c: Campaign) -> bool:
    """YAML `&x [1, *x]` in model params (RecursionError before)"""
    return _bad_config_file(c, "loop.yaml", b"model:\n  name: pixelcnn_vae\n  kernel_sizes: &x [1, *x]\n",
                            "refers to itself")


def f_pack_truncated(c: Campaign) -> bool:
    """`data import` of a pack cut short (zipfile.BadZipFile before)"""
    pack = c.work / "cut.npz"
    pack.write_bytes(b"PK\x03\x04" + bytes(64))
    return one_line(cli("data", "import", pack, "--data-dir", c.work / "imported"), 2, "not a complete data pack")


def f_out_dangling_symlink(c: Campaign) -> bool:
    """--out a dangling symlink ("File exists" before)"""
    link = c.out("dangling")
    link.symlink_to(c.work / "nowhere")
    return one_line(train(c, c.config("mi", 64, epochs=1), link), 2, "symbolic link", "does not exist")


def f_out_symlink_loop(c: Campaign) -> bool:
    """--out a symlink to itself ("File exists" before)"""
    link = c.out("looping")
    link.symlink_to(link)
    return one_line(train(c, c.config("mi", 64, epochs=1), link), 2, "symbolic link that loops")


FAULTS = [f for name, f in sorted(globals().items()) if name.startswith("f_")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("CMIVAE_DATA", str(Path.home() / ".cache" / "cmivae")))
    parser.add_argument("--work", default="/tmp/cmivae-faults")
    parser.add_argument("-k", default="", help="only faults whose name contains this")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    campaign = Campaign(work, args.data_dir)
    survived, failed = 0, []
    faults = [f for f in FAULTS if args.k in f.__name__]
    for fault in faults:
        before = STATS["tracebacks"]
        try:
            ok = fault(campaign)
        except Exception as err:  # noqa: BLE001 - a broken check is a fault that did not survive
            ok = False
            print(f"  {fault.__name__}: check raised {type(err).__name__}: {err}")
        ok = ok and STATS["tracebacks"] == before
        survived += ok
        if not ok:
            failed.append(fault.__name__)
        print(f"{'survived' if ok else 'FAILED  '} {fault.__name__[2:]}: {fault.__doc__ or ''}".rstrip(), flush=True)
    print(f"faults tried {len(faults)}, survived {survived}, invocations {STATS['invocations']}, "
          f"tracebacks {STATS['tracebacks']}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
