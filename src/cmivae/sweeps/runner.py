"""Run a sweep: train then evaluate every run, skipping what is done.

Layout of a sweep directory::

    SWEEP_DIR/sweep.json              index: the sweep's settings, and per run its id, grid point and status
    SWEEP_DIR/runs/<run_id>/          one run directory (``cmivae train`` layout) per config hash
    SWEEP_DIR/runs/<run_id>/sweep_error.json   why the last attempt failed (removed when it succeeds)

Re-running the same command is always safe: a run with ``results.json`` (and
``eval.json`` when evaluating) is skipped, an interrupted run resumes from its last
checkpoint (:func:`cmivae.training.loop.fit` does that by itself), a failed run is tried
again. One failing run is recorded and does not stop the others.

Executors: ``local`` with ``jobs=1`` runs in this process, one run after another;
``local`` with ``jobs=N`` runs N fresh spawned processes at once, each with the torch
threads of ``threads`` (``cmivae sweep --threads``, default ``auto``: the cores other
processes leave free // N, :mod:`cmivae.infra.threads`; ``max(1, cores // N)`` from the Python API
when not given); ``ray`` sends each run to a Ray cluster as a
remote task (``pip install 'cmivae[ray]'``; the run directories must be on a file
system every node sees).
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any

from cmivae.infra import json_files
from cmivae.infra.atomic import atomic_write_json
from cmivae.infra.errors import ConfigError
from cmivae.infra.threads import choose_threads, parse_threads
from cmivae.infra.threads import cores as cpu_cores
from cmivae.metric_names import supported_request
from cmivae.runs import files
from cmivae.runs.readers import read_eval, read_results, read_saved, resume_threads, run_offers
from cmivae.sweeps.grid import RunSpec, load_sweep

EXECUTORS = ("local", "ray")
ERROR_FILE = files.SWEEP_ERROR
LEFT_OUT = "left out"  # sweep.json status of a run that --only left out and that is not finished
DataLoader = Callable[[Any], Any]  # (ExperimentConfig) -> splits, as fit(data=...) takes them
Evaluator = Callable[..., dict[str, float]]  # (run_dir, metrics, *, quiet, data) -> metrics


@dataclass
class RunTask:
    """Everything one worker needs for one run; plain, picklable data.

    Attributes:
        run_id: the config hash.
        config: the resolved config as a dict (rebuilt and re-validated in the worker).
        run_dir: where the run lives.
        evaluate: evaluate after training (skipped if ``eval.json`` exists).
        metrics: metric names for the evaluator (``None`` = all).
        threads: torch threads in the worker (0 = leave as is).
        data_loader: optional ``(config) -> splits`` (tests; default the data registry).
        evaluator: optional evaluator (tests; default :func:`cmivae.metrics.evaluate.evaluate_run`).
        overrides: the grid point (for progress lines).
    """

    run_id: str
    config: dict[str, Any]
    run_dir: str
    evaluate: bool
    metrics: list[str] | None
    threads: int = 0
    data_loader: DataLoader | None = None
    evaluator: Evaluator | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def metrics_to_evaluate(run_dir: Path, metrics: list[str] | None) -> list[str]:
    """The metrics a trained run still lacks: the requested ones it supports (every paper
    metric its model and data set support for ``None`` or ``["all"]``) that ``RUN_DIR/eval.json``
    does not hold yet. Reads ``config.json`` only (no config validation, no torch import)."""
    config_path = run_dir / files.CONFIG
    if not config_path.exists():
        raise json_files.DamagedFile(config_path, "missing beside results.json; rerun the sweep with the run's "
                                                  "directory moved away to train it again")
    offers = run_offers(read_saved(run_dir), config_path)
    evaluation = read_eval(run_dir) or {}
    return [name for name in supported_request(metrics, offers) if name not in evaluation]


def is_finished(run_dir: Path, evaluate: bool, metrics: list[str] | None = None) -> bool:
    """A run is finished when it has ``results.json`` and, if evaluating, an ``eval.json``
    holding every requested metric (a sweep that asks for more metrics later evaluates
    just those).

    Raises:
        DamagedFile: ``results.json``, ``config.json`` or ``eval.json`` is unreadable or malformed.
    """
    if read_results(run_dir) is None:
        return False
    return not evaluate or not metrics_to_evaluate(run_dir, metrics)


def run_state(run_dir: Path, evaluate: bool, metrics: list[str] | None = None) -> str:
    """What the files of a run directory say: ``done``, ``failed`` (last attempt, see
    ``sweep_error.json``), ``trained`` (evaluation missing), ``started`` (no results yet:
    running, or interrupted and resumable), ``damaged`` (a run file is unreadable or
    malformed: :func:`damage`) or ``new``."""
    try:
        if is_finished(run_dir, evaluate, metrics):
            return "done"
    except json_files.DamagedFile:
        return "damaged"
    if (run_dir / ERROR_FILE).exists():
        return "failed"
    if (run_dir / files.RESULTS).exists():
        return "trained"
    return "started" if run_dir.exists() else "new"


def damage(run_dir: Path, evaluate: bool, metrics: list[str] | None = None) -> str:
    """Which run file is damaged and why (``""`` if none)."""
    try:
        is_finished(run_dir, evaluate, metrics)
    except json_files.DamagedFile as err:
        return str(err)
    return ""


_DATA_CACHE: dict[str, Any] = {}


def _load_splits(config: Any, data_loader: DataLoader | None) -> Any:
    """The data of a config, kept for the next run of the same process with the same data config."""
    key = json.dumps([config.to_dict()["data"], repr(data_loader)], sort_keys=True, default=str)
    if key not in _DATA_CACHE:
        if data_loader is None:
            from cmivae.data.registry import load_dataset

            splits = load_dataset(config.data)
        else:
            splits = data_loader(config)
        _DATA_CACHE.clear()  # hold one data set at a time
        _DATA_CACHE[key] = splits
    return _DATA_CACHE[key]


def _default_evaluator() -> Evaluator:
    try:
        from cmivae.metrics.evaluate import evaluate_run
    except ImportError as err:
        raise ConfigError(f"evaluation is not available ({err}); rerun with --no-evaluate") from err
    return functools.partial(evaluate_run, threads=None)  # the worker's threads are set (RunTask.threads)


def _failure(task: RunTask, stage: str, message: str, trace: str, start: float) -> dict[str, Any]:
    """Write ``sweep_error.json`` and return the failed outcome."""
    record = {"run_id": task.run_id, "stage": stage, "error": message, "traceback": trace, "time": time.time()}
    try:
        atomic_write_json(Path(task.run_dir) / ERROR_FILE, record)
    except OSError:
        pass  # the outcome still carries the message to sweep.json
    return {"run_id": task.run_id, "status": "failed", "stage": stage, "error": message[:2000],
            "seconds": time.monotonic() - start}


def execute_run(task: RunTask) -> dict[str, Any]:
    """Train (or resume) and evaluate one run. Never raises for a failing run: the error
    and traceback go to ``RUN_DIR/sweep_error.json`` and the outcome says ``failed``.

    Returns:
        ``{"run_id", "status": "done" | "failed", "seconds", ["stage", "error"]}``.
    """
    from cmivae.infra.locking import directory_lock
    from cmivae.training.signals import Interrupted

    start = time.monotonic()
    run_dir = Path(task.run_dir)
    stage = "setup"
    try:
        with directory_lock(run_dir):
            return _execute_locked(task, run_dir, start)
    except Interrupted:
        raise  # SIGTERM/SIGINT stop the sweep, not just this run
    except Exception as err:  # e.g. another process holds the run directory
        return _failure(task, stage, f"{type(err).__name__}: {err}", traceback.format_exc(), start)


def _execute_locked(task: RunTask, run_dir: Path, start: float) -> dict[str, Any]:
    from cmivae.training.signals import Interrupted, evaluation_stop_guard

    stage = "setup"
    try:
        import torch

        from cmivae.config import load_config
        from cmivae.training import loop

        if task.threads:
            torch.set_num_threads(task.threads)
        config = load_config(task.config)
        splits = None
        if read_results(run_dir) is None:  # damaged: DamagedFile, recorded
            stage = "data"
            splits = _load_splits(config, task.data_loader)
            # a metric the model or the split cannot support fails before training, not after (the
            # real evaluator's needs: the same checks as `cmivae evaluate`'s)
            if task.evaluate and task.evaluator is None:
                from cmivae.metric_names import Offers, check_requested
                from cmivae.metrics.preflight import check_probe_metrics
                from cmivae.models.contract import declared_capabilities
                from cmivae.registry import lookup

                stage = "preflight"
                offers = Offers.of(declared_capabilities(lookup("model", config.model.name)), config.data.name)
                check_requested(task.metrics, offers)
                check_probe_metrics(supported_request(task.metrics, offers), splits, config.data.num_train)
            stage = "train"
            loop.fit(config, run_dir, progress=False, data=splits, threads=None)  # task.threads is set
        missing = metrics_to_evaluate(run_dir, task.metrics) if task.evaluate else []
        if missing:
            stage = "data"
            splits = splits if splits is not None else _load_splits(config, task.data_loader)
            stage = "evaluate"
            evaluator = task.evaluator or _default_evaluator()
            with evaluation_stop_guard(f"run {task.run_id}", "rerun the same command to evaluate the rest"):
                evaluator(run_dir, missing, quiet=True, data=splits)
    except Interrupted:
        raise
    except Exception as err:  # one failing run must not stop the sweep: record it, go on
        return _failure(task, stage, f"{type(err).__name__}: {err}", traceback.format_exc(), start)
    (run_dir / ERROR_FILE).unlink(missing_ok=True)
    return {"run_id": task.run_id, "status": "done", "seconds": time.monotonic() - start}


# --------------------------------------------------------------------------- executors

StartHook = Callable[[RunTask], None]
FinishHook = Callable[[dict[str, Any]], None]


def _run_sequential(tasks: list[RunTask], jobs: int, address: str | None, on_start: StartHook,
                    on_finish: FinishHook) -> None:
    """One run after another in this process."""
    for task in tasks:
        on_start(task)
        on_finish(execute_run(task))


def _process_entry(task: RunTask, conn: Any, parent_pid: int | None = None) -> None:
    """Body of a spawned worker: run one task, send its outcome back. The worker gets
    SIGTERM when the sweep process dies (checkpointing at its next step) and exits
    ``128 + signum`` without a traceback when stopped by a signal."""
    from cmivae.training.signals import Interrupted, die_with_parent

    if parent_pid is not None:
        die_with_parent(parent_pid)
    try:
        outcome = execute_run(task)
    except Interrupted as err:
        conn.close()
        raise SystemExit(err.exit_code) from None
    conn.send(outcome)
    conn.close()


def _run_processes(tasks: list[RunTask], jobs: int, address: str | None, on_start: StartHook,
                   on_finish: FinishHook) -> None:
    """Up to ``jobs`` runs at once, each in a fresh spawned process (a crash or an
    out-of-memory kill of one run is recorded as that run's failure only)."""
    context = multiprocessing.get_context("spawn")
    queue = list(tasks)
    running: dict[Any, tuple[Any, Any, RunTask, float]] = {}  # sentinel -> (process, connection, task, start)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                task = queue.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_process_entry, args=(task, send, os.getpid()),
                                          name=f"cmivae-run-{task.run_id}")
                process.start()
                send.close()
                running[process.sentinel] = (process, receive, task, time.monotonic())
                on_start(task)
            for sentinel in wait_for(list(running)):
                process, receive, task, start = running.pop(sentinel)
                outcome = None
                try:
                    if receive.poll():
                        outcome = receive.recv()
                except (EOFError, OSError):
                    outcome = None
                receive.close()
                process.join()
                if outcome is None:
                    outcome = _failure(task, "worker", f"worker process exited with code {process.exitcode} "
                                       f"before reporting (killed, or out of memory?)", "", start)
                on_finish(outcome)
    finally:
        for process, receive, _, _ in running.values():
            process.terminate()
            process.join()
            receive.close()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ConfigError("the ray executor needs Ray: pip install 'cmivae[ray]' (or use --executor local "
                          "--jobs N)") from err
    return ray


