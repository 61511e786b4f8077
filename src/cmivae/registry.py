"""Every name -> class lookup of ``cmivae``, and the resolution of a config against them.

- :data:`MODELS`: ``model.name`` -> model class (:class:`cmivae.models.contract.VAEModel`).
- :data:`OBJECTIVES`: ``objective.name`` -> objective class (its ``config_class`` holds its params).
- :data:`DATASETS`: ``data.name`` -> loader (:mod:`cmivae.data.registry`); modality from
  :data:`cmivae.modality.DATASET_MODALITY`.
- :data:`SAMPLERS`: sampler name -> function (:mod:`cmivae.sampling`).
- :data:`METRICS`: metric name of ``cmivae evaluate`` -> what it needs of a run (model capabilities,
  data set labels: :data:`cmivae.metric_names.METRIC_NEEDS`).

:func:`resolve` checks a config's model and objective names and params (unknown names and
keys list the valid choices, values are type- and range-checked by :mod:`cmivae.fields`)
and that the model fits the data set's modality, and returns the *resolved* configs with
every default filled in. Nothing else in the package looks a name up; adding a model or
an objective is one class plus one line here (``tests/contracts/`` then covers it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from cmivae.config import ExperimentConfig, ModelConfig, ObjectiveConfig, load_config
from cmivae.data.registry import DATASETS
from cmivae.fields import check_value, coerce_numbers, field_types, reject_unknown_keys
from cmivae.infra.errors import ConfigError
from cmivae.metric_names import METRIC_NEEDS, Needs
from cmivae.modality import DATASET_MODALITY
from cmivae.models.dsae import DSAE
from cmivae.models.pixelcnn_vae import PixelCNNVAE
from cmivae.models.video_dsae import VideoDSAE
from cmivae.objectives.adversarial_cmi import AdversarialCMI
from cmivae.objectives.adversarial_mi import AdversarialMI
from cmivae.objectives.base import Objective
from cmivae.objectives.beta_vae import ELBO, BetaVAE
from cmivae.objectives.kernel_mmd import KernelMMD
from cmivae.objectives.mws import MinibatchWeightedMI
from cmivae.sampling.samplers import SAMPLERS

MODELS: dict[str, type[nn.Module]] = {
    "pixelcnn_vae": PixelCNNVAE,
    "dsae": DSAE,
    "video_dsae": VideoDSAE,
}

OBJECTIVES: dict[str, type[Objective]] = {
    "elbo": ELBO,
    "beta": BetaVAE,
    "mi": AdversarialMI,
    "cmi": AdversarialCMI,
    "mmd": KernelMMD,
    "mws": MinibatchWeightedMI,
}

METRICS: dict[str, Needs] = METRIC_NEEDS

# Objective keys that change what a run measures: a non-default value on an objective that does
# not use it is refused (``critic_path=s`` on beta-VAE), where other unused shared keys
# (``critic_lr``, ``kernel_scale``) are ignored, as a sweep over objectives sets them for all.
REFUSED_WHEN_UNUSED = ("critic_path", "critic", "critic_input", "critic_patch")

REGISTRIES: dict[str, dict[str, Any]] = {"model": MODELS, "objective": OBJECTIVES, "data set": DATASETS,
                                         "sampler": SAMPLERS, "metric": METRICS}

if set(DATASETS) != set(DATASET_MODALITY):  # pragma: no cover - a packaging error, caught by tests
    raise RuntimeError(f"data set loaders {sorted(DATASETS)} and modalities {sorted(DATASET_MODALITY)} disagree")


def lookup(kind: str, name: Any) -> Any:
    """``REGISTRIES[kind][name]``; an unknown name is a :class:`ConfigError` listing the known ones."""
    registry = REGISTRIES[kind]
    if not isinstance(name, str) or name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(registry))}")
    return registry[name]


def _build_params(klass: type, params: dict[str, Any], section: str, owner: str) -> Any:
    """Check ``params`` against the dataclass ``klass`` (keys, types, ranges) and build it."""
    reject_unknown_keys(params, klass, section, owner)
    values = coerce_numbers(klass, params, section)
    types = field_types(klass)
    for key, value in values.items():
        check_value(value, types[key], f"{section}.{key}")
    try:
        return klass(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {owner} config: {err}") from err


def model_config(name: str, params: dict[str, Any]) -> Any:
    """Model ``name``'s config dataclass built from ``params`` (every default filled in)."""
    return _build_params(lookup("model", name).config_class, params, "model", f"model {name!r}")


