"""The resource budget (issue 31, item 20): the memory of a config estimated from its resolved
config before anything is built (:mod:`cmivae.budget`), and what exceeds the machine refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from cmivae.budget import GIB, Footprint, check_budget, estimate, states_footprint
from cmivae.cli.main import main
from cmivae.infra.errors import ConfigError
from cmivae.registry import MODELS, build, load_resolved
from tests.helpers import TINY_MODELS

PRESETS = ("pixelcnn-paper", "pixelcnn-cpu", "dsae-paper", "dsae-cpu", "dsae-sprites-cpu")


def _variants() -> list[list[str]]:
    """Every objective of the registry, and for each critic family every critic input."""
    from cmivae.objectives.critic_inputs import CRITIC_INPUTS
    from cmivae.objectives.critics import CRITIC_FAMILIES
    from cmivae.registry import OBJECTIVES

    variants = [[f"objective.name={name}"] for name in OBJECTIVES]
    variants += [["objective.name=cmi", f"objective.critic={family}", f"objective.critic_input={view}"]
                 for family in CRITIC_FAMILIES for view in CRITIC_INPUTS]
    return variants


@pytest.mark.parametrize("preset", PRESETS)
def test_each_family_states_its_exact_parameter_count_without_building(preset: str) -> None:
    """The oracle: the models and critics built from the same config hold exactly the counted parameters."""
    checked = 0
    for overrides in [*_variants(), ["model.block=residual"] if preset.startswith("pixelcnn") else []]:
        try:
            resolved = load_resolved(preset, overrides)
        except ConfigError:
            continue  # a combination the objective refuses for this model (e.g. critic_input=patch on a DSAE)
        counted = estimate(resolved, MODELS[resolved.config.model.name])
        model, objective = build(resolved)
        assert counted.model.parameters == sum(p.numel() for p in model.parameters()), overrides
        critic = 0 if objective.critic is None else sum(p.numel() for p in objective.critic.parameters())
        assert counted.critic.parameters == critic, overrides
        assert counted.model.activations > 0 and counted.bytes > 16 * counted.parameters
        checked += 1
    assert checked >= 8


def _built(model_class: Any, config: Any) -> torch.nn.Module:
    """The model of ``config``, on the meta device (no memory: the video DSAE's paper size holds 1.9e8
    parameters) where the family's constructor allows it; the PixelCNN's masked convolutions read their
    mask's values, so it is built on the CPU."""
    try:
        with torch.device("meta"):
            return model_class(config)
    except (RuntimeError, NotImplementedError):
        return model_class(config)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_family_states_its_footprint(name: str) -> None:
    """Every registered model family states ``footprint``/``input_shape_of`` (a family without them would
    never be checked by the budget): the exact parameters of the built model and its input shape, at the
    family's defaults (the paper's sizes) and at the tests' tiny settings, and activations that grow with
    the input."""
    model_class = MODELS[name]
    assert states_footprint(model_class), f"model {name!r} states no footprint: cmivae.budget cannot check its configs"
    tiny = {key: value for key, value in TINY_MODELS[name].items() if key != "name"}
    for config in (model_class.config_class(), model_class.config_class(**tiny)):
        model = _built(model_class, config)
        counted = model_class.footprint(config)
        assert counted.parameters == sum(p.numel() for p in model.parameters()), config
        assert tuple(model_class.input_shape_of(config)) == tuple(model.input_shape)
        assert counted.activations > math.prod(model.input_shape) > 0
    longer = model_class.config_class(**{**tiny, "num_steps": 2 * config.num_steps}) \
        if hasattr(config, "num_steps") else None
    if longer is not None:  # a sequence model keeps more for longer sequences, with the same parameters
        assert model_class.footprint(longer).activations > counted.activations
        assert model_class.footprint(longer).parameters == counted.parameters


@pytest.mark.parametrize("override", ["model.frame_features=[100000000]", "model.conv_channels=[32, 64, 100000]",
                                      "train.batch_size=100000"])
def test_train_refuses_a_video_config_that_exceeds_the_machine(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               override: str) -> None:
    """The video DSAE is checked as the other families (it stated no footprint and was never checked)."""
    out = tmp_path / "run"
    assert main(["train", "dsae-sprites-cpu", "--set", override, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this config needs ~") and err.count("\n") == 1, err
    assert not out.exists()


def test_the_estimate_grows_with_the_batch_and_refuses_past_the_limit() -> None:
    resolved = load_resolved("pixelcnn-cpu", ["train.batch_size=32"])
    bigger = load_resolved("pixelcnn-cpu", ["train.batch_size=64"])
    pixelcnn = MODELS["pixelcnn_vae"]
    assert estimate(bigger, pixelcnn).bytes > estimate(resolved, pixelcnn).bytes
    needed = estimate(resolved, pixelcnn).bytes
    assert check_budget(resolved, pixelcnn, available=(needed + 1, "a test machine")).bytes == needed
    with pytest.raises(ConfigError, match=r"needs ~.* GiB .* more than a test machine \(.* GiB\)"):
        check_budget(resolved, pixelcnn, available=(needed - 1, "a test machine"))
    assert Footprint(1, 2) + Footprint(3, 4) == Footprint(4, 6)


@pytest.mark.parametrize("override", [
    "model.z_dim=1000000", "model.channels=100000000000", "objective.critic_hidden_dim=10000000",
    "model.encoder_hidden=100000000000", "model.z_channels=100000000", "model.encoder_channels=[32, 100000000000]",
    "model.image_shape=[1, 100000, 100000]",
])
def test_train_refuses_what_exceeds_the_machine_before_creating_anything(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                         override: str) -> None:
    out = tmp_path / "run"
    assert main(["train", "pixelcnn-cpu", "--set", "objective.name=cmi", "--set", override, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this config needs ~") and err.count("\n") == 1, err
    assert "GiB" in err and ("machine's memory" in err or "cgroup" in err), err
    assert not out.exists()


def test_train_max_memory_gb_is_a_limit_of_its_own(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["train", "pixelcnn-cpu", "--set", "train.max_memory_gb=0.01", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "more than train.max_memory_gb=0.01 (0.01 GiB)" in err and not out.exists()
    assert load_resolved("pixelcnn-cpu", ["train.max_memory_gb=0.5"]).config.train.max_memory_gb == 0.5
    with pytest.raises(ConfigError, match="train.max_memory_gb must be a positive number"):
        load_resolved("pixelcnn-cpu", ["train.max_memory_gb=-1"])
    assert check_budget(load_resolved("pixelcnn-cpu", ["train.max_memory_gb=64"]), MODELS["pixelcnn_vae"],
                        (64 * GIB, "m")).bytes > 0


@pytest.mark.parametrize("override, message", [
    ("model.kernel_sizes=[1001, 3, 3]", "wider than the image"),
    ("model.kernel_sizes=[3, 57, 3]", "wider than the image"),
    ("objective.critic_steps=1000000000", "objective.critic_steps must be an integer from 1 to 100"),
    ("objective.critic_steps=101", "objective.critic_steps must be an integer from 1 to 100"),
])
def test_bounds_on_kernel_sizes_and_critic_steps(capsys: pytest.CaptureFixture, override: str, message: str) -> None:
    overrides = ["objective.name=cmi", "model.inject_after=1", override]
    assert main(["show-config", "pixelcnn-cpu", *[a for o in overrides for a in ("--set", o)]]) == 2
    assert message in capsys.readouterr().err
    load_resolved("pixelcnn-cpu", ["model.kernel_sizes=[3, 27, 3]", "model.inject_after=1",
                                   "objective.critic_steps=100"])  # the bounds themselves are accepted