def connect_ray(ray: Any, address: str) -> None:
    """``ray.init(address=address)``, or one :class:`ConfigError` line when no cluster answers."""
    try:
        ray.init(address=address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise ConfigError(f"no Ray cluster at --address {address} ({reason}); start one with `ray start --head` "
                          f"(then --address auto), or drop --address to run a local Ray for this sweep only, or use "
                          f"--executor local --jobs N") from err


def _run_ray(tasks: list[RunTask], jobs: int, address: str | None, on_start: StartHook,
             on_finish: FinishHook) -> None:
    """Each run a Ray remote task; ``jobs`` runs in flight (default: one per cluster CPU),
    each given ``max(1, cluster CPUs // jobs)`` CPUs (at most one node's) and as many
    torch threads. Uses an already initialized Ray, else ``ray.init(address=address)``."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            connect_ray(ray, address)
        else:  # a local instance for this sweep only
            ray.init(include_dashboard=False)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        node_cpus = max([int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [1])
        jobs = jobs if jobs > 0 else max(1, cpus)
        per_run = max(1, min(node_cpus, cpus // jobs))
        remote = ray.remote(num_cpus=per_run, max_retries=0)(execute_run)
        queue = list(tasks)
        in_flight: dict[Any, tuple[RunTask, float]] = {}
        while queue or in_flight:
            while queue and len(in_flight) < jobs:
                task = queue.pop(0)
                task.threads = per_run
                in_flight[remote.remote(task)] = (task, time.monotonic())
                on_start(task)
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                task, start = in_flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as err:  # the worker died or Ray lost the task
                    outcome = _failure(task, "worker", f"ray task failed: {type(err).__name__}: {err}",
                                       traceback.format_exc(), start)
                on_finish(outcome)
    finally:
        if started_here:
            ray.shutdown()


# --------------------------------------------------------------------------- the sweep


def _earlier_entries(path: Path) -> dict[str, dict[str, Any]]:
    """The run entries of an earlier ``sweep.json`` by run id (empty when there is none or it is
    damaged: the index is rewritten from the run directories either way)."""
    try:
        index = json_files.read_json_or_none(path) or {}
    except json_files.DamagedFile:
        return {}
    runs = index.get("runs")
    return {e["run_id"]: e for e in runs if isinstance(e, dict) and isinstance(e.get("run_id"), str)} \
        if isinstance(runs, list) else {}


def _write_index(path: Path, sweep_info: dict[str, Any], entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for entry in entries.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    index = {"sweep": sweep_info, "updated": time.time(), "total": len(entries), "counts": counts,
             "runs": list(entries.values())}
    atomic_write_json(path, index)
    return index


def run_sweep(sweep_path: str | Path, out_dir: str | Path, *, executor: str = "local", jobs: int | None = None,
              address: str | None = None, evaluate: bool = True, overrides: list[str] | None = None,
              only: list[str] | None = None, data_loader: DataLoader | None = None,
              evaluator: Evaluator | None = None, log: Callable[[str], None] | None = None,
              threads: str | int | None = None) -> dict[str, Any]:
    """Train and evaluate every run of a sweep file into ``out_dir/runs/<run_id>/``.

    Args:
        sweep_path: the sweep file (``study/experiments/*.yaml``).
        out_dir: the sweep directory (created).
        executor: ``local`` (this machine) or ``ray``.
        jobs: runs at once (local default 1: sequential in this process; N > 1: N spawned
            processes; ray default: one per cluster CPU).
        address: Ray cluster address (``auto``, ``ray://host:10001``); default a local Ray.
        evaluate: evaluate after training (also off when the sweep file says ``evaluate: false``).
        overrides: ``section.key=value`` overrides applied to every run (e.g. ``data.root=...``).
        only: keep just the runs whose config holds these ``section.key=value`` (``--only``;
            :func:`cmivae.sweeps.grid.parse_only`); ``sweep.json`` still lists every run of
            the file, those left out with status ``done`` when finished and ``left out``
            otherwise, so a partial invocation does not shrink the index.
        data_loader: ``(config) -> splits`` instead of the data registry (tests); must be
            picklable (a module-level function) for the process and Ray executors.
        evaluator: instead of :func:`cmivae.metrics.evaluate.evaluate_run` (tests), called
            as ``evaluator(run_dir, metrics, quiet=True, data=splits)``.
        log: where progress lines go (default ``print``).
        threads: torch threads of each local run, a count or ``auto``
            (:func:`cmivae.infra.threads.choose_threads`, for ``jobs`` processes at once; ``cmivae
            sweep``'s default); None: ``cores // jobs`` for spawned processes, and this
            process's setting left alone when sequential.

    Returns:
        The ``sweep.json`` index: ``{"sweep", "total", "counts", "runs": [{"run_id",
        "overrides", "status", ...}]}`` with status ``done`` or ``failed`` for every run
        this invocation ran (``left out`` for those ``only`` left out and not finished).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    from cmivae.infra.locking import directory_lock
    from cmivae.training.signals import raise_on_signals

    if threads is not None:
        parse_threads(threads)  # a bad --threads fails before the sweep directory is touched
    sweep = load_sweep(sweep_path, overrides, only)
    running: dict[str, RunTask] = {}  # started, not finished: what a stop names (stop_note)
    with directory_lock(out_dir, what="sweep directory"), \
            raise_on_signals("sweep", lambda: stop_note(list(running.values()))):
        return _run_sweep(sweep, Path(out_dir), executor=executor, jobs=jobs, address=address, evaluate=evaluate,
                          data_loader=data_loader, evaluator=evaluator, log=log, threads=threads, running=running)


def _run_sweep(sweep: Any, out_dir: Path, *, executor: str, jobs: int | None, address: str | None, evaluate: bool,
               data_loader: DataLoader | None, evaluator: Evaluator | None,
               log: Callable[[str], None] | None, threads: str | int | None = None,
               running: dict[str, RunTask]) -> dict[str, Any]:
    say = log or (lambda message: print(message, flush=True))
    evaluate = evaluate and sweep.evaluate
    out_dir = Path(out_dir)
    runs_dir = out_dir / files.SWEEP_RUNS
    runs_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / files.SWEEP_INDEX
    sweep_info = {**sweep.to_dict(), "evaluate": evaluate}

    entries: dict[str, dict[str, Any]] = {}
    earlier = _earlier_entries(index_path)  # a finished run keeps the seconds an earlier invocation recorded
    tasks: list[RunTask] = []
    specs: dict[str, RunSpec] = {spec.run_id: spec for spec in sweep.runs}
    for spec in sweep.all_runs or sweep.runs:  # the whole file's runs, in file order
        run_dir = runs_dir / spec.run_id
        entry: dict[str, Any] = {"run_id": spec.run_id, "run_dir": f"{files.SWEEP_RUNS}/{spec.run_id}",
                                 "overrides": spec.overrides}
        try:
            finished, damaged = is_finished(run_dir, evaluate, sweep.metrics), ""
        except json_files.DamagedFile as err:  # one damaged file must not stop the sweep: that run reports it
            finished, damaged = False, str(err)
        if finished:
            entry["status"] = "done"
            if isinstance(earlier.get(spec.run_id, {}).get("seconds"), (int, float)):
                entry["seconds"] = earlier[spec.run_id]["seconds"]
        elif spec.run_id not in specs:
            entry["status"] = LEFT_OUT  # `cmivae sweep-status` reads its state from the run directory
        else:
            entry["status"] = "pending"
            if damaged or (run_dir / ERROR_FILE).exists():
                entry["previous_error"] = damaged or _read_error(run_dir)
            tasks.append(RunTask(run_id=spec.run_id, config=spec.config.to_dict(), run_dir=str(run_dir),
                                 evaluate=evaluate, metrics=sweep.metrics, data_loader=data_loader,
                                 evaluator=evaluator, overrides=spec.overrides))
        entries[spec.run_id] = entry
    _write_index(index_path, sweep_info, entries)

    if executor == "ray":
        run, jobs = _run_ray, jobs or 0
        how = f"ray ({address or 'local instance'}), {jobs or 'one per CPU'} at once"
    else:
        jobs = jobs or 1
        choice = None if threads is None or not tasks else choose_threads(threads, jobs)
        per_run = choice.threads if choice else (max(1, cpu_cores() // jobs) if jobs > 1 else 0)
        for task in tasks:  # with auto, a resumed run keeps its own count (bit-identical resume)
            resumed = resume_threads(task.run_dir) if choice else None
            task.threads = choose_threads(threads, jobs, resumed=resumed).threads if resumed else per_run
        why = f" ({choice.reason})" if choice else ""
        if jobs > 1:
            run, how = _run_processes, f"{jobs} local processes, {per_run} torch thread(s) each{why}"
        else:
            run, how = _run_sequential, "sequentially in this process" + (f", {per_run} torch thread(s){why}"
                                                                          if per_run else "")
    skipped = len(sweep.runs) - len(tasks)
    say(f"sweep {sweep.path}: {len(sweep.runs)} runs, {skipped} already finished, {len(tasks)} to run "
        f"({how}) -> {out_dir}")
    counter = {"started": 0, "finished": 0, "failed": 0}

    def on_start(task: RunTask) -> None:
        running[task.run_id] = task
        counter["started"] += 1
        entries[task.run_id]["status"] = "running"
        _write_index(index_path, sweep_info, entries)
        resume = " (resuming)" if (Path(task.run_dir) / files.CHECKPOINTS).exists() else ""
        say(f"[start {counter['started']}/{len(tasks)}] {task.run_id} {specs[task.run_id].describe()}{resume}")

    def on_finish(outcome: dict[str, Any]) -> None:
        running.pop(outcome["run_id"], None)
        counter["finished"] += 1
        counter["failed"] += outcome["status"] == "failed"
        entry = entries[outcome["run_id"]]
        entry.pop("previous_error", None)
        entry.update({k: v for k, v in outcome.items() if k != "run_id"})
        if outcome["status"] == "done":
            entry.pop("error", None)
            entry.pop("stage", None)
        _write_index(index_path, sweep_info, entries)
        detail = f": {outcome['error'].splitlines()[0][:200]}" if outcome["status"] == "failed" else ""
        say(f"[finish {counter['finished']}/{len(tasks)}, {counter['failed']} failed] {outcome['run_id']} "
            f"{outcome['status']} in {outcome['seconds']:.0f}s{detail}")

    if tasks:
        run(tasks, jobs, address, on_start, on_finish)
    index = _write_index(index_path, sweep_info, entries)
    ran = [entries[run_id] for run_id in specs]
    failed = [e["run_id"] for e in ran if e["status"] == "failed"]
    rest = len(entries) - len(ran)
    left_out = sum(e["status"] == LEFT_OUT for e in entries.values())
    say(f"sweep finished: {sum(e['status'] == 'done' for e in ran)}/{len(ran)} done, {len(failed)} failed"
        + (f" (see runs/<id>/{ERROR_FILE}; rerun the same command to retry)" if failed else "")
        + (f"; {rest} runs left out by --only ({rest - left_out} of them done)" if rest else ""))
    return index


def stop_note(running: list[RunTask]) -> str:
    """What a sweep's stop keeps, run by run, from what each running run was doing when it came (read
    from its directory: a run with ``results.json`` had finished training and was being evaluated)."""
    from cmivae.training.signals import EVALUATION_KEPT

    evaluating = [t.run_id for t in running if t.evaluate and (Path(t.run_dir) / files.RESULTS).exists()]
    training = [t.run_id for t in running if t.run_id not in evaluating]
    parts = ([f"training, checkpoint written (the rerun resumes it): {', '.join(training)}"] if training else []) + \
        ([f"evaluating, {EVALUATION_KEPT} (the rerun computes the rest): {', '.join(evaluating)}"]
         if evaluating else [])
    return "; ".join(parts or ["no run was running"]) + "; rerun the same command to go on"


def _read_error(run_dir: Path) -> str:
    try:
        return str(json_files.read_json(run_dir / ERROR_FILE).get("error", ""))[:2000]
    except (OSError, json_files.DamagedFile) as err:
        return f"unreadable {ERROR_FILE}: {err}"
