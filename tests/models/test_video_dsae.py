"""The video DSAE (paper Eq. 2 with convolutional frames; models/video_dsae.py) on tiny configs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as dist

from cmivae.data.video.frames import to_unit_float
from cmivae.infra.device import batch_to_device
from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, PRIOR_S
from cmivae.models.video_dsae import FixedStdNormal, OutputConv, VideoDSAE, VideoDSAEConfig, flatten_maps
from cmivae.objectives.terms import kl_s, kl_z, reconstruction

B, T, C, H, D, D_S = 3, 8, 3, 16, 4, 3


def tiny_config(**overrides: object) -> VideoDSAEConfig:
    params = dict(frame_size=H, num_steps=T, z_dim=D, s_dim=D_S, conv_channels=(4, 8, 8), kernel_size=3,
                  frame_features=(16,), hidden_dim=8, rnn_dim=8, prior_dim=8)
    params.update(overrides)
    return VideoDSAEConfig(**params)


@pytest.fixture
def model() -> VideoDSAE:
    torch.manual_seed(0)
    return VideoDSAE(tiny_config())


@pytest.fixture
def frames() -> torch.Tensor:
    return torch.randint(0, 256, (B, T, C, H, H), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_output_shapes_and_distributions(model: VideoDSAE, frames: torch.Tensor) -> None:
    out = model(frames)
    assert out.z.shape == (B, D) and out.s.shape == (B, T, D_S) and out.s_mean.shape == (B, T, D_S)
    for distribution, event in [(out.posterior_z, (D,)), (out.prior_z, (D,)), (out.posterior_s, (T, D_S)),
                                (out.prior_s, (T, D_S)), (out.likelihood, (T, C, H, H))]:
        assert isinstance(distribution, dist.Independent)
        assert distribution.batch_shape == (B,) and distribution.event_shape == event
    mean = out.likelihood.mean.detach()
    assert mean.shape == (B, T, C, H, H) and mean.dtype == torch.float32
    assert 0.0 <= float(mean.min()) and float(mean.max()) <= 1.0
    assert kl_z(out).shape == (B,) and kl_s(out).shape == (B,) and bool((kl_s(out) >= 0).all())
    assert model.modality == "video" and model.capabilities == frozenset({LOCAL_SEQUENCE, DECODE, PRIOR_S})
    assert model.input_shape == (T, C, H, H) and model.z_dim == D and model.s_shape == (T, D_S)


def test_gaussian_recon_is_the_scaled_squared_error(model: VideoDSAE, frames: torch.Tensor) -> None:
    """-log N(x; mean, sigma^2) summed over pixels = SSE / (2 sigma^2) + N log(sigma sqrt(2 pi))."""
    out = model(frames)
    x = to_unit_float(frames)
    pixels = T * C * H * H
    sigma = model.config.pixel_std
    sse = ((x - out.likelihood.mean) ** 2).sum(dim=(1, 2, 3, 4))  # (B,)
    expected = sse / (2 * sigma**2) + pixels * math.log(sigma * math.sqrt(2 * math.pi))
    torch.testing.assert_close(reconstruction(out, frames), expected, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_uint8_and_unit_float_input_give_the_same_loss(likelihood: str, frames: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = VideoDSAE(tiny_config(likelihood=likelihood))
    losses = []
    for x in (frames, frames.float() / 256):
        torch.manual_seed(2)
        out = model(x)
        losses.append(reconstruction(out, x) + kl_z(out) + kl_s(out))
    torch.testing.assert_close(losses[0], losses[1])


def test_encode_is_deterministic_and_matches_encode_z(model: VideoDSAE, frames: torch.Tensor) -> None:
    with torch.no_grad():
        first, second = model.encode(frames), model.encode(frames)
        assert first.z.shape == (B, D) and first.s.shape == (B, T, D_S)
        assert torch.equal(first.z, second.z) and torch.equal(first.s, second.s)
        assert torch.allclose(model.encode_z(frames), first.z)


def test_decode_swaps_and_prior_samples(model: VideoDSAE, frames: torch.Tensor) -> None:
    with torch.no_grad():
        means = model.encode(frames)
        swapped = model.decode(means.z, means.s.flip(0))  # z of sequence b with the dynamics of B - 1 - b
        assert swapped.shape == (B, T, C, H, H) and 0.0 <= float(swapped.min()) and float(swapped.max()) <= 1.0
        s = model.sample_prior_s(B, torch.device("cpu"))
        assert s.shape == (B, T, D_S) and model.decode(means.z, s).shape == (B, T, C, H, H)
        assert model.sample_prior_s(2, torch.device("cpu"), num_steps=3).shape == (2, 3, D_S)
    with pytest.raises(ValueError, match=r"decode expects z \(B, 4\)"):
        model.decode(means.z[:, :2], means.s)


def test_prior_samples_follow_the_learned_transition(model: VideoDSAE) -> None:
    """Ancestral draws of p(s_t | s_{<t}): standardized by the prior evaluated along themselves
    (what KL(s) uses), every step is N(0, 1), so the sampler and forward() agree on the recurrence."""
    with torch.no_grad():
        for p in model.transition_prior.parameters():
            p.add_(0.3 * torch.randn_like(p))  # a prior whose steps differ (an untrained one is near-flat)
        torch.manual_seed(3)
        s = model.sample_prior_s(4000, torch.device("cpu"))  # (N, T, D_s)
        mean, logvar = model.transition_prior(s)  # (N, T, D_s) each
        standardized = (s - mean) / (0.5 * logvar).exp()
    assert float(mean.std(dim=0).max()) > 0.05  # the conditional means really depend on s_{<t}
    assert float(standardized.mean(dim=0).abs().max()) < 0.1
    assert float((standardized.std(dim=0) - 1).abs().max()) < 0.1


def plain_and_channels_last() -> tuple[VideoDSAE, VideoDSAE]:
    """Two tiny models with the same parameters, the second's convolutions converted to channels_last."""
    torch.manual_seed(0)
    plain = VideoDSAE(tiny_config())
    fast = VideoDSAE(tiny_config())
    fast.load_state_dict(plain.state_dict())
    fast.channels_last_module().to(memory_format=torch.channels_last)
    return plain, fast


