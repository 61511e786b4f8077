"""Torch-free readers of a run directory's JSON files (sweeps, reports, ``compare``).

Every reader parses through :mod:`cmivae.infra.json_files` (strict JSON): a file that exists but
is unreadable, not UTF-8, not JSON or of the wrong shape raises
:class:`cmivae.infra.json_files.DamagedFile` (one line naming the file and the reason, exit 2),
never a silent ``None``. The ``read_*_or_none`` forms return ``None`` only for a file that
does not exist; listings (``report``, ``sweep-status``) catch :class:`DamagedFile` and list
the run as damaged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmivae.infra import json_files
from cmivae.infra.errors import ConfigError, DataError
from cmivae.infra.json_files import DamagedFile
from cmivae.metric_names import Offers
from cmivae.runs import files

if TYPE_CHECKING:
    from cmivae.config import ExperimentConfig

CONFIG_SECTIONS = ("data", "model", "objective", "train")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding an object.

    Raises:
        ConfigError: the file does not exist.
        DamagedFile: it exists but is not a readable JSON object.
    """
    try:
        return json_files.read_json(path)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None


def read_json_or_none(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or ``None`` when it does not exist (damage raises :class:`DamagedFile`)."""
    return json_files.read_json_or_none(path)


def read_saved(run_dir: str | Path) -> dict[str, Any]:
    """The whole ``config.json`` of a run (``config``, ``resolved``, ``code_version``, ...).

    Raises:
        ConfigError: no ``config.json`` (not a run directory).
        DamagedFile: ``config.json`` is unreadable or its ``config`` is not an object of the
            four sections.
    """
    path = Path(run_dir) / files.CONFIG
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no {files.CONFIG}); train one with `cmivae train`")
    saved = read_json_object(path)
    config = saved.get("config")
    if not isinstance(config, dict):
        raise DamagedFile(path, "no 'config' object; it was not written by `cmivae train`")
    if not all(isinstance(config.get(section), dict) for section in CONFIG_SECTIONS):
        raise DamagedFile(path, f"'config' must map {', '.join(CONFIG_SECTIONS)} to objects")
    return saved


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The hashed config dict of a run (``config.json["config"]``)."""
    return read_saved(run_dir)["config"]


def read_config_or_none(run_dir: str | Path) -> dict[str, Any] | None:
    """:func:`read_config`, or ``None`` when the run has no ``config.json`` (damage raises)."""
    if not (Path(run_dir) / files.CONFIG).exists():
        return None
    return read_config(run_dir)


def read_results(run_dir: str | Path) -> dict[str, Any] | None:
    """``results.json`` (test results of a finished run), ``None`` if absent (damage raises)."""
    return read_json_or_none(Path(run_dir) / files.RESULTS)


def read_eval(run_dir: str | Path) -> dict[str, Any] | None:
    """``eval.json`` (``cmivae evaluate``'s metrics), ``None`` if absent (damage raises)."""
    return read_json_or_none(Path(run_dir) / files.EVAL)


def read_eval_json(path: Path) -> dict[str, Any]:
    """The metrics an earlier evaluation wrote (``{}`` if none), checked before any work.

    Raises:
        DataError: the file is unreadable, not JSON, or not an object of numbers.
    """
    if not path.exists():
        return {}
    fix = "move it away (or delete it) and rerun to evaluate from scratch"
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path} is damaged ({type(err).__name__}: {str(err)[:120]}); {fix}") from err
    records = ("probe_protocols", "judge")  # the only keys that hold an object, not a number
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, (int, float)) or k in records)
            for k, v in value.items()) or not all(isinstance(value.get(k, {}), dict) for k in records):
        raise DataError(f"{path} is not an object of metric names and numbers; {fix}")
    return value


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """``metrics.jsonl``: one record per finished epoch (empty if absent); damaged lines skipped."""
    path = Path(run_dir) / files.METRICS
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def resume_threads(run_dir: str | Path) -> int | None:
    """The torch thread count a run started with (``config.json``'s ``torch_threads``) when
    it will resume (a checkpoint, no ``results.json``): a resume is bit-identical only with
    the same count (docs/FAULTS.md). None for a new or finished run, or an unreadable record."""
    run_dir = Path(run_dir)
    if is_finished(run_dir) or not (run_dir / files.CHECKPOINTS / files.LAST).exists():
        return None
    try:
        threads = read_saved(run_dir).get("torch_threads")
    except (ConfigError, DamagedFile):
        return None  # training itself reports the damage
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0 else None


def is_finished(run_dir: str | Path) -> bool:
    """A run is finished when it has ``results.json``."""
    return (Path(run_dir) / files.RESULTS).exists()


