"""Contract suite over the registries: every model x every objective, every critic's
gradient isolation, every registry's unknown-name message; and every critic family and critic
input (``objective.critic`` / ``objective.critic_input``) of the objectives that take them,
on every model where the combination is allowed (the others must be refused in one line)."""

from __future__ import annotations

import pytest

from cmivae.infra.errors import ConfigError
from cmivae.objectives.critic_inputs import CRITIC_INPUTS
from cmivae.objectives.critics import CRITIC_FAMILIES
from cmivae.registry import METRICS, MODELS, OBJECTIVES, REGISTRIES, lookup, resolve
from tests.contracts import checks
from tests.helpers import TINY_MODELS, tiny_config

PAIRS = [(m, o) for m in sorted(MODELS) for o in sorted(OBJECTIVES)]
CRITIC_PAIRS = [(m, o) for m, o in PAIRS if OBJECTIVES[o].config_class.__dataclass_fields__.get("critic_steps")]


def _objective_variants() -> list[tuple[str, dict[str, str]]]:
    """(objective, params) for each non-default critic family and critic input of the objectives
    whose config has the key, from the registries' lists."""
    variants: list[tuple[str, dict[str, str]]] = []
    for name in sorted(OBJECTIVES):
        fields = OBJECTIVES[name].config_class.__dataclass_fields__
        if "critic" in fields:
            variants += [(name, {"critic": family}) for family in CRITIC_FAMILIES if family != "paper"]
        if "critic_input" in fields:
            variants += [(name, {"critic_input": kind}) for kind in CRITIC_INPUTS if kind != "map"]
    return variants


def _allowed(model: str, objective: str, params: dict[str, str]) -> bool:
    try:
        resolve(checks.variant_config(model, objective, params))
    except ConfigError:
        return False
    return True


VARIANTS = [(m, o, p) for m in sorted(MODELS) for o, p in _objective_variants()]
ALLOWED = [v for v in VARIANTS if _allowed(*v)]
REFUSED = [v for v in VARIANTS if v not in ALLOWED]
CRITIC_VARIANTS = [v for v in ALLOWED if OBJECTIVES[v[1]].config_class.__dataclass_fields__.get("critic_steps")]


def test_every_model_has_a_tiny_config() -> None:
    assert set(TINY_MODELS) == set(MODELS)


def test_every_objective_with_a_critic_is_covered() -> None:
    from cmivae.registry import build, resolve

    for name in OBJECTIVES:
        _, objective = build(resolve(tiny_config(name)))
        assert (objective.critic is not None) == any(o == name for _, o in CRITIC_PAIRS), name


@pytest.mark.parametrize(("model", "objective"), PAIRS)
def test_forward_loss_backward(model: str, objective: str) -> None:
    checks.check_forward_loss_backward(model, objective)


@pytest.mark.parametrize(("model", "objective"), PAIRS)
def test_resolved_config_rebuilds_the_run(model: str, objective: str) -> None:
    checks.check_resolved_config_rebuilds_the_run(model, objective)


@pytest.mark.parametrize(("model", "objective"), CRITIC_PAIRS)
def test_gradient_isolation(model: str, objective: str) -> None:
    checks.check_gradient_isolation(model, objective)


@pytest.mark.parametrize(("model", "objective"), PAIRS)
def test_train_step(model: str, objective: str) -> None:
    checks.check_train_step(model, objective)


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_unknown_names_list_the_registry(kind: str) -> None:
    with pytest.raises(ConfigError) as info:
        lookup(kind, "no-such-name")
    message = str(info.value)
    assert "no-such-name" in message and "\n" not in message
    assert all(name in message for name in REGISTRIES[kind])


@pytest.mark.parametrize("model", sorted(MODELS))
def test_models_declare_modality_sampler_and_latent_shapes(model: str) -> None:
    from cmivae.modality import DATASET_MODALITY
    from cmivae.registry import SAMPLERS, build, resolve

    klass = MODELS[model]
    assert klass.modality in set(DATASET_MODALITY.values())
    assert klass.sampler is None or klass.sampler in SAMPLERS
    resolved = resolve(tiny_config(model=model))
    built_model, _ = build(resolved)
    assert klass.latent_shapes(resolved.model) == (built_model.z_dim, tuple(built_model.s_shape))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_models_keep_what_their_capabilities_promise(model: str) -> None:
    checks.check_capabilities(model)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_every_metric_needs_only_declared_capabilities_and_known_labels(metric: str) -> None:
    """METRICS is the one table of what a metric needs: capability names of the model contract,
    labels some data set of DATASETS holds, and some registered model on some data set supports it."""
    from cmivae.metric_names import Offers, why_unsupported
    from cmivae.modality import DATASET_LABELS
    from cmivae.models.capabilities import CAPABILITIES
    from cmivae.models.contract import declared_capabilities
    from cmivae.registry import DATASETS

    needs = METRICS[metric]
    assert needs.capabilities <= set(CAPABILITIES)
    assert set(DATASET_LABELS) == set(DATASETS)
    assert needs.labels <= set().union(*DATASET_LABELS.values())
    assert any(why_unsupported(metric, Offers.of(declared_capabilities(klass), data)) is None
               for klass in MODELS.values() for data in DATASETS), f"no registered run can compute {metric}"
def _variant_id(variant: tuple[str, str, dict[str, str]]) -> str:
    model, objective, params = variant
    return "-".join([model, objective, *(f"{k}={v}" for k, v in params.items())])


def test_every_critic_family_and_input_is_allowed_somewhere() -> None:
    for family in CRITIC_FAMILIES:
        assert family == "paper" or any(p.get("critic") == family for _, _, p in ALLOWED), family
    for kind in CRITIC_INPUTS:
        assert kind == "map" or any(p.get("critic_input") == kind for _, o, p in CRITIC_VARIANTS), kind
    assert ("dsae", "mws", {"critic_input": "position"}) in REFUSED  # DSAE's MWS reads every s_t's density


@pytest.mark.parametrize("variant", ALLOWED, ids=_variant_id)
def test_variant_forward_loss_backward(variant) -> None:
    checks.check_forward_loss_backward(*variant[:2], params=variant[2])


@pytest.mark.parametrize("variant", ALLOWED, ids=_variant_id)
def test_variant_resolved_config_rebuilds_the_run(variant) -> None:
    checks.check_resolved_config_rebuilds_the_run(*variant[:2], params=variant[2])


@pytest.mark.parametrize("variant", CRITIC_VARIANTS, ids=_variant_id)
def test_variant_gradient_isolation(variant) -> None:
    checks.check_gradient_isolation(*variant[:2], params=variant[2])


@pytest.mark.parametrize("variant", ALLOWED, ids=_variant_id)
def test_variant_train_step(variant) -> None:
    checks.check_train_step(*variant[:2], params=variant[2])


@pytest.mark.parametrize("variant", REFUSED, ids=_variant_id)
def test_refused_variant_says_why_in_one_line(variant) -> None:
    model, objective, params = variant
    with pytest.raises(ConfigError) as info:
        resolve(checks.variant_config(model, objective, params))
    message = str(info.value)
    assert "\n" not in message and any(str(value) in message for value in params.values())