def objective_config(name: str, params: dict[str, Any], z_dim: int | None = None,
                     s_shape: tuple[int, ...] | None = None) -> Any:
    """Objective ``name``'s config dataclass built from ``params``.

    A key that this objective does not use but another registered objective does is ignored
    (a sweep over objectives sets ``objective.critic_lr`` for beta-VAE runs too), checked as
    its owner checks it, except :data:`REFUSED_WHEN_UNUSED` keys at a non-default value; any
    other unknown key is an error. With the model's ``z_dim`` and ``s_shape``, defaults that
    depend on them are filled in (``complete``).
    """
    klass = lookup("objective", name).config_class
    own = {f.name for f in dataclasses.fields(klass)}
    fields_of = {n: {f.name: f for f in dataclasses.fields(k.config_class)} for n, k in OBJECTIVES.items()}
    used = {k: v for k, v in params.items() if k in own or not any(k in f for f in fields_of.values())}
    ignored = {k: v for k, v in params.items() if k not in used}
    for key, value in ignored.items():
        owners = sorted(n for n, f in fields_of.items() if key in f)
        if key in REFUSED_WHEN_UNUSED and value != fields_of[owners[0]][key].default:
            named = " and ".join([", ".join(owners[:-1]), owners[-1]] if len(owners) > 1 else owners)
            raise ConfigError(f"objective.{key}={value} applies to the {named} objective"
                              f"{'s' if len(owners) > 1 else ''} only, not {name!r}; drop it or set "
                              f"objective.name={owners[0] if owners else '...'}")
        if owners:  # unused here, but still well-formed (checked as its owner checks it)
            _build_params(OBJECTIVES[owners[0]].config_class, {key: value}, "objective", f"objective {name!r}")
    config = _build_params(klass, used, "objective", f"objective {name!r}")
    if z_dim is not None and s_shape is not None:
        config.complete(z_dim, tuple(s_shape))
    return config


@dataclass
class Resolved:
    """A config checked against the registries, with the resolved model and objective
    configs (every default filled in; ``config.json["resolved"]``)."""

    config: ExperimentConfig
    model: Any  # the model's config dataclass
    objective: Any  # the objective's config dataclass

    def to_dict(self) -> dict[str, Any]:
        return {"model": {"name": self.config.model.name, **dataclasses.asdict(self.model)},
                "objective": {"name": self.config.objective.name, **dataclasses.asdict(self.objective)}}


def latent_shapes(model_name: str, config: Any) -> tuple[int, tuple[int, ...]]:
    """``(z_dim, s_shape)`` of model ``model_name`` built from ``config``, without building it."""
    model_class = lookup("model", model_name)
    return model_class.latent_shapes(config)


def resolve(config: ExperimentConfig) -> Resolved:
    """Check ``config`` against the registries and fill every default.

    Returns new objects (``config`` is left as it was): the resolved configs and a copy of
    ``config`` whose model and objective params hold the checked numbers (``"1e-3"`` -> ``0.001``,
    ``2`` -> ``2.0`` for a float field), so the run id hashes what the run uses. Call it once
    per command and pass the :class:`Resolved` on.

    Raises:
        ConfigError: unknown model / objective / data set, unknown or invalid params, or a
            model that does not fit the data set (``dsae`` on ``mnist``).
    """
    model_class = lookup("model", config.model.name)
    lookup("objective", config.objective.name)
    lookup("data set", config.data.name)
    model = model_config(config.model.name, config.model.params)
    wanted = DATASET_MODALITY[config.data.name]
    if model_class.modality != wanted:
        fitting = sorted(name for name, klass in MODELS.items() if klass.modality == wanted)
        raise ConfigError(f"model {config.model.name!r} is for {model_class.modality} data but data set "
                          f"{config.data.name!r} holds {wanted} data; use --set model.name={fitting[0]} (models for "
                          f"{wanted}: {', '.join(fitting)}) with its params (e.g. a preset for {wanted} data), or a "
                          f"{model_class.modality} data set")
    z_dim, s_shape = model_class.latent_shapes(model)
    objective = objective_config(config.objective.name, config.objective.params, z_dim, s_shape)
    klass = OBJECTIVES[config.objective.name].config_class
    own = {f.name for f in dataclasses.fields(klass)}
    checked = coerce_numbers(klass, {k: v for k, v in config.objective.params.items() if k in own}, "objective")
    checked_config = dataclasses.replace(
        config,
        model=ModelConfig(config.model.name, coerce_numbers(model_class.config_class, config.model.params, "model")),
        objective=ObjectiveConfig(config.objective.name,
                                  {k: checked.get(k, v) for k, v in config.objective.params.items()}))
    return Resolved(checked_config, model, objective)


def load_resolved(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Resolved:
    """:func:`cmivae.config.load_config` plus :func:`resolve`: a config checked completely."""
    return resolve(load_config(source, overrides))


def build_model(name: str, params: dict[str, Any]) -> nn.Module:
    """Create model ``name`` from its params (see :func:`model_config`)."""
    return MODELS[name](model_config(name, params)) if name in MODELS else lookup("model", name)


def build_objective(name: str, model: nn.Module, gamma: float = 0.0, alpha: float = 1.0,
                    **params: Any) -> Objective:
    """Create objective ``name`` for ``model`` from its params (see :func:`objective_config`);
    a param left out takes the objective's default (the paper's critic width, ...)."""
    config = objective_config(name, {"gamma": gamma, "alpha": alpha,
                                     **{k: v for k, v in params.items() if v is not None}},
                              model.z_dim, tuple(model.s_shape))
    return OBJECTIVES[name].from_config(config, model)


def build(resolved: Resolved) -> tuple[nn.Module, Objective]:
    """The model and objective of a resolved config (fresh weights, on the CPU)."""
    model = MODELS[resolved.config.model.name](resolved.model)
    return model, OBJECTIVES[resolved.config.objective.name].from_config(resolved.objective, model)


__all__ = ["DATASETS", "METRICS", "MODELS", "OBJECTIVES", "REGISTRIES", "SAMPLERS", "Resolved", "build",
           "build_model", "build_objective", "latent_shapes", "load_resolved", "lookup", "model_config",
           "objective_config", "resolve"]
