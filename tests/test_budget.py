"""The resource budget (issue 31, item 20): the memory of a config estimated from its resolved
config before anything is built (:mod:`cmivae.budget`), and what exceeds the machine refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from cmivae.budget import GIB, Estimate, Footprint, check_budget, estimate, lstm_activations, states_footprint
from cmivae.cli.main import main
from cmivae.infra import precision as precision_module
from cmivae.infra.errors import ConfigError
from cmivae.infra.precision import autocast, run_lstm
from cmivae.registry import MODELS, build, load_resolved, resolve
from tests.helpers import TINY_MODELS, tiny_batch, tiny_config

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


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
@pytest.mark.parametrize("override", ["model.frame_features=[100000000]", "model.conv_channels=[32, 64, 100000]",
                                      "train.batch_size=100000"])
def test_train_refuses_a_video_config_that_exceeds_the_machine(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               override: str, precision: str) -> None:
    """The video DSAE is checked as the other families (it stated no footprint and was never checked), in
    either precision (bf16 lowers the estimate, not below what the machine cannot hold)."""
    out = tmp_path / "run"
    assert main(["train", "dsae-sprites-cpu", "--set", override, "--set", f"train.precision={precision}",
                 "--out", str(out)]) == 2
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


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
@pytest.mark.parametrize("override", [
    "model.z_dim=1000000", "model.channels=100000000000", "objective.critic_hidden_dim=10000000",
    "model.encoder_hidden=100000000000", "model.z_channels=100000000", "model.encoder_channels=[32, 100000000000]",
    "model.image_shape=[1, 100000, 100000]",
])
def test_train_refuses_what_exceeds_the_machine_before_creating_anything(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                         override: str, precision: str) -> None:
    out = tmp_path / "run"
    assert main(["train", "pixelcnn-cpu", "--set", "objective.name=cmi", "--set", override, "--set",
                 f"train.precision={precision}", "--out", str(out)]) == 2
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


def _saved_for_backward(resolved: Any, batch_size: int, precision: str) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass of one training loss (model and
    objective, critic included) on a CPU batch, in ``precision``; parameters excluded."""
    torch.manual_seed(0)
    model, objective = build(resolved)
    x = tiny_batch(model, batch_size)
    parameters = {p.untyped_storage().data_ptr() for p in (*model.parameters(), *objective.parameters())}
    kept: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), \
            autocast(torch.device("cpu"), precision):
        objective.loss(model(x), x)
    return sum(kept.values())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_family_states_what_it_keeps_for_backward_in_each_precision(name: str) -> None:
    """The oracle: autograd's saved tensors, per example (the difference of two batch sizes, so that the
    16-bit weight copies of autocast drop out). A family's footprint in a precision is at least 0.9x what
    a real loss keeps in it (bytes per example), and bf16 keeps less than fp32 in both the footprint and
    the measurement."""
    resolved = resolve(tiny_config("cmi", model=name))
    counted = estimate(resolved, MODELS[name], "fp32")
    footprint = counted.model + counted.critic
    measured = {precision: (_saved_for_backward(resolved, 24, precision)
                            - _saved_for_backward(resolved, 8, precision)) / 16 for precision in ("fp32", "bf16")}
    for precision, per_example in measured.items():
        assert footprint.activation_bytes(precision) >= 0.9 * per_example, (precision, per_example)
    assert measured["bf16"] < measured["fp32"]
    assert footprint.activation_bytes("bf16") < footprint.activation_bytes("fp32")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_estimate_follows_the_resolved_precision(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each family's estimate is lower in bf16 (and fp16) than in fp32 (and tf32), by at most half of the
    activations, and ``auto`` is what :func:`cmivae.infra.precision.resolve_precision` makes of it."""
    model_class = MODELS[name]
    tiny = {key: value for key, value in TINY_MODELS[name].items() if key != "name"}
    for config in (model_class.config_class(), model_class.config_class(**tiny)):
        footprint = model_class.footprint(config)
        assert 0 < footprint.full_precision < footprint.activations, config  # some fp32, most 16-bit
        bytes_in = {precision: Estimate(footprint, Footprint(), 64, precision).bytes
                    for precision in ("bf16", "fp16", "tf32", "fp32")}
        assert bytes_in["bf16"] == bytes_in["fp16"] < bytes_in["fp32"] == bytes_in["tf32"], bytes_in
        halved = Estimate(Footprint(footprint.parameters, footprint.activations), Footprint(), 64, "bf16")
        assert bytes_in["bf16"] > halved.bytes  # the fp32 part is not halved
    resolved = resolve(tiny_config("cmi", model=name, precision="auto", device="cpu"))
    for native, expected in ((True, "bf16"), (False, "fp32")):  # a CPU with and without native bf16
        monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda native=native: native)
        assert estimate(resolved, model_class).precision == expected
        assert estimate(resolved, model_class).bytes == estimate(resolved, model_class, expected).bytes


def test_the_paper_video_preset_fits_24_gib_in_bf16_not_in_fp32() -> None:
    """``dsae-sprites-paper`` at its own batch 64 on a 24 GiB CPU machine (23.5 GiB available) was refused
    (24.4 GiB estimated in fp32) though it fits in bf16; fp32 is still refused there, its line saying that
    bf16 would fit (and not where it would not)."""
    machine = (int(23.5 * GIB), "a 24 GiB machine")
    resolved = {p: load_resolved("dsae-sprites-paper", [f"train.precision={p}", "train.device=cpu"])
                for p in ("bf16", "fp32")}
    video = MODELS["video_dsae"]
    assert check_budget(resolved["bf16"], video, available=machine).bytes < 16 * GIB
    with pytest.raises(ConfigError, match=r"in fp32\), more than a 24 GiB machine .* or set train\.precision=bf16 "
                                          r"\(~1\d\.\d GiB\)$"):
        check_budget(resolved["fp32"], video, available=machine)
    with pytest.raises(ConfigError, match=r"train\.batch_size \(`cmivae show-config` prints them\)$"):  # no hint
        check_budget(resolved["fp32"], video, available=(8 * GIB, "an 8 GiB machine"))  # bf16 does not fit either


@pytest.mark.parametrize("n_in, hidden, directions", [(20, 8, 2), (8, 8, 1), (8, 100, 1), (201, 64, 2)])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_lstm_activations_cover_what_an_lstm_keeps(n_in: int, hidden: int, directions: int, precision: str) -> None:
    """``lstm_activations`` (fp32 values) against the bytes one frame of ``nn.LSTM`` keeps for backward (its
    workspace, input and output), measured over 2 batch sizes (the 16-bit weight copies drop out)."""
    lstm = torch.nn.LSTM(n_in, hidden, batch_first=True, bidirectional=directions == 2)
    kept: dict[int, dict[int, int]] = {4: {}, 12: {}}  # batch size -> storage -> bytes
    for batch, storages in kept.items():
        def pack(tensor: torch.Tensor, storages: dict[int, int] = storages) -> torch.Tensor:
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        x = torch.randn(batch, 10, n_in, requires_grad=True)  # (B, T, F)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), \
                autocast(torch.device("cpu"), precision):
            run_lstm(lstm, x)
    per_frame = (sum(kept[12].values()) - sum(kept[4].values())) / (8 * 10)
    assert 0 < per_frame <= 4 * lstm_activations(n_in, hidden, directions)
