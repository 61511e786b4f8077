"""Torch-free readers of a run directory's JSON files (sweeps, reports, ``compare``).

Each reader raises :class:`cmivae.errors.ConfigError` (one line, exit 2) when a file is
missing where it is required or is not the JSON object it should be; the ``read_*_or_none``
forms return ``None`` instead, for listings that skip what they cannot read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cmivae.errors import ConfigError
from cmivae.modality import is_image_dataset
from cmivae.runs import files


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding an object; :class:`ConfigError` naming the file otherwise."""
    try:
        value = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path} is unreadable ({err}); rerun the step that writes it") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value


def read_json_or_none(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or ``None`` when it is missing or unreadable."""
    try:
        return read_json_object(path)
    except ConfigError:
        return None


def read_saved(run_dir: str | Path) -> dict[str, Any]:
    """The whole ``config.json`` of a run (``config``, ``resolved``, ``code_version``, ...)."""
    path = Path(run_dir) / files.CONFIG
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no {files.CONFIG}); train one with `cmivae train`")
    saved = read_json_object(path)
    if not isinstance(saved.get("config"), dict):
        raise ConfigError(f"{path} has no 'config' object; it was not written by `cmivae train`")
    return saved


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The hashed config dict of a run (``config.json["config"]``)."""
    return read_saved(run_dir)["config"]


def read_config_or_none(run_dir: str | Path) -> dict[str, Any] | None:
    """:func:`read_config`, or ``None`` when the run has no readable config."""
    try:
        return read_config(run_dir)
    except ConfigError:
        return None


def read_results(run_dir: str | Path) -> dict[str, Any] | None:
    """``results.json`` (test results of a finished run), ``None`` if absent or unreadable."""
    return read_json_or_none(Path(run_dir) / files.RESULTS)


def read_eval(run_dir: str | Path) -> dict[str, Any] | None:
    """``eval.json`` (``cmivae evaluate``'s metrics), ``None`` if absent or unreadable."""
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


def is_finished(run_dir: str | Path) -> bool:
    """A run is finished when it has ``results.json``."""
    return (Path(run_dir) / files.RESULTS).exists()


def is_image_run(config: dict[str, Any]) -> bool:
    """Whether a hashed config dict trains on images (decides the metric family)."""
    data = config.get("data")
    return isinstance(data, dict) and is_image_dataset(str(data.get("name")))
