"""A stop must end a step that never ends (issue 31, item 21): after the first SIGTERM/SIGINT the
stop deadline (``$CMIVAE_STOP_SECONDS``), or a second signal, ends the process with ``128 + signum``
(:class:`cmivae.training.signals.Watchdog`), keeping the checkpoint written before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cmivae.infra.errors import ConfigError
from cmivae.training import signals
from tests.reliability.runs import cli_env, tiny_raw_config

REPO = Path(__file__).resolve().parents[2]

# `cmivae train` whose third step never ends and swallows every exception raised inside it (as a step
# stuck in native code, where Python's own handler never runs): only the watchdog can stop it.
ENDLESS_STEP = """
import sys, time
from cmivae.cli.main import main
from cmivae.training import loop

real_step = loop.train_step

def endless_from_step_3(trainer, x, step):
    if step < 2:
        return real_step(trainer, x, step)
    print("ENDLESS", flush=True)
    while True:
        try:
            time.sleep(0.05)
        except BaseException:
            pass

loop.train_step = endless_from_step_3
sys.exit(main(sys.argv[1:]))
"""


def _start(tmp_path: Path, fashion_mnist_dir: str, stop_seconds: str) -> tuple[subprocess.Popen, Path]:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_raw_config(fashion_mnist_dir, "mi", 128, checkpoint_every_steps=1)))
    script = tmp_path / "endless.py"
    script.write_text(ENDLESS_STEP)
    out = tmp_path / "run"
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
           signals.STOP_SECONDS_ENV: stop_seconds}
    process = subprocess.Popen([sys.executable, str(script), "train", str(config), "--out", str(out), "--no-progress",
                                "--threads", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # wait until the endless step has begun
        if line.startswith("ENDLESS"):
            break
    else:
        pytest.fail(f"the run ended before its endless step: {process.wait()} {process.stderr.read()}")
    return process, out


def _ends(process: subprocess.Popen, within: float) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the process was still running {within} s after the stop")
    return process.returncode, err


def test_the_stop_deadline_ends_an_endless_step_and_keeps_the_last_checkpoint(tmp_path: Path,
                                                                             fashion_mnist_dir: str) -> None:
    process, out = _start(tmp_path, fashion_mnist_dir, "2")
    process.send_signal(signal.SIGTERM)  # one signal only, as `timeout` and Kubernetes send
    code, err = _ends(process, within=60)
    assert code == 128 + signal.SIGTERM, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "stopped by SIGTERM inside a step (no step boundary within 2 s" in lines[0], err
    assert "Traceback" not in err
    assert (out / "checkpoints" / "last.pt").is_file()  # the checkpoint of step 2 is kept
    assert "no step boundary within 2 s" in (out / "train.log").read_text()


def test_a_second_signal_ends_an_endless_step_without_a_deadline(tmp_path: Path, fashion_mnist_dir: str) -> None:
    process, out = _start(tmp_path, fashion_mnist_dir, "0")  # 0: no deadline, only a second signal ends it
    process.send_signal(signal.SIGINT)
    time.sleep(signals.SAME_REQUEST_SECONDS + 1.0)
    assert process.poll() is None  # the first signal waits for the boundary, which never comes
    process.send_signal(signal.SIGTERM)
    code, err = _ends(process, within=60)
    assert code == 128 + signal.SIGINT, err
    assert "stopped by SIGINT inside a step (a second SIGTERM" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["-1", "soon", "inf", "nan"])
def test_a_bad_stop_deadline_is_a_config_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(signals.STOP_SECONDS_ENV, bad)
    with pytest.raises(ConfigError, match="CMIVAE_STOP_SECONDS"):
        signals.stop_seconds()
    monkeypatch.setenv(signals.STOP_SECONDS_ENV, "45")
    assert signals.stop_seconds() == 45.0
    monkeypatch.delenv(signals.STOP_SECONDS_ENV)
    assert signals.stop_seconds() == signals.DEFAULT_STOP_SECONDS