def test_channels_last_gives_the_same_output(frames: torch.Tensor) -> None:
    plain, fast = plain_and_channels_last()
    assert fast.frame_encoder.convs[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert set(fast.state_dict()) == set(plain.state_dict())  # the container is no sub-module
    with torch.no_grad():
        a, b = plain.encode(frames), fast.encode(frames)
        torch.testing.assert_close(a.s, b.s)
        torch.testing.assert_close(plain.decode(a.z, a.s), fast.decode(a.z, a.s))


@pytest.mark.parametrize("std", [0.1, 1 / math.sqrt(2), 3.0])
def test_fixed_std_normal_is_the_normal_with_that_std(std: float) -> None:
    logits = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    value = torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(1))
    loc_a, loc_b = torch.sigmoid(logits).requires_grad_(), torch.sigmoid(logits).requires_grad_()
    reference = dist.Normal(loc_a, torch.full_like(loc_a, std))
    fixed = FixedStdNormal(loc_b, std)
    torch.testing.assert_close(fixed.log_prob(value), reference.log_prob(value), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fixed.stddev, reference.stddev)
    torch.testing.assert_close(fixed.mean, reference.mean)
    reference.log_prob(value).sum().backward()
    fixed.log_prob(value).sum().backward()
    torch.testing.assert_close(loc_b.grad, loc_a.grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("channels_last", [False, True])
def test_output_conv_is_the_convolution(kernel_size: int, channels_last: bool,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    transposes = []  # the conv-transpose path runs on channels_last maps only (measured faster there)
    conv_transpose2d = torch.nn.functional.conv_transpose2d

    def counted(*args: object, **kwargs: object) -> torch.Tensor:
        transposes.append(1)
        return conv_transpose2d(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "conv_transpose2d", counted)
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(6, 3, kernel_size, padding=kernel_size // 2)
    fast = OutputConv(6, 3, kernel_size, padding=kernel_size // 2)
    fast.load_state_dict(plain.state_dict())  # the same parameters and keys
    layout = torch.channels_last if channels_last else torch.contiguous_format
    for module in (plain, fast):
        module.to(memory_format=layout)
    maps = torch.randn(4, 6, 8, 8, generator=torch.Generator().manual_seed(1)).contiguous(memory_format=layout)
    a, b = maps.clone().requires_grad_(), maps.clone().requires_grad_()
    out_a, out_b = plain(a), fast(b)
    torch.testing.assert_close(out_b, out_a, rtol=1e-5, atol=1e-5)
    assert len(transposes) == (1 if channels_last else 0)
    grad = torch.randn(out_a.shape, generator=torch.Generator().manual_seed(2))
    out_a.backward(grad)
    out_b.backward(grad)
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(fast.bias.grad, plain.bias.grad, rtol=1e-5, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the training step's precision: within bf16 rounding
        torch.testing.assert_close(fast(maps).float(), plain(maps).float(), rtol=2e-2, atol=2e-2)


def test_flatten_maps_is_flatten_with_the_gradient_in_the_maps_layout() -> None:
    maps = torch.randn(5, 6, 3, 4, generator=torch.Generator().manual_seed(0))  # (N, K, H, W)
    weights = torch.randn(5, 6 * 3 * 4, generator=torch.Generator().manual_seed(1))  # (N, K H W)
    plain = maps.clone().requires_grad_()
    fast = maps.contiguous(memory_format=torch.channels_last).requires_grad_()
    (flatten_maps(plain) * weights).sum().backward()
    out = flatten_maps(fast)
    torch.testing.assert_close(out, plain.flatten(1), rtol=0, atol=0)  # NCHW order whatever the layout
    (out * weights).sum().backward()
    torch.testing.assert_close(fast.grad, plain.grad, rtol=0, atol=0)
    assert not fast.grad.is_contiguous() and fast.grad.is_contiguous(memory_format=torch.channels_last)
    assert plain.grad.is_contiguous()


def test_channels_last_gives_the_same_gradients(frames: torch.Tensor) -> None:
    plain, fast = plain_and_channels_last()
    for model in (plain, fast):
        torch.manual_seed(2)  # the same posterior noise
        reconstruction(model(frames), frames).sum().backward()
    compared = set()
    for (name, a), b in zip(plain.named_parameters(), fast.parameters(), strict=True):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is None:  # not on the reconstruction's path (the prior of s)
            continue
        compared.add(name)
        scale = float(a.grad.abs().max())  # fp32 sums in another order: relative to the largest gradient
        assert float((b.grad - a.grad).abs().max()) <= 1e-4 * scale, name
    conv_types = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    convs = {f"{name}.weight" for name, m in plain.named_modules() if isinstance(m, conv_types)}
    assert len(convs) == 6 and convs <= compared  # every convolution and conv-transpose


def test_video_batches_stay_uint8_on_the_device(frames: torch.Tensor) -> None:
    moved = batch_to_device(frames, torch.device("cpu"), channels_last=True)
    assert moved.dtype == torch.uint8 and moved.shape == frames.shape
    images = batch_to_device(torch.ones(2, 1, 4, 4, dtype=torch.uint8), torch.device("cpu"), channels_last=False)
    assert images.dtype == torch.float32


def test_wrong_frames_and_configs_are_clear_errors(model: VideoDSAE) -> None:
    with pytest.raises(ValueError, match=r"frames of shape \(B, T, 3, 16, 16\).*model.frame_size"):
        model(torch.zeros(2, T, C, 32, 32))
    with pytest.raises(ValueError, match="divisible by 2\\^\\(len\\(conv_channels\\) - 1\\) = 4"):
        tiny_config(frame_size=18)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        tiny_config(kernel_size=4)
    with pytest.raises(ValueError, match="pixel_std must be a positive number"):
        tiny_config(pixel_std=0.0)


def test_paper_sizes_build() -> None:
    """The defaults (dsae-sprites-paper): 64x64 frames to 8x8x256 maps, 2048 frame features."""
    config = VideoDSAEConfig()
    assert (config.final_size, config.frame_features[-1], config.z_dim, config.s_dim) == (8, 2048, 256, 32)
    model = VideoDSAE(tiny_config(frame_size=64, conv_channels=(2, 2, 2, 2), frame_features=(8,)))
    assert model(torch.zeros(1, 2, C, 64, 64, dtype=torch.uint8)).likelihood.mean.shape == (1, 2, C, 64, 64)


@pytest.mark.parametrize("critic", ["paper", "mlp"])
@pytest.mark.parametrize("critic_path", ["both", "z", "s"])
def test_every_cmi_critic_and_critic_path_trains_it(critic: str, critic_path: str) -> None:
    """CMI-VAE (Eq. 14) with each critic and gradient path: one training step (critic updates, then the VAE's)."""
    from cmivae.training import loop
    from tests.helpers import tiny_batch, tiny_config

    config = tiny_config("cmi", model="video_dsae")
    config.objective.params.update(critic=critic, critic_path=critic_path)
    trainer = loop.build_trainer(config)
    x = trainer.to_device(tiny_batch(trainer.model))
    assert x.dtype == torch.uint8
    before = [p.detach().clone() for p in trainer.model.parameters()]
    logged, problem = loop.train_step(trainer, x, step=0)
    assert problem is None and math.isfinite(logged["critic_loss"]) and logged["kl_s"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))


def _tiny_sprites(data_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cmivae data make-sprites`` files of 6 training and 2 test characters (random frames) under ``data_dir``."""
    import numpy as np

    from cmivae.data.video import sprites, sprites_sheets

    split = sprites.split_characters()
    rng = np.random.default_rng(0)

    def arrays(characters: np.ndarray) -> dict[str, np.ndarray]:
        n = len(characters) * 9
        return {"frames": rng.integers(0, 256, size=(n, 8, 64, 64, 3), dtype=np.uint8),
                "attributes": sprites_sheets.character_attributes(np.repeat(characters, 9)),
                "action": np.tile(np.arange(9, dtype=np.int64), len(characters)),
                "character": np.repeat(characters, 9).astype(np.int64)}

    data = {"train": arrays(split["train"][:6]), "test": arrays(split["test"][:2])}
    monkeypatch.setattr(sprites, "build_sprites", lambda sheets, progress=None: data)
    sprites.make_sprites(data_dir, progress=lambda line: None)


def test_tiny_cmivae_train_end_to_end(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`cmivae train dsae-sprites-cpu` with a tiny model on tiny Sprites files at 32x32: run files, finite results."""
    import json

    from cmivae.cli.main import main

    _tiny_sprites(tmp_path / "data", monkeypatch)
    tiny = ["model.conv_channels=[4, 8]", "model.frame_features=[16]", "model.z_dim=4", "model.s_dim=3",
            "model.hidden_dim=8", "model.rnn_dim=8", "model.prior_dim=8", "objective.critic_hidden_dim=8",
            "train.epochs=2", "train.batch_size=9", "train.checkpoint_every_minutes=0"]
    out = tmp_path / "run"
    args = ["train", "dsae-sprites-cpu", "--out", str(out), "--no-progress", "--threads", "1",
            "--set", f"data.data_dir={tmp_path / 'data'}"]
    for override in tiny:
        args += ["--set", override]
    assert main(args) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert all(math.isfinite(results[k]) for k in ("elbo", "recon", "kl_z", "kl_s"))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for r in records if r.get("epoch_complete")) == 2
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["data"]["frame_size"] == 32 and saved["resolved"]["model"]["name"] == "video_dsae"


def test_critic_input_x_sees_each_frame_as_one_steps_features(frames: torch.Tensor) -> None:
    """objective.critic_input=x on video: (B, T, C H W) on the unit scale, the same for uint8 and float frames."""
    from cmivae.objectives.critic_inputs import CriticView

    view = CriticView("x", (T, D_S), (T, C, H, H))
    assert view.shape == (T, C * H * H)
    seen = view.select(torch.zeros(B, T, D_S), frames, None)
    assert seen.shape == (B, T, C * H * H)
    torch.testing.assert_close(seen, view.select(torch.zeros(B, T, D_S), frames.float() / 256, None))
    assert float(seen.max()) < 1.0


def test_batch_norm_frames_are_encoded_alone_in_eval_mode(frames: torch.Tensor) -> None:
    """model.batch_norm: statistics of the batch's frames in training, running statistics in eval mode, where a
    sequence's encoding no longer depends on the others in its batch."""
    torch.manual_seed(0)
    model = VideoDSAE(tiny_config(batch_norm=True))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 3 + 2  # 3 convolutions, 2 transposed
    assert model.frame_encoder.convs[0].bias is None  # the norm's shift replaces it
    model(frames).likelihood.log_prob(frames).sum().backward()  # training mode: batch statistics
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.encode(frames[:1]).s, model.encode(frames).s[:1])
