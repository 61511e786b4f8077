"""Typed field checks for config dataclasses: a leaf module (no torch, no registry).

Every config section (``data``, ``train``, each model's and each objective's config
dataclass) is checked the same way, from its field annotations:

- :func:`reject_unknown_keys`: a key that is not a field is an error listing the known ones.
- :func:`coerce_numbers`: numeric strings (``1e-3``, which YAML 1.1 reads as a string) become
  the declared ``int``/``float``.
- :func:`check_fields`: every value has its declared type: an ``int`` is an integer (not a
  bool, not ``1.5``, not ``.inf``), a ``float`` is a finite number (not a bool, not NaN), a
  ``bool`` is ``true``/``false`` only, a ``str`` is a string only, ``None`` only where the
  annotation says ``| None``; tuples and lists hold elements of their declared type.
- :func:`positive`, :func:`in_range`, :func:`one_of`: range checks for ``__post_init__``.

Each raises :class:`cmivae.infra.errors.ConfigError` naming ``section.key``, the value, what is
expected and how to set it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from cmivae.infra.errors import ConfigError


def reject_unknown_keys(values: dict[str, Any], klass: type, prefix: str, owner: str) -> None:
    """Raise :class:`ConfigError` naming every key of ``values`` that is not a field of the
    dataclass ``klass`` (written ``prefix.key``) and listing the known ones of ``owner``."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix} must be a mapping of key: value, got {_show(values)}")
    known = {f.name for f in dataclasses.fields(klass)}
    bad = sorted(str(k) for k in set(values) - known)
    if bad:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + '.' + k for k in bad)} of {owner}; "
                          f"known keys: {', '.join(sorted(known))}")


def field_types(klass: type) -> dict[str, Any]:
    """The resolved annotation of every field of dataclass ``klass``."""
    hints = typing.get_type_hints(klass)
    return {f.name: hints[f.name] for f in dataclasses.fields(klass)}


def coerce_numbers(klass: type, values: dict[str, Any], section: str | None = None) -> dict[str, Any]:
    """Turn numeric strings into the declared ``float``/``int`` of ``klass``'s fields, and an
    integer given for a ``float`` field into that float (so ``2`` and ``2.0`` hash alike).

    YAML 1.1 (PyYAML) reads ``1e-3`` (no dot) and ``1.0e30`` as strings; a user writing
    ``lr: 1e-3`` means a number. Anything that is not a numeric string is left for
    :func:`check_fields`.
    """
    section = section or klass.__name__.replace("Config", "").lower()
    hints = field_types(klass)
    out = dict(values)
    for name, value in values.items():
        if name not in hints:
            continue
        kinds = _members(hints[name])
        if isinstance(value, int) and not isinstance(value, bool) and float in kinds and int not in kinds:
            out[name] = float(value)  # `lr: 1` and `lr: 1.0` are one config (and one run id)
            continue
        if not isinstance(value, str):
            continue
        for kind, cast in ((float, float), (int, int)):
            if kind in kinds and str not in kinds:
                try:
                    out[name] = cast(value)
                except ValueError:
                    raise ConfigError(f"{section}.{name} must be a number ({kind.__name__}), got {value!r}; "
                                      f"e.g. --set {section}.{name}=1") from None
                break
    return out


def check_fields(instance: Any, section: str) -> None:
    """Check every field of the dataclass ``instance`` against its annotation (see module doc)."""
    for name, kind in field_types(type(instance)).items():
        check_value(getattr(instance, name), kind, f"{section}.{name}")


def check_value(value: Any, kind: Any, where: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is of the annotated type ``kind``."""
    if not _matches(value, kind):
        raise ConfigError(f"{where} must be {_describe(kind)}, got {_show(value)}; "
                          f"set it with --set {where}=VALUE")


def positive(where: str, value: float | None) -> None:
    """``value`` is ``None`` or > 0."""
    if value is not None and not value > 0:
        raise ConfigError(f"{where} must be a positive number, got {_show(value)}")


def in_range(where: str, value: float, low: float, high: float, *, low_open: bool = False,
             high_open: bool = False, why: str = "") -> None:
    """``low <= value <= high`` (``<`` on an open end); ``why`` is added to the message."""
    ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{where} must be in {interval}{f' ({why})' if why else ''}, got {_show(value)}")


def one_of(where: str, value: Any, choices: tuple[str, ...]) -> None:
    """``value`` is one of ``choices``."""
    if value not in choices:
        spelled = choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"
        raise ConfigError(f"{where} must be {spelled}, got {_show(value)}")


# --------------------------------------------------------------------------- type matching


def _members(kind: Any) -> tuple[Any, ...]:
    """The alternatives of ``A | B`` (or ``(kind,)``), with ``None`` as ``type(None)``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return typing.get_args(kind)
    return (kind,)


def _matches(value: Any, kind: Any) -> bool:
    if kind is Any:
        return True
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, k) for k in typing.get_args(kind))
    if kind is type(None) or kind is None:
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return isinstance(value, str) and value in typing.get_args(kind)
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        args = typing.get_args(kind)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, k) for v, k in zip(value, args, strict=True))
        return all(_matches(v, args[0]) for v in value) if args else True
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if isinstance(kind, type):
        return isinstance(value, kind)
    return True


def _describe(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(k) for k in typing.get_args(kind) if k is not type(None)]
        optional = type(None) in typing.get_args(kind)
        return " or ".join(parts) + (" or null" if optional else "")
    if kind is bool:
        return "true or false"
    if kind is int:
        return "an integer"
    if kind is float:
        return "a finite number"
    if kind is str:
        return "a string"
    if origin is typing.Literal:
        return "one of " + ", ".join(typing.get_args(kind))
    if origin in (tuple, list):
        args = typing.get_args(kind)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
        return f"a list of {_describe(args[0]) if args else 'values'}"
    if origin is dict:
        return "a mapping"
    return getattr(kind, "__name__", str(kind))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