def unfinished_note(run_dir: str | Path) -> str | None:
    """What a run without ``results.json`` trained (an interrupted or still-running run), for
    every command that reads a single run (``evaluate``, ``sample``, ``compare``); ``None`` for
    a finished run. E.g. ``unfinished (no results.json: interrupted or still training): it
    trained 1 of 4 epochs (93 updates)``."""
    run_dir = Path(run_dir)
    if is_finished(run_dir):
        return None
    history = read_history(run_dir)
    try:
        train = read_config(run_dir).get("train", {})
    except (ConfigError, DamagedFile):
        train = {}
    epochs, max_steps = train.get("epochs"), train.get("max_steps")
    last = history[-1] if history else {}
    steps = last.get("step") if isinstance(last.get("step"), int) else None
    if isinstance(epochs, int) and not isinstance(epochs, bool):
        done = f"{len(history)} of {epochs} epochs" + (f" ({steps} updates)" if steps is not None else "")
    elif isinstance(max_steps, int) and not isinstance(max_steps, bool):
        done = f"{steps or 0} of {max_steps} updates"
    else:
        done = f"{len(history)} epochs"
    return (f"unfinished (no {files.RESULTS}: interrupted or still training): it trained {done}; "
            f"rerun the same `cmivae train` command to finish it")


def warn_if_unfinished(run_dir: str | Path, what: str) -> str | None:
    """Print ``warning: RUN is unfinished ...; WHAT`` on stderr for an unfinished run (the single-run
    commands say so before their work) and return the note (``None``: finished, nothing printed)."""
    import sys

    note = unfinished_note(run_dir)
    if note:
        print(f"warning: {run_dir} is {note}; {what}", file=sys.stderr, flush=True)
    return note


def read_traits(saved: dict[str, Any]) -> dict[str, Any]:
    """What a run's classes declared (:data:`cmivae.runs.files.TRAIT_KEYS`) from its whole
    ``config.json``: the ``traits`` record written at train time, or for a run that predates
    it what :func:`cmivae.runs.legacy.legacy_traits` supplies."""
    from cmivae.runs.legacy import legacy_traits

    written = saved.get(files.TRAITS)
    config = saved.get("config")
    supplied = legacy_traits(config if isinstance(config, dict) else {})
    return {**supplied, **written} if isinstance(written, dict) else supplied


def run_offers(saved: dict[str, Any], path: Path | None = None) -> Offers:
    """What a run offers the metrics (its model's capabilities, its data set's labels), from
    its whole ``config.json``: decides the metrics ``all`` means for it.

    Raises:
        DamagedFile: the config names no data set (``path``: the file it was read from).
    """
    data = (saved.get("config") or {}).get("data")
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        raise DamagedFile(path or Path(files.CONFIG), "no string config.data.name")
    return Offers.of(read_traits(saved)[files.CAPABILITIES], name)


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def config_differences(saved: dict[str, Any], config: ExperimentConfig) -> list[str]:
    """``key: old -> new`` for every value where a saved config dict differs from ``config``
    (compared in :func:`cmivae.runs.legacy.comparable_form`: a field the saved dict lacks
    counts as its default)."""
    from cmivae.runs.legacy import comparable_form

    return _differences(comparable_form(saved), comparable_form(config))


def finished_results(run_dir: str | Path, config: ExperimentConfig) -> dict[str, Any] | None:
    """``results.json`` if ``run_dir`` holds a finished run of exactly ``config``, else ``None``."""
    run_dir = Path(run_dir)
    try:
        saved = json.loads((run_dir / files.CONFIG).read_text())["config"]
        results = json.loads((run_dir / files.RESULTS).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = not config_differences(saved, config)
    return results if same and isinstance(results, dict) else None


def check_run_directory(run_dir: str | Path, config: ExperimentConfig, *, force: bool, resume: bool) -> None:
    """Every refusal of ``cmivae train --out RUN_DIR`` that needs only its files, torch-free (the
    CLI answers it before importing torch or measuring the load; ``RunDirectory.prepare`` calls
    it again under the lock): ``RUN_DIR`` is a file, holds a damaged ``config.json``, another
    config, or a finished run (without ``force``), or has no checkpoint for ``resume``.

    Callers that will take the directory's lock call
    :func:`cmivae.infra.locking.refuse_if_locked` first (a run in progress there is said first).

    Raises:
        ConfigError: one line saying what to do (exit 2: bad input).
    """
    path = Path(run_dir)
    config_path = path / files.CONFIG
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file, expected a run directory; give another path")
    if config_path.exists() and not force:
        try:
            saved = json_files.read_json(config_path)["config"]
            if not isinstance(saved, dict):
                raise DamagedFile(config_path, "'config' is not an object")
        except KeyError as err:
            raise ConfigError(f"{config_path} is unreadable (no 'config' key); use --force to start this "
                              f"run over") from err
        except DamagedFile as err:
            raise ConfigError(f"{config_path} is unreadable ({err.reason}); use --force to start this "
                              f"run over") from err
        diffs = config_differences(saved, config)
        if diffs:
            raise ConfigError(f"run directory {path} holds a different config ({'; '.join(diffs[:5])}); "
                              f"use another --out, or --force to discard that run")
        if (path / files.RESULTS).exists():
            raise ConfigError(f"run directory {path} holds a finished run (results.json exists); "
                              f"use another --out, or --force to train it again from scratch")
    if resume and (force or not any((path / files.CHECKPOINTS / name).exists()
                                    for name in (files.LAST, files.PREVIOUS))):
        raise ConfigError(f"--resume given but {path} has no checkpoint; drop --resume to start a new run")
