"""A stop during a sweep's evaluation (issue 31, item 21, extended to the evaluation phase): the first
SIGTERM/SIGINT ends the evaluation at once where Python runs, and by the stop deadline
(``$CMIVAE_STOP_SECONDS``) where it does not (a long native probe fit); ``eval.json`` keeps the metrics
written before and is never half written; the rerun evaluates the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cmivae.training import signals
from tests.reliability.runs import cli_env, tiny_raw_config
from tests.training.test_stop_deadline import _ends  # the process's exit code and stderr, or a failure

REPO = Path(__file__).resolve().parents[2]

# `cmivae sweep` whose evaluator writes its first metric to eval.json (atomically, as the real one does),
# then, with EVAL_MODE=stuck, never returns and swallows every exception raised inside it (as scikit-learn's
# search did with a stop, or as a native call that never returns to Python: only the watchdog can stop it;
# the marker is printed inside the `try`, so the one exception the stop raises is always swallowed), with
# EVAL_MODE=slow sleeps (a slow evaluation Python can interrupt), and otherwise computes the rest at once.
FAKE_EVALUATION = """
import json, os, sys, time
from pathlib import Path
from cmivae.cli.main import main
from cmivae.infra.atomic import atomic_write_json
from cmivae.sweeps import runner


def evaluate(run_dir, metrics, *, quiet=False, data=None):
    path = Path(run_dir) / "eval.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    print(f"EVALUATE {sorted(metrics)}", flush=True)
    mode = os.environ.get("EVAL_MODE", "")
    for name in sorted(metrics):
        values[name] = 0.5
        atomic_write_json(path, values)
        while mode == "stuck":
            try:
                print("STUCK", flush=True)
                while True:
                    time.sleep(0.05)
            except BaseException:
                pass
        if mode == "slow":
            print("SLOW", flush=True)
            time.sleep(600)
    return values


runner._default_evaluator = lambda: evaluate  # also in spawned workers, which import this file as __mp_main__
if sys.argv[1:2] == ["evaluate"]:  # `cmivae evaluate` calls the same fake
    import cmivae.metrics.evaluate
    cmivae.metrics.evaluate.evaluate_run = lambda run_dir, metrics, **_: evaluate(run_dir, metrics)
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""


def _sweep(tmp_path: Path, fashion_mnist_dir: str) -> tuple[Path, Path, Path]:
    """A one-run sweep of a tiny config, evaluated on two metrics, and the fake-evaluation script."""
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_raw_config(fashion_mnist_dir, "beta", 64, epochs=1)))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"base": "tiny.yaml", "grid": {"train.seed": [0]}, "evaluate": ["elbo", "mi_zs"]}))
    script = tmp_path / "fake_evaluation.py"
    script.write_text(FAKE_EVALUATION)
    return sweep, script, tmp_path / "out"


