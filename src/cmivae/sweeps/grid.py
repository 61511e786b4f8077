"""Sweep files: a base config, fixed overrides and a grid, expanded into runs.

A sweep is code kept in ``study/experiments/`` (disentanglement_lib's "sweeps are code"): a
YAML file, or a Python file exposing ``SWEEP = {...}`` with the same keys::

    base: pixelcnn-cpu                  # preset name or config path (relative to the sweep file)
    set: {data.name: fashion-mnist}     # fixed overrides, section.key: value
    grid:                               # one mapping (a product) or a list of them (a union)
      objective.name: [beta, mi, cmi]
      objective.gamma: [0.1, 0.3, 0.5]
      train.seed: [0, 1, 2]
    evaluate: [all]                     # [all], a list of metric names, or false
    description: one line shown by `cmivae sweep --dry-run`

``grid`` may be a list of mappings; the runs are the union of their products, in file
order. A grid mapping may also have a ``base`` axis, a list of presets or config paths
(``base: [pixelcnn-cpu-long, pixelcnn-mid]``): its points start from each of those instead
of the file's ``base`` (the file's ``set`` and ``--set`` still apply on top).
The paper's grids use the union to have gamma = 0 only for beta-VAE (beta-VAE at
gamma = 0 *is* the ELBO, Tables 1, 4, 5), instead of also running MI-VAE and CMI-VAE at
gamma = 0. Runs are identified by the hash of their resolved config
(:func:`cmivae.runs.legacy.run_id`); grid points that resolve to the same config are
run once (the first one is kept). gamma = 0 points of *different* objectives are
different configs (the MI and CMI critics are still trained), so they are kept.

Overrides use the keys of ``cmivae train --set`` (``section.key``, model parameters as
``model.<param>``); values are YAML values, not strings. Command-line ``--set`` overrides
(e.g. ``data.root`` of TIMIT) are applied after the file's ``set`` and before the grid.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmivae.config import ExperimentConfig, apply_overrides, load_config, parse_override_value, read_config_file
from cmivae.infra.errors import ConfigError
from cmivae.metric_names import Offers, check_requested
from cmivae.runs import legacy

SECTIONS = ("data", "model", "objective", "train")
SWEEP_KEYS = ("base", "set", "grid", "evaluate", "description")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep.

    Attributes:
        run_id: hash of the resolved config; the run lives in ``SWEEP_DIR/runs/<run_id>/``.
        config: the resolved, validated config.
        overrides: the grid point that made this run (``{"objective.gamma": 0.3, ...}``).
    """

    run_id: str
    config: ExperimentConfig
    overrides: dict[str, Any]

    def describe(self) -> str:
        """The grid point on one line, e.g. ``objective.name=cmi objective.gamma=0.3 train.seed=0``."""
        return " ".join(f"{k}={v}" for k, v in self.overrides.items()) or "(base config)"


@dataclass
class Sweep:
    """A parsed sweep file and its expanded runs.

    Attributes:
        path: the sweep file.
        base: preset name or config path the runs start from.
        fixed: the file's ``set`` overrides plus command-line ones, in order of application.
        grids: the grid mappings (their union of products is the sweep).
        evaluate: whether each run is evaluated after training.
        metrics: which metrics (``None`` = all metrics of the model family).
        description: free text from the file.
        runs: the expanded runs (duplicates removed), only those matching ``only``.
        all_runs: every run of the file (duplicates removed), in file order, whatever ``only``
            keeps: ``sweep.json`` lists them all, so a partial invocation keeps the whole index.
        duplicates: how many grid points resolved to an already listed config.
        only: ``{section.key: value}`` filters (``cmivae sweep --only``): a run is kept when its
            config holds each value (or one of a list of values), and, for the key ``base``, when
            its grid point starts from that preset; empty = every run.
        left_out: how many runs ``only`` left out.
    """

    path: Path
    base: str
    fixed: dict[str, Any]
    grids: list[dict[str, list[Any]]]
    evaluate: bool
    metrics: list[str] | None
    description: str = ""
    runs: list[RunSpec] = field(default_factory=list)
    all_runs: list[RunSpec] = field(default_factory=list)
    duplicates: int = 0
    only: dict[str, Any] = field(default_factory=dict)
    left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The sweep's settings as plain data (saved in ``sweep.json``)."""
        return {"file": str(self.path), "base": self.base, "set": self.fixed, "grid": self.grids,
                "evaluate": self.evaluate, "metrics": self.metrics, "description": self.description,
                **({"only": self.only, "left_out": self.left_out} if self.only else {})}


ONLY_EXAMPLE = "train.seed=[0, 1]"  # the model of an --only item in error lines
BASE_KEY = "base"  # the one --only key that is not a config key: the preset a grid point starts from


