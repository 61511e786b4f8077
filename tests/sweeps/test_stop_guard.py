"""Who words a stop: every evaluation's stop guard is :func:`cmivae.training.signals.evaluation_stop_guard`
(``cmivae evaluate`` and a sweep's evaluation call it, nobody else arms :func:`interrupt_on_signals`), and a
sweep's stop says what each running run was doing (:func:`cmivae.sweeps.runner.stop_note`). The stops
themselves, end to end: tests/sweeps/test_sweep_stop.py."""

from __future__ import annotations

import ast
import os
import signal
import time
from pathlib import Path

import pytest

from cmivae.sweeps.runner import RunTask, stop_note
from cmivae.training import signals

SRC = Path(__file__).resolve().parents[2] / "src" / "cmivae"


def _calls(path: Path) -> set[str]:
    """The names of the functions ``path`` calls (``f(...)`` and ``module.f(...)``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def test_one_function_guards_every_evaluation() -> None:
    callers = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "evaluation_stop_guard" in _calls(p)}
    assert callers == {"cli/runs.py", "sweeps/runner.py"}
    armed = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "interrupt_on_signals" in _calls(p)}
    assert armed == {"training/signals.py"}, "arm evaluation_stop_guard, the one wording of an evaluation's stop"


def test_the_guard_words_the_stop_and_raises_at_once(monkeypatch) -> None:
    monkeypatch.setenv(signals.STOP_SECONDS_ENV, "0")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Interrupted) as err:
        with signals.evaluation_stop_guard("run abc", "rerun the same command to evaluate the rest"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # interrupted by the handler, long before
    assert str(err.value) == ("evaluation of run abc stopped by SIGTERM; the metrics already in eval.json are kept; "
                              "rerun the same command to evaluate the rest")
    assert err.value.exit_code == 128 + signal.SIGTERM and signal.getsignal(signal.SIGTERM) is before


def _task(root: Path, run_id: str, trained: bool, evaluate: bool = True) -> RunTask:
    run_dir = root / run_id
    run_dir.mkdir()
    if trained:
        (run_dir / "results.json").write_text("{}")
    return RunTask(run_id=run_id, config={}, run_dir=str(run_dir), evaluate=evaluate, metrics=None)


def test_a_sweeps_stop_says_what_each_running_run_was_doing(tmp_path: Path) -> None:
    """A run with results.json was being evaluated (eval.json keeps what it holds), one without was training
    (its checkpoint); a trained run of a sweep that does not evaluate was not evaluating."""
    tasks = [_task(tmp_path, "a1", trained=False), _task(tmp_path, "b2", trained=True),
             _task(tmp_path, "c3", trained=True), _task(tmp_path, "d4", trained=True, evaluate=False)]
    assert stop_note(tasks) == ("training, checkpoint written (the rerun resumes it): a1, d4; evaluating, the metrics "
                                "already in eval.json are kept (the rerun computes the rest): b2, c3; rerun the same "
                                "command to go on")
    assert stop_note(tasks[1:2]) == ("evaluating, the metrics already in eval.json are kept (the rerun computes the "
                                     "rest): b2; rerun the same command to go on")
    assert stop_note([]) == "no run was running; rerun the same command to go on"
