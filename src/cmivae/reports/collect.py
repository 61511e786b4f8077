"""Read run directories into flat rows: the only input of tables and plots.

Reports are built from files only (``config.json``, ``results.json``, ``eval.json``,
``samples.png``, ``sweep_error.json``), never by importing models, so a report can be made
on any machine that has the run directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmivae.infra.json_files import DamagedFile
from cmivae.runs import files
from cmivae.runs.readers import read_json_or_none, read_traits

# Objective keys that make a variant of a method (issue 13's study): a run whose value differs
# from the dataclass default is its own method, ``<name>+<key>=<value>`` (e.g. ``cmi+critic_path=s``),
# so variants are never averaged together. Defaults: runs.legacy.LEGACY_OBJECTIVE_DEFAULTS.
VARIANT_KEYS = ("critic", "critic_path", "alpha", "kernel_scale", "critic_input", "critic_patch", "mws_s_width")
# Final-epoch training means read from metrics.jsonl into a row's metrics (critic diagnostics).
CRITIC_DIAGNOSTICS = ("critic_acc", "critic_acc_pos", "critic_acc_neg", "critic_logit_pos", "critic_logit_neg")


def _variant_defaults() -> dict[str, Any]:
    from cmivae.runs.legacy import LEGACY_OBJECTIVE_DEFAULTS

    return {key: value for key, value in LEGACY_OBJECTIVE_DEFAULTS.items() if key in VARIANT_KEYS}


def method_key(objective: dict[str, Any]) -> str:
    """The method of a run: ``objective.name``, plus ``+key=value`` for every
    :data:`VARIANT_KEYS` entry that is not its default (``cmi+critic=mlp+critic_path=s``)."""
    defaults = _variant_defaults()
    name = str(objective.get("name", "?"))
    extra = [f"{key}={objective[key]:g}" if isinstance(objective[key], float) else f"{key}={objective[key]}"
             for key in VARIANT_KEYS if key in objective and key in defaults and objective[key] != defaults[key]]
    return "+".join([name, *extra])


class TraitBook:
    """What the run files read so far say their classes declare (``config.json["traits"]``, or
    for older runs :func:`cmivae.runs.legacy.legacy_traits`), by model and objective name: the
    display labels, same-KL metrics, reference curve, order, colours and markers reports use, read
    from files, never from a table here. An objective no run read declares (a paper row's method)
    is what :func:`cmivae.runs.legacy.legacy_objective_traits` says of its name."""

    def __init__(self) -> None:
        self.objectives: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}

    def learn(self, model: str, objective: str, traits: dict[str, Any]) -> None:
        own = {k: v for k, v in traits.items() if k in files.OBJECTIVE_TRAIT_KEYS}
        self.objectives[objective] = {**self.objectives.get(objective, {}), **own}
        self.models[model] = {**self.models.get(model, {}),
                              **{k: v for k, v in traits.items() if k not in files.OBJECTIVE_TRAIT_KEYS}}

    def objective_trait(self, objective: str, key: str) -> Any:
        """Trait ``key`` (:data:`cmivae.runs.files.OBJECTIVE_TRAIT_KEYS`) of objective ``objective``
        (a registry name, no variant suffix); a value of the wrong type (a damaged file) is not
        believed."""
        from cmivae.runs.legacy import legacy_objective_traits

        known = legacy_objective_traits(objective)[key]
        value = self.objectives.get(objective, {}).get(key, known)
        return value if type(value) is type(known) else known

    def model_label(self, model: str) -> str:
        label = self.models.get(model, {}).get(files.MODEL_LABEL)
        return label if isinstance(label, str) and label else model

    def model_trait(self, model: str, key: str, default: Any = None) -> Any:
        return self.models.get(model, {}).get(key, default)


TRAITS = TraitBook()


def model_label(model: str) -> str:
    """Display name of a model family (``pixelcnn_vae`` -> ``PixelCNN-VAE``) as its runs declare
    it; its name when no run read declares one."""
    return TRAITS.model_label(model)


@dataclass
class RunRow:
    """One run directory, flattened.

    Attributes:
        run_id: the directory name (the config hash in a sweep).
        path: the run directory.
        dataset: ``data.name``.
        model: ``model.name``.
        method: ``objective.name`` (``elbo``, ``beta``, ``mi``, ``cmi``), with the variant
            suffix of :func:`method_key` (``cmi+critic_path=s``).
        gamma: ``objective.gamma`` (0 where the objective declares it ignores gamma: the ELBO).
        seed: ``train.seed``.
        metrics: ``results.json`` merged with ``eval.json`` (eval wins on shared keys);
            ``neg_elbo`` is added as ``-elbo`` when missing; adversarial runs add the
            final-epoch training means :data:`CRITIC_DIAGNOSTICS` from ``metrics.jsonl``.
        finished: ``results.json`` exists.
        evaluated: ``eval.json`` exists.
        error: the message of ``sweep_error.json`` if the last sweep attempt failed.
        samples: ``samples.png`` if present.
        config: the resolved config.
        numerics: what the run computed at, from ``config.json``'s ``numerics`` record
            (:func:`numerics_text`); empty for runs trained before it was recorded.
        damaged: ``"<file>: <reason>"`` for each run file that is unreadable or malformed
            (not UTF-8, not JSON, wrong types); a run whose ``config.json`` is damaged is
            still listed (with ``?`` fields), never dropped.
    """

    run_id: str
    path: Path
    dataset: str
    model: str
    method: str
    gamma: float
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)
    finished: bool = False
    evaluated: bool = False
    error: str | None = None
    samples: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    numerics: str = ""
    damaged: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """Its ``config.json`` was read (it can be placed in a table)."""
        return not any(d.startswith(f"{files.CONFIG}:") for d in self.damaged)


def _read_json(path: Path, damaged: list[str]) -> dict[str, Any] | None:
    """The object in ``path``; ``None`` if absent, or damaged (then ``"<name>: <reason>"`` is
    appended to ``damaged``)."""
    try:
        return read_json_or_none(path)
    except DamagedFile as err:
        damaged.append(f"{path.name}: {err.reason}")
        return None


def _one_numerics(record: Any) -> str:
    if not isinstance(record, dict) or not isinstance(record.get("precision"), str):
        return "?"
    where = record.get("gpu") if record.get("device") == "cuda" else record.get("cpu_capability")
    return f"{record['precision']} on {record.get('device', '?')}" + (f" ({where})" if where else "")


def numerics_text(saved: dict[str, Any]) -> str:
    """What a run computed at, from the ``numerics`` record :meth:`RunDirectory.start` writes
    into ``config.json`` (``train.precision: auto`` resolves per machine kind): ``"bf16 on cpu
    (AVX512)"``, ``"fp32 on cuda (NVIDIA H200)"``, and ``", resumed at ..."`` for each later
    segment at another precision (``numerics_resumed``). Empty when there is no record (runs
    trained before it was kept)."""
    if "numerics" not in saved:
        return ""
    resumed = saved.get("numerics_resumed")
    later = [_one_numerics(r) for r in resumed] if isinstance(resumed, list) else []
    return ", ".join([_one_numerics(saved["numerics"]), *(f"resumed at {text}" for text in later)])


def _field(config: dict[str, Any], section: str, key: str, kind: type, default: Any, damaged: list[str]) -> Any:
    values = config.get(section, {})
    value = values.get(key, default) if isinstance(values, dict) else None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        damaged.append(f"{files.CONFIG}: {section}.{key} is {value!r}, expected a {kind.__name__}")
        return default
    return value


def read_run(path: str | Path) -> RunRow | None:
    """One run directory as a row (``None`` only if it has no ``config.json``). Damaged
    files are named in :attr:`RunRow.damaged`, never raised."""
    path = Path(path)
    damaged: list[str] = []
    if not (path / files.CONFIG).exists():
        return None
    saved = _read_json(path / files.CONFIG, damaged)
    config = saved.get("config") if saved is not None else None
    if saved is not None and not isinstance(config, dict):
        damaged.append(f"{files.CONFIG}: no 'config' object")
    config = config if isinstance(config, dict) else {}
    n_damaged = len(damaged)
    name = _field(config, "objective", "name", str, "?", damaged)
    gamma = _field(config, "objective", "gamma", float, 0.0, damaged)
    dataset = _field(config, "data", "name", str, "?", damaged)
    model = _field(config, "model", "name", str, "?", damaged)
    seed = _field(config, "train", "seed", int, 0, damaged)
    if n_damaged and len(damaged) > n_damaged:
        del damaged[n_damaged:]  # the file itself is named; not every field again
    objective = config.get("objective")
    method = method_key({**objective, "name": name}) if isinstance(objective, dict) else name
    metrics: dict[str, float] = {}
    results = _read_json(path / files.RESULTS, damaged)
    evaluation = _read_json(path / files.EVAL, damaged)
    for values in (results, evaluation):
        for key, value in (values or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[key] = float(value)
    if "elbo" in metrics and "neg_elbo" not in metrics:
        metrics["neg_elbo"] = -metrics["elbo"]
    metrics.update(_final_critic_diagnostics(path / files.METRICS))
    error = _read_json(path / files.SWEEP_ERROR, damaged)
    if saved is not None and config:
        TRAITS.learn(model, name, read_traits(saved))
    if not TRAITS.objective_trait(name, files.USES_GAMMA):
        gamma = 0.0  # an objective that ignores gamma (the ELBO) is placed at gamma 0
    return RunRow(
        run_id=path.name, path=path, dataset=dataset, model=model, method=method,
        gamma=gamma, seed=seed, metrics=metrics, finished=results is not None,
        evaluated=evaluation is not None, error=str(error.get("error")) if error else None,
        samples=path / files.SAMPLES if (path / files.SAMPLES).exists() else None, config=config,
        numerics=numerics_text(saved) if saved is not None else "", damaged=damaged)


def _final_critic_diagnostics(path: Path) -> dict[str, float]:
    """:data:`CRITIC_DIAGNOSTICS` of the last epoch record of ``metrics.jsonl`` (training
    means over that epoch); empty when there is no critic or the file is unreadable."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        train = json.loads(lines[-1]).get("train", {}) if lines else {}
    except (OSError, ValueError, AttributeError):  # ValueError: not UTF-8, not JSON
        return {}
    if not isinstance(train, dict):
        return {}
    return {key: float(train[key]) for key in CRITIC_DIAGNOSTICS
            if isinstance(train.get(key), (int, float)) and not isinstance(train.get(key), bool)}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"seed": 1}}`` -> ``{"train.seed": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def difference_labels(settings: list[dict[str, Any]]) -> list[str]:
    """For flat dicts (``section.key -> value``), each one's values of the keys in which they
    differ, ``key=value`` joined by spaces (the full ``section.key`` where the short name is
    ambiguous); empty strings when all agree."""
    keys = sorted({k for d in settings for k in d})
    differing = [k for k in keys if len({repr(d.get(k)) for d in settings}) > 1]
    short = [k.rsplit(".", 1)[-1] for k in differing]
    names = [s if short.count(s) == 1 else k for s, k in zip(short, differing, strict=True)]
    return [" ".join(f"{n}={d.get(k)}" for n, k in zip(names, differing, strict=True)) for d in settings]


def budget_text(config: dict[str, Any], steps: float | None = None) -> str:
    """The training budget of a run: training examples, epochs, VAE updates, model size
    (only what config.json records; ``default`` where the model's defaults apply)."""
    data, train, model = config.get("data", {}), config.get("train", {}), config.get("model", {})
    parts = [f"{data.get('num_train') or 'all'} train"]
    if train.get("epochs", "?") is not None:
        parts.append(f"{train.get('epochs', '?')} epochs")
        if train.get("max_steps"):
            parts.append(f"max {train['max_steps']} updates")
    elif train.get("max_steps") and (steps is None or round(steps) != train["max_steps"]):
        parts.append(f"budget {train['max_steps']} updates")  # epochs: null, a budget in updates
    if steps is not None:
        parts.append(f"{steps:.0f} updates")
    if "kernel_sizes" in model or "channels" in model:  # a convolutional decoder's size
        layers = len(model["kernel_sizes"]) if isinstance(model.get("kernel_sizes"), list) else "default"
        parts.append(f"{layers} layers x {model.get('channels', 'default')} maps")
    else:
        sizes = [f"{k}={model[k]}" for k in ("hidden_dim", "rnn_dim", "z_dim", "s_dim") if k in model]
        parts.append(" ".join(sizes) if sizes else "default size")
    return " · ".join(parts)


def find_run_dirs(root: str | Path) -> list[Path]:
    """Run directories under ``root``: ``root`` itself, ``root/runs/*`` of a sweep, or any
    directory below holding a ``config.json``."""
    root = Path(root)
    if (root / files.CONFIG).exists():
        return [root]
    return sorted(p.parent for p in root.rglob(files.CONFIG))


# Config keys that do not change what a run measures (where it runs, how often it saves).
NOT_A_SETTING = {"data.data_dir", "train.seed", "train.device", "train.checkpoint_every_steps",
                 "train.checkpoint_every_minutes", "train.eval_batch_size", "train.compile",
                 "objective.name", "objective.gamma", *(f"objective.{k}" for k in VARIANT_KEYS)}


def _setting(config: dict[str, Any]) -> dict[str, str]:
    """The run's settings besides method, gamma and seed: ``section.key -> value`` as text,
    with fields added after a run was made filled in with their (hash-neutral) defaults."""
    from cmivae.runs.legacy import HASH_NEUTRAL_DEFAULTS

    flat: dict[str, str] = {}
    for (section, key), default in HASH_NEUTRAL_DEFAULTS.items():
        flat[f"{section}.{key}"] = json.dumps(default)
    for section, values in config.items():
        if isinstance(values, dict):
            for key, value in values.items():
                flat[f"{section}.{key}"] = json.dumps(value, sort_keys=True)
    return {k: v for k, v in flat.items() if k not in NOT_A_SETTING}


def _tag(setting: dict[str, str], keys: list[str]) -> str:
    """``key=value`` of the varying keys, file-name safe: ``channels=64,kernel_sizes=7x7x5``."""
    parts = []
    for key in keys:
        value = json.loads(setting.get(key, "null"))
        text = "x".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key.split('.', 1)[1]}={text}")
    return ",".join(parts)


