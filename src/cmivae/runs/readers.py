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
from typing import Any

from cmivae.infra import json_files
from cmivae.infra.errors import ConfigError
from cmivae.infra.json_files import DamagedFile
from cmivae.metric_names import Offers
from cmivae.runs import files

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