def parse_only(items: list[str] | None) -> dict[str, Any]:
    """``["objective.gamma=0.9", "train.seed=[0, 1]"]`` -> ``{"objective.gamma": 0.9, "train.seed": [0, 1]}``.

    ``base=NAME`` (or a list of names) selects the runs whose grid point starts from that
    preset or config file (a grid mapping's ``base`` axis; the file's ``base`` otherwise).

    Raises:
        ConfigError: an item is not ``section.key=value`` or ``base=NAME``.
    """
    only: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if key == BASE_KEY and sep and value:
            only[key] = parse_override_value("--only", item, value, ONLY_EXAMPLE)
            continue
        if not sep or key.count(".") != 1 or not all(key.split(".")):
            raise ConfigError(f"--only {item!r}: expected SECTION.KEY=VALUE (e.g. --only objective.gamma=0.9, "
                              f"or a list: --only 'train.seed=[0, 1]') or base=PRESET (e.g. --only base=pixelcnn-mid)")
        only[key] = parse_override_value("--only", item, value, ONLY_EXAMPLE)
    return only


def _matches(hashed: dict[str, Any], base: str, only: dict[str, Any]) -> bool:
    """Whether a run, given as its saved config dict (:func:`cmivae.runs.legacy.saved_form`) and the
    base its grid point starts from, holds every value of ``only`` (a list: any of its values)."""
    for key, wanted in only.items():
        if key == BASE_KEY:
            value: Any = base
        else:
            section, name = key.split(".")
            value = hashed.get(section, {}).get(name)
        if value not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    return True


def _read_sweep_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"sweep file {str(path)!r} does not exist; see study/experiments/ for examples")
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"cmivae_sweep_{path.stem.replace('-', '_')}", path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{path}: cannot be imported as a Python sweep file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # a user's file: report any error with its name
            raise ConfigError(f"{path}: importing the sweep file failed: {type(err).__name__}: {err}") from err
        raw = getattr(module, "SWEEP", None)
        if raw is None:
            raise ConfigError(f"{path}: a Python sweep file must define SWEEP = {{'base': ..., 'grid': ...}}")
    elif path.suffix in (".yaml", ".yml"):
        from cmivae.config import parse_yaml

        raw = parse_yaml(path.read_bytes(), f"sweep file {str(path)!r}")
    else:
        raise ConfigError(f"{path}: a sweep file must be .yaml, .yml or .py, got {path.suffix or 'no suffix'!r}")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a sweep must be a mapping with keys {', '.join(SWEEP_KEYS)}, "
                          f"got {type(raw).__name__}")
    return raw


def _check_key(path: Path, where: str, key: Any) -> str:
    """A ``section.key`` override key, or a ConfigError naming the file and the key."""
    if not isinstance(key, str) or len(key.split(".")) != 2 or key.split(".")[0] not in SECTIONS:
        raise ConfigError(f"{path}: {where} key {key!r} must be section.key with section one of "
                          f"{', '.join(SECTIONS)} (e.g. objective.gamma)")
    return key


def _parse_grids(path: Path, raw: Any) -> list[dict[str, list[Any]]]:
    if raw is None:
        return [{}]
    grids = raw if isinstance(raw, list) else [raw]
    if not grids:
        raise ConfigError(f"{path}: grid is an empty list; give a mapping section.key: [values] or a list of them")
    parsed = []
    for i, grid in enumerate(grids):
        where = "grid" if not isinstance(raw, list) else f"grid[{i}]"
        if not isinstance(grid, dict):
            raise ConfigError(f"{path}: {where} must be a mapping section.key: [values], got {grid!r}")
        axes: dict[str, list[Any]] = {}
        for key, values in grid.items():
            if key != "base":
                _check_key(path, where, key)
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{path}: {where}.{key} must be a non-empty list of values, got {values!r} "
                                  f"(write [{values}] for a single value, or move it to `set`)")
            axes[key] = values
        parsed.append(axes)
    return parsed


def _parse_evaluate(path: Path, raw: Any) -> tuple[bool, list[str] | None]:
    if raw is None or raw is True:
        return True, None
    if raw is False:
        return False, None
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{path}: evaluate must be [all], a list of metric names or false, got {raw!r}")
    return True, None if values == ["all"] else list(values)


def _set_value(raw: dict[str, Any], key: str, value: Any) -> None:
    section, name = key.split(".")
    if raw.get(section) is None:
        raw[section] = {}
    raw[section][name] = copy.deepcopy(value)


