"""The baseline the fast path is measured against: the PixelCNN decoder written the obvious
way, in plain fp32, channels-first, without autocast.

Each masked layer holds a full ``k x k`` kernel, multiplies it by the classic ``k x k``
causal mask (van den Oord et al. 2016) and convolves with ``padding = k // 2``; z maps are
concatenated channels-first. It computes the same function as
:class:`cmivae.models.pixelcnn_vae.PixelCNNDecoder` (same parameters, same layer order,
same s), so a model can switch between the two by copying weights
(:meth:`ReferencePixelCNNDecoder.from_decoder`).
"""

from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from cmivae.config import ExperimentConfig
from cmivae.infra.precision import run_lstm
from cmivae.models.layers import MaskedConv2d, causal_mask
from cmivae.models.pixelcnn_vae import PixelCNNDecoder, PixelCNNVAEConfig
from cmivae.training.loop import Trainer, build_trainer


class ReferenceMaskedConv2d(nn.Module):
    """``F.conv2d(x, weight * mask, bias, padding=k // 2)`` with a full ``(O, I, k, k)`` kernel."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("mask", causal_mask(kernel_size, mask_type, rows=kernel_size), persistent=False)

    @classmethod
    def from_masked(cls, layer: MaskedConv2d) -> ReferenceMaskedConv2d:
        """The same convolution as ``layer`` (its cropped kernel padded with zero rows)."""
        out_ch, in_ch, _, k = layer.weight.shape
        ref = cls(in_ch, out_ch, k, layer.mask_type)
        with torch.no_grad():
            ref.weight.copy_(layer.full_kernel())
            ref.bias.copy_(layer.bias)
        return ref.to(layer.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.kernel_size // 2)


class ReferencePixelCNNDecoder(nn.Module):
    """The PixelCNN decoder of appendix B, written plainly: ``forward(x, z) -> (logits, s)``."""

    def __init__(self, config: PixelCNNVAEConfig) -> None:
        super().__init__()
        c, h, w = config.image_shape
        self.config = config
        self.z_to_maps = nn.Linear(config.z_dim, config.z_channels * h * w)
        layers = []
        for i, k in enumerate(config.kernel_sizes):
            in_ch = (c if i == 0 else config.channels) + (config.z_channels if i >= config.inject_after else 0)
            layers.append(ReferenceMaskedConv2d(in_ch, config.channels, k, "A" if i == 0 else "B"))
        self.layers = nn.ModuleList(layers)
        self.out = nn.Conv2d(config.channels, c, 1)

    @classmethod
    def from_decoder(cls, decoder: PixelCNNDecoder) -> ReferencePixelCNNDecoder:
        """A reference decoder with ``decoder``'s weights (fp32, channels-first)."""
        ref = cls(decoder.config)
        ref.z_to_maps = copy.deepcopy(decoder.z_to_maps).float()
        ref.out = copy.deepcopy(decoder.out).float().to(memory_format=torch.contiguous_format)
        ref.layers = nn.ModuleList(ReferenceMaskedConv2d.from_masked(layer) for layer in decoder.layers)
        return ref.to(decoder.out.weight.device)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, C, H, W)`` and s = output of layer ``inject_after`` ``(B, 64, H, W)``."""
        _, h, w = self.config.image_shape
        maps = self.z_to_maps(z).view(z.shape[0], self.config.z_channels, h, w)  # (B, 4HW) -> (B, 4, H, W)
        s = x
        for i, layer in enumerate(self.layers):
            if i >= self.config.inject_after:
                x = torch.cat([x, maps], dim=1)  # (B, 64 + 4, H, W)
            x = F.relu(layer(x))
            if i + 1 == self.config.inject_after:
                s = x
        return self.out(x), s


def build_reference_trainer(config: ExperimentConfig) -> Trainer:
    """A trainer for ``config`` in fp32, channels-first, with the reference decoder.

    Built by :func:`cmivae.training.loop.build_trainer` with ``precision = fp32``; the
    decoder is then swapped and the VAE's Adam rebuilt over the new parameters.
    """
    train = dataclasses.replace(config.train, precision="fp32")
    trainer = build_trainer(dataclasses.replace(config, train=train))
    model = trainer.model
    model.decoder = ReferencePixelCNNDecoder.from_decoder(model.decoder)
    trainer.optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    trainer.channels_last = False
    return trainer


class ReferenceDynamicEncoder(nn.Module):
    """The DSAE's q(s_t | x, z, s_{t-1}) cell loop as it was before the speed-up (issue 16):
    ``gates_in[:, t].float()`` indexed inside the loop (autograd zero-fills and accumulates a
    full ``(B, T, 4H')`` gradient per step). Same parameters as
    :class:`cmivae.models.dsae.DynamicEncoder` (:meth:`from_encoder` shares them)."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    @classmethod
    def from_encoder(cls, encoder: nn.Module) -> ReferenceDynamicEncoder:
        return cls(encoder)

    def forward(self, x: torch.Tensor, z: torch.Tensor, sample: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from cmivae.models.dsae import split_gaussian_stats

        enc = self.encoder
        batch, steps, _ = x.shape
        z_seq = z.unsqueeze(1).expand(batch, steps, z.shape[-1]).to(x.dtype)  # (B, D) -> (B, T, D)
        features, _ = run_lstm(enc.bilstm, torch.cat([x, z_seq], dim=-1))  # (B, T, F + D) -> (B, T, 2H)
        gates_in = enc.input_gates(features)  # (B, T, 4H')
        s_prev = x.new_zeros(batch, enc.s_dim, dtype=torch.float32)  # (B, D_s)
        g = x.new_zeros(batch, enc.rnn_dim, dtype=torch.float32)  # (B, H')
        c = torch.zeros_like(g)
        noise = torch.randn(batch, steps, enc.s_dim, device=x.device) if sample else None  # (B, T, D_s)
        means, logvars, samples = [], [], []
        for t in range(steps):
            recurrent = enc.recurrent_gates(torch.cat([s_prev, g], dim=-1))  # (B, 4H')
            gates = gates_in[:, t].float() + recurrent.float()
            i, f, u, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
            g = torch.sigmoid(o) * torch.tanh(c)
            mean, logvar = split_gaussian_stats(enc.head(g))  # 2 x (B, D_s)
            s_prev = mean if noise is None else mean + (0.5 * logvar).exp() * noise[:, t]
            means.append(mean)
            logvars.append(logvar)
            samples.append(s_prev)
        return torch.stack(means, dim=1), torch.stack(logvars, dim=1), torch.stack(samples, dim=1)
