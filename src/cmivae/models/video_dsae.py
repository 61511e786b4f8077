"""The video Disentangled Sequential Autoencoder (Yingzhen & Mandt 2018, the "full model" of their
Sprites experiments), paper Sec. 2.1, Eq. 2: the speech DSAE of :mod:`cmivae.models.dsae` with a
convolutional frame encoder and a conv-transpose frame decoder.

A video ``x_{1:T}`` (``(B, T, C, H, W)``, C = 3 RGB channels) is generated from a global latent z
(the paper's static f: the character's look) and local latents s_t (its dynamic z_t: the pose of
each frame)::

    p(x, z, s) = p(z) prod_t p(s_t | s_{<t}) p(x_t | z, s_t)

and inferred with ``q(z | x_{1:T}) prod_t q(s_t | x_{1:T}, z, s_{t-1})``. The ELBO is
``L_SSM = -Recon - KL(z) - KL(s)`` (Eq. 2), and every objective of :mod:`cmivae.objectives` weights
its terms exactly as for the speech DSAE. Components:

- a per-frame encoder (:class:`FrameEncoder`): ``len(conv_channels)`` convolutions with LeakyReLU(0.2)
  (the first of stride 1, the others of stride 2, so a ``H x H`` frame ends at
  ``H / 2^(L-1)``), flattened, then fully connected layers of widths ``frame_features``; the last
  width F is the per-frame feature size;
- q(z | x_{1:T}), q(s_t | x_{1:T}, z, s_{t-1}) and the learned LSTM prior p(s_t | s_{<t}): the speech
  DSAE's own modules (:class:`cmivae.models.dsae.StaticEncoder`, :class:`~cmivae.models.dsae.DynamicEncoder`,
  :class:`~cmivae.models.dsae.TransitionPrior`), run over the frame features ``(B, T, F)`` instead of
  spectra; p(z) = N(0, I);
- p(x_t | z, s_t) (:class:`FrameDecoder`): fully connected layers on ``[z, s_t]`` mirroring the
  encoder's, reshaped to the last convolution's maps, then stride-2 conv-transposes back to
  ``H x H`` and a stride-1 convolution to C channels (:class:`OutputConv`).

**Pixel likelihood.** Frames are on the unit scale of :func:`cmivae.data.video.frames.to_unit_float`
(uint8 / 256). ``model.likelihood``:

- ``gaussian`` (default): a fixed-variance Gaussian with mean ``sigmoid(decoder logits)`` and
  standard deviation ``model.pixel_std``, summed over every pixel of every frame. With
  ``pixel_std = 1/sqrt(2)`` (the default) ``-log p(x | z, s)`` is the summed squared error plus a
  constant, the "MSE" reconstruction term of the field's Sprites models: the public reproduction of
  DSAE (yatindandi/Disentangled-Sequential-Autoencoder), S3VAE (Zhu et al. 2020), C-DSVAE (Bai et al.
  2021) and the models compared with them (SPYL, DBSE) sum ``(x - x_hat)^2`` over pixels. A smaller
  ``pixel_std`` weights reconstruction more against the KL terms.
- ``bernoulli``: a Bernoulli on the [0, 1] pixel values (binary cross-entropy with the decoder
  logits, as in the DSAE reproduction's alternative loss and the sigmoid-output models of the field):
  not a normalized density on continuous values, so its Recon is comparable only between runs that
  use it.

The likelihood's ``log_prob`` also takes the raw uint8 batch (:class:`FrameLikelihood` converts it
with ``to_unit_float``), so ``objectives.terms.reconstruction(out, x)`` works on what the data
loader gives; ``likelihood.mean`` and :meth:`VideoDSAE.decode` are on the unit scale.

Batch normalization (``model.batch_norm``, on by default as in the reproduction) follows every hidden
convolution and conv-transpose, over the ``B * T`` frames of a batch (the frame encoder and decoder run
on them at once); without it the latents stay unused far longer (measured on Sprites at 32x32: after
168 updates KL(s) 0.7 nats and blurred mean frames without, 36 nats with). The reproduction's batch
norm on the fully connected layers is left out.

The sizes of ``dsae-sprites-paper`` are the DSAE paper's Sprites sizes as the reproduction states them
(the paper's appendix text was not reachable offline): convolutions of 256 channels with 5 x 5 kernels,
frame features 4096 -> 2048, LSTMs of 512 units, dim z = 256, dim s_t = 32.

KL(s) is evaluated along the posterior sample exactly as in :mod:`cmivae.models.dsae`.

Axis names: ``B`` batch, ``T`` frames, ``C`` channels, ``H``/``W`` frame height/width, ``F`` frame
features, ``D`` latent size (``D_s`` for s), ``K`` feature maps.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import distributions as dist
from torch import nn

from cmivae.budget import Footprint, conv, linear
from cmivae.data.video.frames import to_unit_float
from cmivae.fields import one_of
from cmivae.modality import VIDEO
from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, PRIOR_S
from cmivae.models.dsae import DSAEConfig, SequenceLatents

LIKELIHOODS: tuple[str, ...] = ("gaussian", "bernoulli")
NEGATIVE_SLOPE = 0.2  # LeakyReLU(0.2) after every hidden layer, as the DSAE reproduction


@dataclass
class VideoDSAEConfig:
    """Architecture of the video DSAE; defaults are the DSAE paper's Sprites sizes (module docstring).

    Attributes:
        frame_size: H = W of the frames (64 for Sprites; 32 with ``data.frame_size=32``).
        channels: C, colour channels per frame (3).
        num_steps: frames T per sequence (8 for Sprites). ``forward`` accepts any T; ``s_shape`` (read
            by the CMI critic) and :meth:`VideoDSAE.sample_prior_s` use it.
        z_dim: size of the global latent z (the paper's f: 256).
        s_dim: size of each local latent s_t (the paper's z_t: 32).
        conv_channels: output channels of the frame encoder's convolutions, the first of stride 1 and
            the others of stride 2 (256, 256, 256, 256); the decoder mirrors them.
        kernel_size: odd kernel size of every convolution and conv-transpose (5).
        frame_features: widths of the fully connected layers after the convolutions; the last is the
            per-frame feature size the LSTMs read (4096, 2048).
        hidden_dim: units per direction of the bidirectional LSTMs of q(z | x) and q(s | x, z) (512).
        rnn_dim: units of the forward LSTM of q(s_t | ., s_{t-1}) (512).
        prior_dim: units of the LSTM prior p(s_t | s_{<t}) (512).
        likelihood: ``gaussian`` (fixed-variance, the field's summed squared error) or ``bernoulli``.
        pixel_std: standard deviation of the Gaussian likelihood on the unit pixel scale
            (1/sqrt(2): -log p is the summed squared error plus a constant); unused by ``bernoulli``.
        batch_norm: batch normalization after every hidden convolution and conv-transpose (as the DSAE
            reproduction), over the ``B T`` frames of the batch; off: no normalization.
    """

    frame_size: int = 64
    channels: int = 3
    num_steps: int = 8
    z_dim: int = 256
    s_dim: int = 32
    conv_channels: tuple[int, ...] = (256, 256, 256, 256)
    kernel_size: int = 5
    frame_features: tuple[int, ...] = (4096, 2048)
    hidden_dim: int = 512
    rnn_dim: int = 512
    prior_dim: int = 512
    likelihood: str = "gaussian"
    pixel_std: float = 1 / math.sqrt(2)
    batch_norm: bool = True

    def __post_init__(self) -> None:
        self.conv_channels = tuple(int(c) for c in self.conv_channels)
        self.frame_features = tuple(int(w) for w in self.frame_features)
        for name in ("frame_size", "channels", "num_steps", "z_dim", "s_dim", "kernel_size", "hidden_dim",
                     "rnn_dim", "prior_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"model.{name} must be a positive integer, got {value!r}; "
                                 f"set e.g. model.{name}: {getattr(VideoDSAEConfig, name)} (the paper's value)")
        for name in ("conv_channels", "frame_features"):
            if not getattr(self, name) or min(getattr(self, name)) <= 0:
                raise ValueError(f"model.{name} must be a non-empty list of positive widths, got "
                                 f"{list(getattr(self, name))}; e.g. {list(getattr(VideoDSAEConfig, name))}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"model.kernel_size must be odd (same-size padding), got {self.kernel_size}; e.g. 5")
        if self.frame_size % self.downsampling:
            raise ValueError(f"model.frame_size = {self.frame_size} must be divisible by 2^(len(conv_channels) - 1) "
                             f"= {self.downsampling} (the stride-2 convolutions); set model.frame_size to "
                             f"data.frame_size (64 or 32) or use fewer model.conv_channels")
        one_of("model.likelihood", self.likelihood, LIKELIHOODS)
        self.pixel_std = float(self.pixel_std)
        if not math.isfinite(self.pixel_std) or self.pixel_std <= 0:
            raise ValueError(f"model.pixel_std must be a positive number, got {self.pixel_std}; "
                             "0.7071 (1/sqrt(2)) makes -log p the summed squared error")

    @property
    def downsampling(self) -> int:
        """Factor by which the frame encoder shrinks H and W: one halving per stride-2 convolution."""
        return 2 ** (len(self.conv_channels) - 1)

    @property
    def final_size(self) -> int:
        """H = W of the last convolution's maps."""
        return self.frame_size // self.downsampling

    def recurrent(self) -> DSAEConfig:
        """The sizes of the speech DSAE's recurrent modules, run over frame features ``(B, T, F)``."""
        return DSAEConfig(x_dim=self.frame_features[-1], num_steps=self.num_steps, z_dim=self.z_dim,
                          s_dim=self.s_dim, hidden_dim=self.hidden_dim, rnn_dim=self.rnn_dim,
                          prior_dim=self.prior_dim)


def in_layout_of(maps: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """``maps (N, K, H, W)`` in the memory format of ``conv``'s weight (channels_last once
    :meth:`VideoDSAE.channels_last_module` was converted), so oneDNN does not reorder at every layer."""
    weight = conv.weight
    if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return maps.contiguous(memory_format=torch.channels_last)
    return maps


class _FlattenMaps(torch.autograd.Function):
    """``maps (N, K, H, W)`` channels_last -> ``(N, K H W)`` in NCHW order (a copy), whose gradient goes back in
    channels_last: without it the last LeakyReLU's backward mixes a channels_last result with an NCHW gradient,
    a slow strided loop (15 ms instead of 0.6 ms at 32x32, B = 32: BENCHMARKS.md)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, maps: torch.Tensor) -> torch.Tensor:
        ctx.maps_shape = maps.shape
        return maps.flatten(1)  # (N, K, H, W) -> (N, K H W)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        maps_grad = grad.reshape(ctx.maps_shape)  # (N, K H W) -> (N, K, H, W)
        return maps_grad.contiguous(memory_format=torch.channels_last)


def flatten_maps(maps: torch.Tensor) -> torch.Tensor:
    """``(N, K, H, W) -> (N, K H W)`` in NCHW order whatever the memory format of ``maps``; the gradient keeps
    the memory format of ``maps`` (:class:`_FlattenMaps`)."""
    if maps.dim() == 4 and maps.requires_grad and not maps.is_contiguous() \
            and maps.is_contiguous(memory_format=torch.channels_last):
        return _FlattenMaps.apply(maps)
    return maps.flatten(1)


class OutputConv(nn.Conv2d):
    """The decoder's last, stride-1 convolution to C channels: an ``nn.Conv2d`` (same parameters and
    state-dict keys) that on the CPU computes the same cross-correlation as a conv-transpose with the kernel
    flipped and its channel axes swapped (``conv_transpose2d(x, W[:, :, ::-1, ::-1]^T)``, padding ``k // 2``:
    the same sums term by term). On channels_last maps oneDNN's conv-transpose kernels handle the 3 output
    channels much better: forward + backward in bf16 0.53 vs 0.75 CPU-s at 64x64 (N = 64 frames, 256 -> 3, 5x5),
    34 vs 40 ms at 32x32 (fp32: 0.7x too; BENCHMARKS.md, "Video DSAE training step"). Elsewhere (NCHW maps,
    where bf16 at 32x32 is 2.8x slower so; CUDA) the plain convolution."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """``(N, K, H, W) -> (N, C, H, W)``."""
        channels_last = maps.is_contiguous(memory_format=torch.channels_last) and not maps.is_contiguous()
        if maps.device.type != "cpu" or not channels_last or self.stride != (1, 1) or self.dilation != (1, 1) \
                or self.groups != 1 or self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super().forward(maps)
        flipped = self.weight.flip(-1, -2).transpose(0, 1)  # (C, K, k, k) -> (K, C, k, k), taps reversed
        return nn.functional.conv_transpose2d(maps, flipped, self.bias, padding=self.padding)


def _conv_block(conv: type[nn.Conv2d] | type[nn.ConvTranspose2d], fan_in: int, width: int, batch_norm: bool,
                **kwargs: int) -> list[nn.Module]:
    """A hidden convolution (or conv-transpose), batch norm if asked (then no conv bias), LeakyReLU."""
    layers: list[nn.Module] = [conv(fan_in, width, bias=not batch_norm, **kwargs)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(width))
    return [*layers, nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True)]


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers ``widths[0] -> ... -> widths[-1]``, LeakyReLU after each (the layer after takes it)."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True)]
    return nn.Sequential(*layers)


class FrameEncoder(nn.Module):
    """Frames ``(N, C, H, W)`` -> features ``(N, F)``: convolutions, then fully connected layers."""

    def __init__(self, config: VideoDSAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in, pad = config.channels, config.kernel_size // 2
        for index, width in enumerate(config.conv_channels):
            layers += _conv_block(nn.Conv2d, fan_in, width, config.batch_norm, kernel_size=config.kernel_size,
                                  stride=1 if index == 0 else 2, padding=pad)
            fan_in = width
        self.convs = nn.Sequential(*layers)
        self.mlp = _mlp([fan_in * config.final_size ** 2, *config.frame_features])

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> ``(N, F)``."""
        maps = self.convs(frames)  # (N, C, H, W) -> (N, K, H', W')
        return self.mlp(flatten_maps(maps))  # (N, K, H', W') -> (N, K H' W') -> (N, F)


class FrameDecoder(nn.Module):
    """Decoder logits of p(x_t | z, s_t): ``[z, s_t]`` -> fully connected layers -> maps
    ``(K, H', W')`` -> stride-2 conv-transposes -> a convolution to C channels."""

    def __init__(self, config: VideoDSAEConfig) -> None:
        super().__init__()
        channels, size, pad = config.conv_channels, config.final_size, config.kernel_size // 2
        self.maps_shape = (channels[-1], size, size)  # (K, H', W')
        widths = [config.z_dim + config.s_dim, *reversed(config.frame_features), math.prod(self.maps_shape)]
        self.mlp = _mlp(widths)
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(channels[:0:-1], channels[-2::-1], strict=True):  # mirror the stride-2 convs
            layers += _conv_block(nn.ConvTranspose2d, fan_in, fan_out, config.batch_norm,
                                  kernel_size=config.kernel_size, stride=2, padding=pad, output_padding=1)
        layers.append(OutputConv(channels[0], config.channels, config.kernel_size, padding=pad))
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """z ``(B, D)``, s ``(B, T, D_s)`` -> logits ``(B, T, C, H, W)`` in fp32."""
        batch, steps, _ = s.shape
        z_seq = z.unsqueeze(1).expand(batch, steps, z.shape[-1])  # (B, D) -> (B, T, D)
        inputs = torch.cat([z_seq, s.to(z_seq.dtype)], dim=-1).flatten(0, 1)  # (B, T, D + D_s) -> (B T, D + D_s)
        hidden = self.mlp(inputs)  # (B T, D + D_s) -> (B T, K H' W')
        maps = hidden.view(batch * steps, *self.maps_shape)  # (B T, K H' W') -> (B T, K, H', W')
        logits = self.convs(in_layout_of(maps, self.convs[0]))  # (B T, K, H', W') -> (B T, C, H, W)
        return logits.float().view(batch, steps, *logits.shape[1:])  # (B T, C, H, W) -> (B, T, C, H, W)


class FixedStdNormal(dist.Normal):
    """``N(loc, std^2)`` with one standard deviation ``std`` (a number) for every pixel: ``torch.distributions.Normal``
    whose ``log_prob`` uses the number instead of squaring and taking the log of a full-size std tensor (three
    passes fewer over the frames: 10 -> 3 ms fwd + bwd at 32x32, B = 32; BENCHMARKS.md). Same density."""

    def __init__(self, loc: torch.Tensor, std: float) -> None:
        super().__init__(loc, torch.full((), std, dtype=loc.dtype, device=loc.device).expand_as(loc),
                         validate_args=False)
        self.fixed_std = float(std)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``-(x - loc)^2 / (2 std^2) - log std - log sqrt(2 pi)``, elementwise."""
        return (value - self.loc).square() * (-0.5 / self.fixed_std ** 2) \
            - (math.log(self.fixed_std) + 0.5 * math.log(2 * math.pi))


class FrameLikelihood(dist.Independent):
    """p(x | z, s) with event ``(T, C, H, W)`` on the unit pixel scale whose ``log_prob`` also takes
    uint8 frames (converted with :func:`cmivae.data.video.frames.to_unit_float`)."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log p(x | z, s)`` per sequence, ``(B,)``, for x uint8 or float ``(B, T, C, H, W)``."""
        return super().log_prob(to_unit_float(value))


class VideoDSAE(SequenceLatents):
    """The video DSAE: ``forward(x) -> VAEOutput`` for x uint8 or unit-scale float ``(B, T, C, H, W)``.

    The latents (q(z | x), q(s_t | x, z, s_{t-1}), p(z), p(s_t | s_{<t}), ``encode``, ``decode``,
    ``sample_prior_s``) are the speech DSAE's (:class:`cmivae.models.dsae.SequenceLatents`) over the
    frame encoder's features.

    Attributes:
        z_dim: size D of z.
        s_shape: ``(num_steps, s_dim)``, the per-example shape of s the CMI critic expects.
        input_shape: ``(T, C, H, W)``.
    """

    config_class = VideoDSAEConfig
    modality = VIDEO
    sampler = None  # no sampler of x ~ p(x | z): the judge decodes means (decode)
    capabilities: ClassVar[frozenset[str]] = frozenset({LOCAL_SEQUENCE, DECODE, PRIOR_S})
    label: ClassVar[str] = "video DSAE"
    # the same-KL comparison's metrics (reports.matched; issue 29): does minimizing I(z;s) improve (a) the
    # action when z is resampled, (b) the attributes when s is resampled, (c) swaps, (d) leakage
    matched_metrics: ClassVar[tuple[tuple[str, str, int, str], ...]] = (
        ("mi_zs", "Î(z;s)", 2, "lower"), ("judge_action_acc", "action acc (z resampled)", 4, "higher"),
        ("judge_attr_acc", "attribute acc (s resampled)", 4, "higher"), ("swap_acc", "swap acc", 4, "higher"),
        ("leak_z_action", "leak z→action", 4, "lower"), ("leak_s_attr", "leak s→attributes", 4, "lower"))

    def __init__(self, config: VideoDSAEConfig | None = None) -> None:
        config = config or VideoDSAEConfig()
        super().__init__(config.recurrent())
        self.config = config
        self.frame_encoder = FrameEncoder(config)
        self.decoder = FrameDecoder(config)
        self.z_dim, self.s_shape = self.latent_shapes(config)
        self.input_shape = (config.num_steps, config.channels, config.frame_size, config.frame_size)  # (T, C, H, W)

    @staticmethod
    def latent_shapes(config: VideoDSAEConfig) -> tuple[int, tuple[int, ...]]:
        """``(D, (T, D_s))``: z is ``(B, D)``, s the frame latents ``(B, T, D_s)``."""
        return config.z_dim, (config.num_steps, config.s_dim)

    @staticmethod
    def input_shape_of(config: VideoDSAEConfig) -> tuple[int, ...]:
        """One example's x, ``(T, C, H, W)``, without building the model."""
        return (config.num_steps, config.channels, config.frame_size, config.frame_size)

    @staticmethod
    def footprint(config: VideoDSAEConfig) -> Footprint:
        """Parameters (exact) and activation values one sequence keeps for backward, from the config alone
        (:mod:`cmivae.budget`): the latents' over the frame features
        (:meth:`~cmivae.models.dsae.SequenceLatents.latents_footprint`), then per frame the frame encoder's
        and decoder's. Per frame kept: the unit-scale frame, each hidden convolution's output and (with batch
        norm) its normalized copy, each fully connected layer's output, the decoder's logits, their sigmoid
        and the Gaussian's or Bernoulli's log-density temporaries."""
        k2, channels, pixels = config.kernel_size ** 2, config.conv_channels, config.frame_size ** 2
        per_conv = 2 if config.batch_norm else 1  # kept: the conv's and the batch norm's outputs

        def hidden_conv(fan_in: int, fan_out: int) -> int:  # no bias before a batch norm, which has weight and bias
            return conv(fan_in, fan_out, k2) + (fan_out if config.batch_norm else 0)

        params, per_frame, fan_in, size = 0, 0, config.channels, config.frame_size
        for index, width in enumerate(channels):  # frame encoder: the first convolution of stride 1, then stride 2
            size = size if index == 0 else size // 2
            params += hidden_conv(fan_in, width)
            per_frame += per_conv * width * size * size
            fan_in = width
        widths = [fan_in * config.final_size ** 2, *config.frame_features]
        params += sum(linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        per_frame += sum(widths[1:])
        widths = [config.z_dim + config.s_dim, *reversed(config.frame_features), channels[-1] * config.final_size ** 2]
        params += sum(linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))  # frame decoder
        per_frame += sum(widths[1:])
        for fan_in, fan_out in zip(channels[:0:-1], channels[-2::-1], strict=True):  # stride-2 conv-transposes
            size *= 2
            params += hidden_conv(fan_in, fan_out)
            per_frame += per_conv * fan_out * size * size
        params += conv(channels[0], config.channels, k2)  # to C channels, with a bias
        full = 5 * config.channels * pixels  # the frame as float, logits, their sigmoid, two log-density terms (fp32)
        return SequenceLatents.latents_footprint(config.recurrent()) + Footprint(
            params, config.num_steps * (per_frame + full), config.num_steps * full)

    def channels_last_module(self) -> nn.Module:
        """The convolutions of the frame encoder and decoder (a container made on each call, not a
        sub-module: their parameters are converted in place)."""
        return nn.ModuleList([self.frame_encoder.convs, self.decoder.convs])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x uint8 or float ``(B, T, C, H, W)`` -> per-frame features ``(B, T, F)``."""
        c, size = self.config.channels, self.config.frame_size
        if x.dim() != 5 or tuple(x.shape[2:]) != (c, size, size):
            raise ValueError(f"VideoDSAE expects frames of shape (B, T, {c}, {size}, {size}) (model.frame_size = "
                             f"{size}), got {tuple(x.shape)}; set model.frame_size to data.frame_size")
        if x.shape[1] == 0:
            raise ValueError("VideoDSAE got sequences with T = 0 frames; every sequence needs at least one frame")
        batch, steps = x.shape[:2]
        frames = to_unit_float(x).flatten(0, 1)  # (B, T, C, H, W) -> (B T, C, H, W)
        features = self.frame_encoder(in_layout_of(frames, self.frame_encoder.convs[0]))  # (B T, F)
        return features.view(batch, steps, -1)  # (B T, F) -> (B, T, F)

    def likelihood(self, z: torch.Tensor, s: torch.Tensor) -> FrameLikelihood:
        """p(x | z, s) (module docstring) for z ``(B, D)``, s ``(B, T, D_s)``: event ``(T, C, H, W)``."""
        logits = self.decoder(z, s)  # (B, T, C, H, W)
        if self.config.likelihood == "bernoulli":
            return FrameLikelihood(dist.Bernoulli(logits=logits, validate_args=False), 4)
        return FrameLikelihood(FixedStdNormal(torch.sigmoid(logits), self.config.pixel_std), 4)  # (B, T, C, H, W)


__all__ = ["LIKELIHOODS", "FixedStdNormal", "FrameDecoder", "FrameEncoder", "FrameLikelihood", "OutputConv",
           "VideoDSAE", "VideoDSAEConfig"]
