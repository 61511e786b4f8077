"""VAE with a PixelCNN decoder (Chen et al. 2017; Gulrajani et al. 2017), paper Sec. 2.1
and appendix B, ELBO of Eq. 3: ``L_ARM = -Recon - KL(z)``.

Decoder: the 13-layer PixelCNN of He et al. (2019): five 7x7, four 5x5 and four 3x3
masked convolutions with 64 feature maps, the first with mask A, ReLU after each, and a
1x1 convolution to Bernoulli logits. z is mapped linearly to ``(4, 28, 28)`` feature maps
and concatenated to the input of every layer after ``inject_after``. The local latent s
is the output of layer ``inject_after`` (``s_t := h_{6,<t}``, appendix B): it depends on
x only through causal convolutions, and the objectives regularize I(z; s) through it.

Sec. 5.1 says z meets "the feature map outputted from the fifth layer ... passed to the
sixth layer", appendix B says "after the sixth layer" with s = h_6. The default
``inject_after = 6`` follows appendix B; set 5 for the Sec. 5.1 reading.

``block`` picks what one masked layer is (:data:`BLOCKS`): ``plain`` (the default, appendix B's
reading: ``h_l = ReLU(conv_l(in_l))``) or ``residual``, the batch-normalized ELU residual layers
of He et al. (2019)'s PixelCNN decoder, the one the paper cites: ``h_1 = ELU(BN(conv_1(x)))``,
``h_l = ELU(BN(conv_l(in_l)) + h_{l-1})`` for l > 1, with the same kernel sizes, widths and z
injection (their code's 1x1 bottlenecks and long skips are left out). A decoder that trains
faster per update is a cheaper way into the strong-decoder regime of issue 13's question 5.
Batch norm pools its statistics over every pixel of the batch in training mode, so there a
pixel's logit depends on other pixels through the batch mean and variance (by O(1 / (B H W)));
in eval mode (validation, evaluation, sampling) it is a per-channel affine map of the running
statistics and the decoder is exactly causal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import distributions as dist
from torch import nn

from cmivae.budget import Footprint, conv, linear, spatial_after_stride2
from cmivae.fields import one_of
from cmivae.models.capabilities import SAMPLE
from cmivae.models.contract import Means
from cmivae.models.layers import MaskedConv2d
from cmivae.models.outputs import VAEOutput

PAPER_KERNELS = (7, 7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3)
BLOCKS: tuple[str, ...] = ("plain", "residual")
# Bounds of the log-variance of q(z|x): exp(-30 / 2) ~ 3e-7 to exp(20 / 2) ~ 2e4 in standard
# deviation, far outside any trained value; they keep exp() finite on a diverging step.
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


@dataclass
class PixelCNNVAEConfig:
    """Architecture of the PixelCNN-VAE; the defaults are the paper's (appendix B, G.2).

    Attributes:
        image_shape: ``(C, H, W)`` of the binary images.
        z_dim: size of the global latent z (32 in the paper).
        kernel_sizes: one odd kernel size per masked layer (13 layers in the paper).
        channels: feature maps of every masked layer (64).
        z_channels: feature maps z is linearly mapped to (4).
        inject_after: z is concatenated to the input of every layer after this one;
            s is this layer's output (6, appendix B).
        encoder_channels: channels of the stride-2 3x3 convolutions of q(z|x).
        encoder_hidden: width of the fully connected layer of q(z|x).
        block: what one masked layer is (:data:`BLOCKS`, module docstring): ``plain``
            (ReLU after each convolution, the default) or ``residual`` (batch norm, a skip
            from the layer before, ELU; He et al. 2019).
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    z_dim: int = 32
    kernel_sizes: tuple[int, ...] = PAPER_KERNELS
    channels: int = 64
    z_channels: int = 4
    inject_after: int = 6
    encoder_channels: tuple[int, ...] = field(default=(32, 64))
    encoder_hidden: int = 512
    block: str = "plain"

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(v) for v in self.image_shape)  # type: ignore[assignment]
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)
        self.encoder_channels = tuple(int(c) for c in self.encoder_channels)
        for name in ("z_dim", "channels", "z_channels", "encoder_hidden"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if len(self.image_shape) != 3 or min(self.image_shape) <= 0:
            raise ValueError(f"model.image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        if not self.kernel_sizes or any(k <= 0 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"model.kernel_sizes must be a non-empty list of odd sizes, got {self.kernel_sizes}")
        if self.kernel_sizes[0] < 3:
            k = self.kernel_sizes[0]
            raise ValueError(f"model.kernel_sizes[0] must be at least 3: the first layer (mask A) of a "
                             f"{k}x{k} kernel sees no pixel, got {self.kernel_sizes}")
        if not 1 <= self.inject_after < len(self.kernel_sizes):
            raise ValueError(
                f"model.inject_after must be between 1 and {len(self.kernel_sizes) - 1} (the number of masked "
                f"layers minus one), got {self.inject_after}; the paper uses 6")
        # A k x k kernel reaches (k - 1) / 2 pixels each way; past 2 * side - 1 some taps reach no pixel from any
        # position of the image (they read only padding and cost k^2 per pixel).
        widest = 2 * max(self.image_shape[1:]) - 1
        if max(self.kernel_sizes) > widest:
            raise ValueError(f"model.kernel_sizes holds {max(self.kernel_sizes)}, wider than the image "
                             f"({self.image_shape[1]}x{self.image_shape[2]}) can use: its outer taps read only "
                             f"padding from every pixel and cost k^2 per pixel; use kernels of at most {widest} "
                             f"(the paper's 3-7)")
        if not self.encoder_channels or min(self.encoder_channels) <= 0:
            raise ValueError(f"model.encoder_channels must be positive sizes, got {self.encoder_channels}")
        one_of("model.block", self.block, BLOCKS)


class ConvEncoder(nn.Module):
    """q(z | x): stride-2 3x3 convolutions, a hidden layer, and a diagonal Gaussian."""

    def __init__(self, config: PixelCNNVAEConfig) -> None:
        super().__init__()
        c, h, w = config.image_shape
        layers: list[nn.Module] = []
        for width in config.encoder_channels:
            layers += [nn.Conv2d(c, width, 3, 2, 1), nn.ReLU()]
            c, h, w = width, (h + 1) // 2, (w + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, config.encoder_hidden), nn.ReLU(),
                                  nn.Linear(config.encoder_hidden, 2 * config.z_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each ``(B, D)`` in fp32."""
        stats = self.head(self.convs(x))  # (B, C, H, W) -> (B, 2D)
        stats = stats.to(torch.promote_types(stats.dtype, torch.float32))  # fp32 under bf16 autocast
        mean, logvar = stats.chunk(2, dim=-1)  # (B, 2D) -> 2 x (B, D)
        return mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class PixelCNNDecoder(nn.Module):
    """p(x | z) = prod_t p(x_t | z, x_<t): masked convolutions with z injected after
    layer ``inject_after``; returns Bernoulli logits and s (appendix B).

    ``layers`` are the masked convolutions; ``norms`` their batch norms (``residual`` block)
    or identities (``plain``); :meth:`activate` applies a layer's norm, skip and activation to
    its convolution's output (the cached sampler computes the same per pixel, with the eval-mode
    norms folded into the weights).
    """

    def __init__(self, config: PixelCNNVAEConfig) -> None:
        super().__init__()
        c, h, w = config.image_shape
        self.config = config
        self.residual = config.block == "residual"
        self.z_to_maps = nn.Linear(config.z_dim, config.z_channels * h * w)
        layers = []
        for i, k in enumerate(config.kernel_sizes):
            in_ch = c if i == 0 else config.channels
            if i >= config.inject_after:
                in_ch += config.z_channels
            layers.append(MaskedConv2d(in_ch, config.channels, k, "A" if i == 0 else "B"))
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(nn.BatchNorm2d(config.channels) if self.residual else nn.Identity()
                                   for _ in layers)
        self.out = nn.Conv2d(config.channels, c, 1)

    def activate(self, index: int, conv: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """h_l from layer ``index``'s convolution output ``conv`` ``(B, 64, H, W)`` and h_{l-1}
        ``previous`` (same shape; ignored by ``plain`` and by the first layer): ``ReLU(conv)``, or
        ``ELU(BN(conv) + h_{l-1})`` (``ELU(BN(conv))`` for the first layer) for ``residual``."""
        return self.combine(index, self.norms[index](conv), previous)

    def combine(self, index: int, normed: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        """The block's rule after the norm, the one place it is spelled: ``ReLU(normed)`` (``plain``)
        or ``ELU(normed + h_{l-1})`` (``residual``; ``ELU(normed)`` for the first layer, whose
        ``previous`` may be None). Any shape: the cached sampler calls it per pixel on ``(B, 64)``
        rows with the eval-mode norm folded into the weights."""
        if not self.residual:
            return F.relu(normed)
        return F.elu(normed if index == 0 or previous is None else normed + previous)

    def z_maps(self, z: torch.Tensor) -> torch.Tensor:
        """z ``(B, D)`` -> feature maps ``(B, z_channels, H, W)``."""
        _, h, w = self.config.image_shape
        return self.z_to_maps(z).view(z.shape[0], self.config.z_channels, h, w)  # (B, 4HW) -> (B, 4, H, W)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, C, H, W)`` of p(x_t | z, x_<t) and s = h_{inject_after} ``(B, 64, H, W)``."""
        maps = self.z_maps(z)
        h, s = x, x
        for i, layer in enumerate(self.layers):
            if i == self.config.inject_after:
                # Match h's dtype and memory format once, so the concatenation stays channels_last.
                channels_last = h.is_contiguous(memory_format=torch.channels_last)
                maps = maps.to(h.dtype).contiguous(
                    memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            inputs = torch.cat([h, maps], dim=1) if i >= self.config.inject_after else h  # (B, 64 + 4, H, W)
            h = self.activate(i, layer(inputs), h)
            if i + 1 == self.config.inject_after:
                s = h
        return self.out(h), s

    def local_features(self, x: torch.Tensor) -> torch.Tensor:
        """s = h_{inject_after} ``(B, channels, H, W)``: the layers before z is injected (s does not
        depend on z, appendix B)."""
        h = x
        for i, layer in enumerate(self.layers[:self.config.inject_after]):
            h = self.activate(i, layer(h), h)
        return h


class PixelCNNVAE(nn.Module):
    """The PixelCNN-VAE of the paper (Sec. 5.3): ``forward(x) -> VAEOutput``.

    x is ``(B, C, H, W)`` with values in {0, 1} (float or uint8).
    """

    config_class = PixelCNNVAEConfig
    modality = "image"
    sampler = "cached"  # cmivae.sampling.samplers.SAMPLERS: exact, about one forward pass per image
    capabilities: ClassVar[frozenset[str]] = frozenset({SAMPLE})  # s is a feature map, no decode(z, s)
    label: ClassVar[str] = "PixelCNN-VAE"
    # the same-KL comparison's metrics (reports.matched): (key, header, digits, which way is better)
    matched_metrics: ClassVar[tuple[tuple[str, str, int, str], ...]] = (
        ("mi_zs", "Î(z;s)", 2, "lower"), ("aolr", "AoLR", 4, "higher"), ("mcas", "mCAS", 4, "higher"))

    def __init__(self, config: PixelCNNVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or PixelCNNVAEConfig()
        self.encoder = ConvEncoder(self.config)
        self.decoder = PixelCNNDecoder(self.config)
        self.z_dim, self.s_shape = self.latent_shapes(self.config)
        self.input_shape = tuple(self.config.image_shape)  # (C, H, W)

    @staticmethod
    def latent_shapes(config: PixelCNNVAEConfig) -> tuple[int, tuple[int, ...]]:
        """``(D, (C, H, W))``: z is ``(B, D)``, s the injection layer's feature maps ``(B, C, H, W)``."""
        _, h, w = config.image_shape
        return config.z_dim, (config.channels, h, w)

    @staticmethod
    def input_shape_of(config: PixelCNNVAEConfig) -> tuple[int, ...]:
        """One example's x, ``(C, H, W)``, without building the model."""
        return tuple(config.image_shape)

    @staticmethod
    def footprint(config: PixelCNNVAEConfig) -> Footprint:
        """Parameters (exact) and activation values one example keeps for backward, from the
        config alone (:mod:`cmivae.budget`)."""
        c, h, w = config.image_shape
        params, acts, channels = 0, 0, c
        for i, width in enumerate(config.encoder_channels):  # stride-2 3x3 convolutions + ReLU
            params += conv(channels, width, 9)
            acts += 2 * width * spatial_after_stride2(h, i + 1) * spatial_after_stride2(w, i + 1)
            channels = width
        flat = channels * spatial_after_stride2(h, len(config.encoder_channels)) * \
            spatial_after_stride2(w, len(config.encoder_channels))
        params += linear(flat, config.encoder_hidden) + linear(config.encoder_hidden, 2 * config.z_dim)
        acts += 2 * config.encoder_hidden + 2 * config.z_dim
        params += linear(config.z_dim, config.z_channels * h * w)
        acts += config.z_channels * h * w
        for i, k in enumerate(config.kernel_sizes):  # masked convolutions: input (padded), output, activation
            n_in = (c if i == 0 else config.channels) + (config.z_channels if i >= config.inject_after else 0)
            norm = 2 * config.channels if config.block == "residual" else 0  # batch norm's weight and bias
            params += conv(n_in, config.channels, (k // 2 + 1) * k) + norm  # MaskedConv2d keeps k // 2 + 1 rows
            acts += n_in * (h + k // 2) * (w + k - 1) + (3 if norm else 2) * config.channels * h * w
        params += conv(config.channels, c, 1)
        acts += 2 * c * h * w  # the logits and the Bernoulli log-density terms, fp32 under autocast
        return Footprint(params, acts, 2 * c * h * w)

    def channels_last_module(self) -> nn.Module:
        """The part that is fast in channels_last: the stride-1 masked convolutions of the
        PixelCNN (oneDNN's strided bf16 convolutions of the encoder are many times slower in it)."""
        return self.decoder

    def prior_z(self, batch_size: int, device: torch.device) -> dist.Distribution:
        """p(z) = N(0, I), batch shape ``(B,)``, event ``(D,)``."""
        zeros = torch.zeros(batch_size, self.z_dim, device=device)
        return dist.Independent(dist.Normal(zeros, torch.ones_like(zeros), validate_args=False), 1)

    def posterior(self, x: torch.Tensor) -> dist.Distribution:
        """q(z | x), batch shape ``(B,)``, event ``(D,)``."""
        mean, logvar = self.encoder(x)
        return dist.Independent(dist.Normal(mean, (0.5 * logvar).exp(), validate_args=False), 1)

    def encode_z(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of q(z | x), ``(B, D)`` (the representation the metrics probe)."""
        return self.encoder(x.float() if x.dtype == torch.uint8 else x)[0]

    def encode(self, x: torch.Tensor) -> Means:
        """Means used as representations: z ``(B, D)`` and s = h_{inject_after} ``(B, C, H, W)``
        (deterministic given x)."""
        x = x.float() if x.dtype == torch.uint8 else x
        return Means(self.encode_z(x), self.decoder.local_features(x))

    def forward(self, x: torch.Tensor) -> VAEOutput:
        x = x.float() if x.dtype == torch.uint8 else x
        posterior = self.posterior(x)
        z = posterior.rsample()  # (B, D)
        logits, s = self.decoder(x, z)
        likelihood = dist.Independent(dist.Bernoulli(logits=logits.float(), validate_args=False), 3)
        return VAEOutput(likelihood=likelihood, posterior_z=posterior, prior_z=self.prior_z(x.shape[0], x.device),
                         z=z, s=s)