def load_sweep(path: str | Path, overrides: list[str] | None = None, only: list[str] | None = None) -> Sweep:
    """Parse and expand a sweep file.

    Args:
        path: the YAML or Python sweep file.
        overrides: ``section.key=value`` strings (``cmivae sweep --set``) applied after the
            file's ``set`` and before the grid.
        only: ``section.key=value`` filters (``cmivae sweep --only``): keep the runs whose
            config holds these values (:func:`parse_only`); the run ids are those of the whole
            sweep, so running a part first and the whole later trains nothing twice.

    Raises:
        ConfigError: naming the file and the offending key or grid point.
    """
    path = Path(path)
    wanted = parse_only(only)  # a malformed --only fails before the file is expanded
    raw = _read_sweep_file(path)
    unknown = sorted(set(raw) - set(SWEEP_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(SWEEP_KEYS)}")
    base = raw.get("base")
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base must name a preset (e.g. pixelcnn-cpu) or a config file, got {base!r}")
    if (path.parent / base).is_file():  # a config path relative to the sweep file
        base = str(path.parent / base)
    try:
        base_raw = read_config_file(base)
    except ConfigError as err:
        raise ConfigError(f"{path}: base: {err}") from err
    fixed = raw.get("set") or {}
    if not isinstance(fixed, dict):
        raise ConfigError(f"{path}: set must be a mapping section.key: value, got {fixed!r}")
    for key in fixed:
        _check_key(path, "set", key)
    grids = _parse_grids(path, raw.get("grid"))
    both = sorted({k for grid in grids for k in grid} & set(fixed))
    if both:
        raise ConfigError(f"{path}: key(s) {', '.join(both)} are in both set and grid; keep each in one place")
    evaluate, metrics = _parse_evaluate(path, raw.get("evaluate"))
    description = str(raw.get("description") or "")

    def starting_point(raw_base: dict[str, Any]) -> dict[str, Any]:
        start = copy.deepcopy(raw_base)
        for key, value in fixed.items():
            _set_value(start, key, value)
        try:
            return apply_overrides(start, overrides or [])
        except ConfigError as err:  # its message names --set already, or is about the base config's section
            raise ConfigError(f"{path}: {err}" if str(err).startswith("--set") else f"{path}: --set: {err}") from err

    starts = {base: starting_point(base_raw)}
    for i, grid in enumerate(grids):
        for name in grid.get("base", []):
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{path}: grid[{i}].base must list presets or config files, got {name!r}")
            if name not in starts:
                source = str(path.parent / name) if (path.parent / name).is_file() else name
                try:
                    starts[name] = starting_point(read_config_file(source))
                except ConfigError as err:
                    raise ConfigError(f"{path}: grid[{i}].base: {err}") from err
    cli_fixed = {item.split("=", 1)[0]: parse_override_value("--set", item, item.split("=", 1)[1])
                 for item in overrides or []}
    sweep = Sweep(path=path, base=str(raw["base"]), fixed={**fixed, **cli_fixed}, grids=grids, evaluate=evaluate,
                  metrics=metrics, description=description)
    from cmivae.registry import resolve  # imports torch: only when a sweep is expanded, not for sweep-status

    seen: set[str] = set()
    for grid in grids:
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            resolved = copy.deepcopy(starts[point.get("base", base)])
            for key, value in point.items():
                if key != "base":
                    _set_value(resolved, key, value)
            try:
                config = resolve(load_config(resolved)).config  # names, params and modality checked
            except ConfigError as err:
                where = " ".join(f"{k}={v}" for k, v in point.items()) or "the base config"
                raise ConfigError(f"{path}: grid point {where}: {err}") from err
            run_id = legacy.run_id(config)
            if run_id in seen:
                sweep.duplicates += 1
                continue
            seen.add(run_id)
            sweep.runs.append(RunSpec(run_id=run_id, config=config, overrides=point))
    from cmivae.models.contract import declared_capabilities
    from cmivae.registry import lookup

    for spec in sweep.runs:  # a misspelt or unsupported metric fails here, not after hours of training
        offers = Offers.of(declared_capabilities(lookup("model", spec.config.model.name)), spec.config.data.name)
        try:
            check_requested(metrics, offers)
        except ConfigError as err:
            raise ConfigError(f"{path}: evaluate: {err} (model {spec.config.model.name}, data set "
                              f"{spec.config.data.name})") from None
    sweep.only, sweep.all_runs = wanted, list(sweep.runs)
    if sweep.only:
        hashed = [legacy.saved_form(spec.config) for spec in sweep.runs]  # once per run, for every key and the filter
        for key in sweep.only:
            if key == BASE_KEY:
                continue
            section, name = key.split(".")
            if not any(name in config.get(section, {}) for config in hashed):
                raise ConfigError(f"{path}: --only {key}: no run of this sweep has that key; give a config key "
                                  f"such as objective.gamma or train.seed")
        kept = [spec for spec, config in zip(sweep.runs, hashed, strict=True)
                if _matches(config, str(spec.overrides.get(BASE_KEY, sweep.base)), sweep.only)]
        if not kept:
            shown = " ".join(f"{k}={v}" for k, v in sweep.only.items())
            raise ConfigError(f"{path}: --only {shown} matches none of its {len(sweep.runs)} runs; "
                              f"`cmivae sweep {path} --dry-run` lists them")
        sweep.left_out, sweep.runs = len(sweep.runs) - len(kept), kept
    return sweep


def expand_sweep(path: str | Path, overrides: list[str] | None = None) -> list[RunSpec]:
    """The runs of a sweep file (see :func:`load_sweep`), duplicates removed, in file order."""
    return load_sweep(path, overrides).runs