def _preset_settings() -> dict[str, dict[str, str]]:
    """Every shipped preset's :func:`_setting` (``cmivae presets``), for naming a setting."""
    from cmivae.config import list_presets, load_config
    from cmivae.runs.legacy import saved_form

    return {name: _setting(saved_form(load_config(name))) for name in list_presets()}


def _preset_names(settings: list[dict[str, str]], keys: list[str]) -> list[str] | None:
    """For each setting, the shipped preset closest to it on the keys of ``keys`` (the keys that
    vary between the settings): its name where they agree on every one (``pixelcnn-mid``), else
    its name and the keys where they differ (``pixelcnn-mid+block=residual``). A ``model.`` key that
    all settings share but that differs from the preset is named too, so a residual decoder on two
    budgets reads ``pixelcnn-mid+block=residual`` and ``pixelcnn-mid-long+block=residual``, not as
    the presets' plain decoder. None unless each setting has one closest preset that agrees on at
    least one of ``keys`` and different settings get different names (then a label lists the keys
    instead)."""
    presets = _preset_settings()
    names: dict[tuple[str | None, ...], str] = {}
    for setting in settings:
        values = tuple(setting.get(k) for k in keys)
        differing = {n: [k for k, v in zip(keys, values, strict=True) if p.get(k) != v] for n, p in presets.items()}
        fewest = min(len(d) for d in differing.values())
        closest = [n for n, d in differing.items() if len(d) == fewest]
        if len(closest) != 1 or fewest == len(keys):
            return None
        preset = presets[closest[0]]
        shared_model_keys = [k for k in sorted(setting) if k.startswith("model.") and k not in keys
                             and preset.get(k) != setting[k]]
        tagged = differing[closest[0]] + shared_model_keys
        name = closest[0] + (f"+{_tag(setting, tagged)}".replace(",", "+") if tagged else "")
        if names.get(values, name) != name:
            return None
        names[values] = name
    return None if len(set(names.values())) != len(names) else [names[tuple(s.get(k) for k in keys)]
                                                               for s in settings]


