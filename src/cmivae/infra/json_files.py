"""Strict JSON for run files: writing never emits ``NaN``/``Infinity`` (not JSON), reading
turns any damage (unreadable, not UTF-8, not JSON, wrong shape) into one
:class:`DamagedFile` naming the file and the reason.

A non-finite float is written as ``null`` and its key path listed under
:data:`NONFINITE_KEY` of the enclosing top-level object, so a reader sees both that the
value is missing and why.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from cmivae.infra.errors import CmivaeError

NONFINITE_KEY = "nonfinite"  # top-level list of the key paths whose value was NaN or +-inf


class DamagedFile(CmivaeError):
    """A run file exists but cannot be used; ``path`` and ``reason`` say which and why."""

    exit_code = 2

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path} is damaged ({reason})")


def _finite(value: Any, where: str, found: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        found.append(where or "<value>")
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{where}.{k}" if where else str(k), found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, f"{where}[{i}]", found) for i, v in enumerate(value)]
    return value


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN/inf float replaced by ``None``; a dict gets the replaced key
    paths (``"val.total"``) added under :data:`NONFINITE_KEY` (merged with any already there)."""
    found: list[str] = []
    safe = _finite(obj, "", found)
    if found and isinstance(safe, dict):
        previous = safe.get(NONFINITE_KEY)
        safe[NONFINITE_KEY] = sorted(set(found) | set(previous if isinstance(previous, list) else []))
    return safe


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(obj)``; never writes ``NaN`` or ``Infinity``."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def read_json(path: str | Path, expect: type = dict) -> Any:
    """Parse a JSON file, raising :class:`DamagedFile` for any problem but absence.

    Raises:
        FileNotFoundError: the file does not exist (callers decide what absence means).
        DamagedFile: unreadable, not UTF-8, not strict JSON, or not of type ``expect``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as err:
        raise DamagedFile(path, f"cannot be read: {err.strerror or err}") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DamagedFile(path, f"not UTF-8 text: byte {err.start}") from err
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        reason = "empty" if not text.strip() else f"not valid JSON: {str(err).splitlines()[0]}"
        raise DamagedFile(path, reason) from err
    if not isinstance(value, expect):
        raise DamagedFile(path, f"holds a {type(value).__name__}, expected a JSON "
                                f"{'object' if expect is dict else expect.__name__}")
    return value


def read_json_or_none(path: str | Path, expect: type = dict) -> Any:
    """:func:`read_json`, ``None`` when the file does not exist (damage still raises)."""
    try:
        return read_json(path, expect)
    except FileNotFoundError:
        return None