def _run(script: Path, sweep: Path, out: Path, mode: str, stop_seconds: str, *extra: str) -> subprocess.Popen:
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "EVAL_MODE": mode,
           signals.STOP_SECONDS_ENV: stop_seconds}
    return subprocess.Popen([sys.executable, str(script), "sweep", str(sweep), "--out", str(out), "--threads", "1",
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen, marker: str) -> list[str]:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(marker):
            return seen
    pytest.fail(f"the sweep ended before {marker}: {process.wait()} {''.join(seen)} {process.stderr.read()}")


def _run_dir(out: Path) -> Path:
    (run_dir,) = (out / "runs").iterdir()
    return run_dir


def _rerun_evaluates_the_rest(script: Path, sweep: Path, out: Path) -> None:
    """eval.json holds the first metric only, whole; the rerun trains nothing and evaluates the other."""
    run_dir = _run_dir(out)
    assert json.loads((run_dir / "eval.json").read_text()) == {"elbo": 0.5}
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert (run_dir / "results.json").is_file()
    again = _run(script, sweep, out, "", "2")
    code, err = _ends(again, within=120)
    assert code == 0, err
    assert json.loads((run_dir / "eval.json").read_text()) == {"elbo": 0.5, "mi_zs": 0.5}


def test_a_stop_ends_an_evaluation_stuck_in_native_code_by_the_deadline(tmp_path: Path,
                                                                        fashion_mnist_dir: str) -> None:
    """Sequential sweep (one process): before, the sweep's handler raised inside the stuck evaluation,
    which swallowed it, and the sweep never stopped."""
    sweep, script, out = _sweep(tmp_path, fashion_mnist_dir)
    process = _run(script, sweep, out, "stuck", "2")
    assert "EVALUATE ['elbo', 'mi_zs']\n" in _wait_for(process, "STUCK")
    process.send_signal(signal.SIGTERM)  # one signal only, as `timeout` and Kubernetes send
    code, err = _ends(process, within=60)
    assert code == 128 + signal.SIGTERM, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "stopped by SIGTERM during the evaluation of run" in lines[0], err
    assert "(not stopped within 2 s" in lines[0] and "the metrics already in eval.json are kept" in lines[0]
    assert "Traceback" not in err
    _rerun_evaluates_the_rest(script, sweep, out)


def test_a_stop_ends_a_slow_evaluation_at_once_in_a_worker(tmp_path: Path, fashion_mnist_dir: str) -> None:
    """A sweep of worker processes (--jobs 2) and no deadline: the sweep's SIGTERM to the worker interrupts
    its evaluation at once (the sweep waits for its workers), and the sweep exits 143 saying the run was
    evaluating."""
    sweep, script, out = _sweep(tmp_path, fashion_mnist_dir)
    process = _run(script, sweep, out, "slow", "0", "--jobs", "2")
    _wait_for(process, "SLOW")
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, err = _ends(process, within=60)
    assert code == 128 + signal.SIGTERM, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    # the one running run was evaluating: the line says so (not "wrote a checkpoint")
    assert lines == [f"error: sweep stopped by SIGTERM; evaluating, the metrics already in eval.json are kept (the "
                     f"rerun computes the rest): {_run_dir(out).name}; rerun the same command to go on"], err
    assert "Traceback" not in err
    assert time.monotonic() - stopped < 60
    _rerun_evaluates_the_rest(script, sweep, out)


def test_interrupt_on_signals_raises_at_once_and_restores_the_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Interrupted, match=r"^the work stopped by SIGTERM; nothing is lost$") as err:
        with signals.interrupt_on_signals("the work", "nothing is lost", deadline=0):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # interrupted by the handler, long before
    assert err.value.exit_code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("mode, stop_seconds", [("slow", "0"), ("stuck", "2")])
def test_a_stop_ends_cmivae_evaluate_and_keeps_the_metrics_written(tmp_path: Path, fashion_mnist_dir: str,
                                                                   mode: str, stop_seconds: str) -> None:
    """`cmivae evaluate` on its own: the first SIGTERM ends a slow evaluation at once, a stuck one by the
    deadline; one error line, exit 143, eval.json whole with the metric written before; --missing does the rest."""
    sweep, script, out = _sweep(tmp_path, fashion_mnist_dir)
    code, err = _ends(_run(script, sweep, out, "", "0", "--no-evaluate"), within=120)  # train only
    assert code == 0, err
    run_dir = _run_dir(out)
    env = {**cli_env(), "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "EVAL_MODE": mode,
           signals.STOP_SECONDS_ENV: stop_seconds}
    process = subprocess.Popen([sys.executable, str(script), "evaluate", str(run_dir), "--metrics", "elbo", "mi_zs",
                                "--threads", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(process, mode.upper())
    process.send_signal(signal.SIGTERM)
    code, err = _ends(process, within=60)
    assert code == 128 + signal.SIGTERM, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "stopped by SIGTERM" in lines[0] and f"evaluation of {run_dir}" in lines[0], err
    assert ("(not stopped within 2 s" in lines[0]) == (mode == "stuck")  # the watchdog ended only the stuck one
    assert "rerun with --missing to compute the rest" in lines[0] and "Traceback" not in err
    assert json.loads((run_dir / "eval.json").read_text()) == {"elbo": 0.5}
    again = subprocess.run([sys.executable, str(script), "evaluate", str(run_dir), "--metrics", "elbo", "mi_zs",
                            "--missing", "--threads", "1", "--quiet"], env={**env, "EVAL_MODE": ""},
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads((run_dir / "eval.json").read_text()) == {"elbo": 0.5, "mi_zs": 0.5}