def _separate_settings(rows: list[RunRow]) -> None:
    """Runs of one data set and model that differ in anything but method, gamma and seed
    (e.g. two presets in one sweep) must not be averaged together: their ``dataset`` becomes
    ``<name>@<preset>`` when each setting is one shipped preset's on the keys that differ
    (``fashion-mnist@pixelcnn-mid``) or ``<name>@<preset>+<key=value>`` when it is closest to one
    preset (``fashion-mnist@pixelcnn-mid+block=residual``), else ``<name>@<the differing key=value pairs>``
    (``fashion-mnist@channels=64,kernel_sizes=7x7x3``); a single setting is left as it is."""
    by_family: dict[tuple[str, str], list[RunRow]] = {}
    for row in rows:
        by_family.setdefault((row.dataset, row.model), []).append(row)
    for members in by_family.values():
        settings = [_setting(r.config) for r in members]
        keys = sorted({k for s in settings for k in s if len({t.get(k) for t in settings}) > 1})
        if keys:
            presets = _preset_names(settings, keys)
            for i, (row, setting) in enumerate(zip(members, settings, strict=True)):
                row.dataset = f"{row.dataset}@{presets[i] if presets else _tag(setting, keys)}"


def val_kl_by_epoch(row: RunRow) -> dict[int, tuple[int, float]]:
    """``{epoch: (step, validation KL(z))}`` from the run's ``metrics.jsonl``, in epoch order;
    a repeated epoch (a run resumed after that epoch was logged) keeps its last record."""
    from cmivae.runs.readers import read_history

    out: dict[int, tuple[int, float]] = {}
    for record in read_history(row.path):
        val, epoch, step = record.get("val"), record.get("epoch"), record.get("step")
        if isinstance(val, dict) and isinstance(val.get("kl_z"), (int, float)) and isinstance(epoch, int) \
                and isinstance(step, int):
            out[epoch] = (step, float(val["kl_z"]))
    return dict(sorted(out.items()))


