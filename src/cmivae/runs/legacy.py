"""Run-directory compatibility in one place: the ids of runs and what older runs lack.

**Run ids.** A run's id (its directory name in a sweep) is the first 12 hex digits of a SHA-256
of its config. The committed runs (``study/results``) were named by the *legacy schema*, frozen
here: the data/train fields of that time (:data:`LEGACY_FIELDS`), the flat objective section
(``name`` + :data:`LEGACY_OBJECTIVE_DEFAULTS` + the params as given), and fields added later that
are left out while at their default (:data:`HASH_NEUTRAL_DEFAULTS`). A config whose data/train
fields outside :data:`LEGACY_FIELDS` all hold their dataclass defaults keeps that legacy id, so
every committed run and sweep file keeps its ids and a new field at its default renames nothing.
A config that sets such a field hashes ``{"schema": 2, "config": ...}`` (the same normal form,
that field included): a new field or regularizer needs no entry anywhere.

**Traits.** Runs trained before ``config.json["traits"]`` existed name their model and
objective only; :func:`legacy_traits` supplies what their classes declared then (and a record
written before a key existed gets that key from here: :func:`cmivae.runs.readers.read_traits`).
This table is the one place that names the objectives and models of those runs.

Torch-free: sweep state and reports compute ids and read traits from files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, PRIOR_S, SAMPLE
from cmivae.runs import files

SCHEMA = 2  # the schema of ids of configs outside the legacy one

# ---- the legacy schema, frozen (never add to these: a new field needs no entry) ----------------
LEGACY_FIELDS: dict[str, frozenset[str]] = {
    "data": frozenset({"name", "data_dir", "root", "speaker_pattern", "gender_table", "val_fraction", "split_seed",
                       "num_train", "num_test", "num_speakers", "synthetic_version", "split", "test_fraction",
                       "on_bad_file", "last_segment", "sample_rate", "max_frequency_hz", "frame_size"}),
    "train": frozenset({"epochs", "batch_size", "lr", "seed", "precision", "device", "max_steps",
                        "checkpoint_every_steps", "checkpoint_every_minutes", "nonfinite", "max_skipped_fraction",
                        "compile", "compile_mode", "eval_batch_size", "deterministic", "data_on_device",
                        "channels_last", "tensorboard", "max_memory_gb"}),
}
# The flat objective section the committed runs hashed: these keys with these defaults are in every
# legacy-form objective section, whatever the objective uses.
LEGACY_OBJECTIVE_DEFAULTS: dict[str, Any] = {"gamma": 0.0, "alpha": 1.0, "critic_lr": 1e-3, "critic_steps": 2,
                                             "critic_hidden_dim": None, "critic_path": "both", "critic": "paper",
                                             "kernel_scale": 100.0, "critic_input": "map", "critic_patch": 3,
                                             "mws_s_width": 1.0}
# (section, key) -> default of a field added after the first committed results: left out of the
# legacy form while it holds this value.
HASH_NEUTRAL_DEFAULTS: dict[tuple[str, str], Any] = {
    ("data", "synthetic_version"): 1,
    ("data", "split"): "speaker",
    ("data", "test_fraction"): 0.25,
    ("data", "on_bad_file"): "error",
    ("data", "last_segment"): "drop",
    ("data", "sample_rate"): None,
    ("data", "max_frequency_hz"): None,
    ("data", "frame_size"): 64,
    ("objective", "critic_path"): "both",
    ("objective", "critic"): "paper",
    ("objective", "kernel_scale"): 100.0,
    ("objective", "critic_input"): "map",
    ("objective", "critic_patch"): 3,
    ("objective", "mws_s_width"): 1.0,
    ("train", "compile_mode"): "default",
    ("train", "deterministic"): False,
    ("train", "data_on_device"): "auto",
    ("train", "channels_last"): "auto",
    ("train", "tensorboard"): False,
    ("train", "max_skipped_fraction"): 0.1,
    ("train", "max_memory_gb"): None,
}


def _section_defaults(section: str) -> dict[str, Any]:
    """The dataclass defaults of the ``data`` or ``train`` section (:data:`cmivae.config.SECTIONS`)."""
    from cmivae.config import SECTIONS

    out = {}
    for f in dataclasses.fields(SECTIONS[section]):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _as_dict(config: Any) -> dict[str, Any]:
    return config.to_dict() if hasattr(config, "to_dict") else config


def saved_form(config: Any) -> dict[str, Any]:
    """What ``config.json["config"]`` (and a checkpoint's ``config``) holds: the sections as given
    (``ExperimentConfig.to_dict()``) with the objective in the legacy flat shape (``name`` +
    :data:`LEGACY_OBJECTIVE_DEFAULTS` + the params, ``alpha: 2`` stored as ``2.0``). Idempotent, so
    a saved dict of any age reads the same."""
    raw = _as_dict(config)
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in raw.items()}
    objective = raw.get("objective")
    if isinstance(objective, dict):
        params = {key: float(value) if isinstance(LEGACY_OBJECTIVE_DEFAULTS.get(key), float)
                  and isinstance(value, int) and not isinstance(value, bool) else value
                  for key, value in objective.items()}
        out["objective"] = {"name": params.pop("name", None), **LEGACY_OBJECTIVE_DEFAULTS, **params}
    return out


def new_fields(config: Any) -> dict[str, Any]:
    """``section.key -> value`` of the data/train fields outside :data:`LEGACY_FIELDS` that a config
    sets to something other than their default (a key no dataclass knows counts as set)."""
    raw = _as_dict(config)
    out: dict[str, Any] = {}
    for section, known in LEGACY_FIELDS.items():
        values = raw.get(section)
        if not isinstance(values, dict):
            continue
        defaults = _section_defaults(section)
        for key, value in values.items():
            if key not in known and (key not in defaults or value != defaults[key]):
                out[f"{section}.{key}"] = value
    return out


def comparable_form(config: Any) -> dict[str, Any]:
    """The normal form of a config (saved or current) that ids hash and resumes compare:
    :func:`saved_form`, less the fields added since the legacy schema that hold their default."""
    out = saved_form(config)
    for (section, key), default in HASH_NEUTRAL_DEFAULTS.items():
        values = out.get(section)
        if isinstance(values, dict) and key in values and values[key] == default:
            del values[key]
    for section, known in LEGACY_FIELDS.items():
        values = out.get(section)
        if isinstance(values, dict):
            defaults = _section_defaults(section)
            for key in [k for k in values if k not in known and k in defaults and values[k] == defaults[k]]:
                del values[key]
    return out


def hashed_form(config: Any) -> dict[str, Any]:
    """What a run id hashes: the legacy form (:func:`comparable_form`) when no field outside the
    legacy schema is set (:func:`new_fields`), else ``{"schema": 2, "config": that form}``."""
    form = comparable_form(config)
    return {"schema": SCHEMA, "config": form} if new_fields(config) else form


def run_id(config: Any) -> str:
    """The 12-hex-digit id of a config: an :class:`cmivae.config.ExperimentConfig` or a config dict
    (``config.json["config"]`` of any age, or ``ExperimentConfig.to_dict()``)."""
    text = json.dumps(hashed_form(config), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---- traits of runs that predate config.json["traits"] ---------------------------------------
# model name -> what its class declared when the committed runs were trained
_MODEL_TRAITS: dict[str, dict[str, Any]] = {
    "pixelcnn_vae": {files.CAPABILITIES: [SAMPLE], files.MODEL_LABEL: "PixelCNN-VAE",
                     files.MATCHED_METRICS: [["mi_zs", "Î(z;s)", 2, "lower"], ["aolr", "AoLR", 4, "higher"],
                                             ["mcas", "mCAS", 4, "higher"]]},
    "dsae": {files.CAPABILITIES: [DECODE, LOCAL_SEQUENCE, PRIOR_S], files.MODEL_LABEL: "DSAE",
             files.MATCHED_METRICS: [["mi_zs", "Î(z;s)", 2, "lower"], ["eer_z", "EER(z) %", 2, "lower"],
                                     ["eer_s", "EER(s) %", 2, "higher"]]},
}
# objective name -> what its class declared when the committed runs were trained (the rest: _OBJECTIVE_DEFAULTS,
# the defaults of cmivae.objectives.base.Objective's ClassVars)
_OBJECTIVE_TRAITS: dict[str, dict[str, Any]] = {
    "elbo": {files.OBJECTIVE_LABEL: "VAE (ELBO)", files.REFERENCE_CURVE: True, files.USES_GAMMA: False,
             files.REPORT_RANK: 0, files.PLOT_COLOR: "tab:gray", files.PLOT_MARKER: "s"},
    "beta": {files.OBJECTIVE_LABEL: "β-VAE", files.REFERENCE_CURVE: True, files.REPORT_RANK: 1,
             files.PLOT_COLOR: "tab:blue", files.PLOT_MARKER: "o"},
    "mi": {files.OBJECTIVE_LABEL: "MI-VAE", files.REPORT_RANK: 2, files.PLOT_COLOR: "tab:green",
           files.PLOT_MARKER: "^"},
    "cmi": {files.OBJECTIVE_LABEL: "CMI-VAE", files.REPORT_RANK: 3, files.PLOT_COLOR: "tab:red",
            files.PLOT_MARKER: "D"},
    "mmd": {files.OBJECTIVE_LABEL: "kernel MMD (CMI)"},
    "mws": {files.OBJECTIVE_LABEL: "MWS I(z;s)"},
}
_OBJECTIVE_DEFAULTS: dict[str, Any] = {files.REFERENCE_CURVE: False, files.USES_GAMMA: True, files.REPORT_RANK: 10,
                                       files.PLOT_COLOR: "", files.PLOT_MARKER: ""}


def legacy_objective_traits(name: str) -> dict[str, Any]:
    """The objective traits (:data:`cmivae.runs.files.OBJECTIVE_TRAIT_KEYS`) its class declared when
    the committed runs were trained; an unknown name gets the defaults and its name as its label. Reports
    also read the paper's rows (methods no run of a report may have) through it."""
    return {files.OBJECTIVE_LABEL: name, **_OBJECTIVE_DEFAULTS, **_OBJECTIVE_TRAITS.get(name, {})}


def legacy_traits(config: dict[str, Any]) -> dict[str, Any]:
    """The traits (:data:`cmivae.runs.files.TRAIT_KEYS`) of a run that predates them, from its
    hashed config dict; an unknown name gets no capability, the default objective traits and its
    name as its label."""
    def name_of(section: str) -> str:  # a damaged file may hold anything: no name then
        values = config.get(section) if isinstance(config, dict) else None
        return str(values.get("name", "")) if isinstance(values, dict) else ""

    model, objective = name_of("model"), name_of("objective")
    known = _MODEL_TRAITS.get(model, {})
    return {files.CAPABILITIES: sorted(known.get(files.CAPABILITIES, [])),
            files.MODEL_LABEL: known.get(files.MODEL_LABEL, model),
            files.MATCHED_METRICS: [list(m) for m in known.get(files.MATCHED_METRICS, [])],
            **legacy_objective_traits(objective)}