def collect_runs(roots: str | Path | list[str | Path]) -> list[RunRow]:
    """Every run under the given sweep or run directories, sorted by
    (dataset, model, method, gamma, seed); a run reached twice is listed once, and so is one
    config trained in two places (the same config hash in two sweep directories: a
    deterministic rerun, not another seed; the first root's copy is kept unless a later one is
    further along: finished beats still training, evaluated beats not evaluated). Runs of the same
    data set and model with different settings get distinct ``dataset`` labels
    (:func:`_separate_settings`)."""
    from cmivae.runs.legacy import run_id

    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    rows: dict[Path | str, RunRow] = {}
    for root in roots:
        for path in find_run_dirs(root):
            row = read_run(path)
            if row is None:
                continue
            try:
                key: Path | str = run_id(row.config) if row.usable and row.config else path.resolve()
            except (TypeError, ValueError):  # a config.json too damaged to hash: keyed by its place
                key = path.resolve()
            kept = rows.get(key)
            if kept is None or (row.finished, row.evaluated) > (kept.finished, kept.evaluated):
                rows[key] = row  # a finished (evaluated) copy wins over one still training
    _separate_settings(list(rows.values()))
    return sorted(rows.values(), key=lambda r: (r.dataset, r.model, _method_rank(r.method), r.gamma, r.seed,
                                                r.run_id))


def _method_rank(method: str) -> tuple[int, str]:
    """Sort key of a method: its objective's declared ``report_rank``, then the method's name."""
    return (TRAITS.objective_trait(method.split("+")[0], files.REPORT_RANK), method)


def on_reference_curve(method: str) -> bool:
    """Whether ``method``'s groups make the curve every other method is read against at the same
    KL(z) (:mod:`cmivae.reports.matched`): its objective declares ``reference_curve`` (beta-VAE at
    each gamma, and the ELBO, beta-VAE at gamma 0: beta = 1, Eqs. 5-6) and it is no variant."""
    return "+" not in method and TRAITS.objective_trait(method, files.REFERENCE_CURVE)


def method_label(method: str) -> str:
    """Display name of a method (``cmi`` -> ``CMI-VAE``, ``cmi+critic_path=s`` ->
    ``CMI-VAE (critic_path=s)``): the label its runs declare (:data:`TRAITS`; a paper row's method
    no run declares: the legacy table's), else its name."""
    base, *variant = method.split("+")
    label = TRAITS.objective_trait(base, files.OBJECTIVE_LABEL) or base
    return f"{label} ({', '.join(variant)})" if variant else label
