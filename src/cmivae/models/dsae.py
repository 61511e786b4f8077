"""Disentangled Sequential Autoencoder, "full model" (Yingzhen & Mandt 2018), paper Sec. 2.1,
Eq. 2, and the model of Sec. 5.2 / appendix G.1.

A sequence ``x_{1:T}`` (log-magnitude spectra, ``(B, T, F)``) is generated from a global
latent z and local latents s_t::

    p(x, z, s) = p(z) prod_t p(s_t | s_{<t}) p(x_t | z, s_t)

and inferred with ``q(z | x_{1:T}) prod_t q(s_t | x_{1:T}, z, s_{t-1})``. The ELBO is
``L_SSM = -Recon - KL(z) - KL(s)`` (Eq. 2); the objectives in :mod:`cmivae.objectives`
weight its terms (Eqs. 5, 13). Components:

- q(z | x_{1:T}): a bidirectional LSTM over x; the final states of both directions give
  the mean and log-variance of a diagonal Gaussian.
- q(s_t | x_{1:T}, z, s_{t-1}): a bidirectional LSTM over ``[x_t, z]`` (z broadcast over t),
  then a forward LSTM unrolled over t that also reads the previous *sampled* s_{t-1}
  (s_0 = 0); each step gives a diagonal Gaussian.
- p(z) = N(0, I).
- p(s_t | s_{<t}): a learned LSTM prior run over ``[0, s_1, ..., s_{T-1}]`` (s_0 = 0), so the
  parameters at step t depend on s_{<t} only.
- p(x_t | z, s_t): an MLP on ``[z, s_t]`` gives the mean; the variance is a learnable
  per-frequency-bin parameter shared over time and examples, so Recon can be negative
  (appendix K.1).

KL(s) is evaluated along the posterior sample: ``posterior_s`` and ``prior_s`` hold the
per-step parameters conditioned on the sampled s_{<t}, so their analytic KL is the
one-sample estimate of ``sum_t E_q[D_KL(q(s_t | .) || p(s_t | s_{<t}))]`` of Eq. 2. Only
``out.s`` is a joint sample of q(s_{1:T} | x, z); ``posterior_s.sample()`` is not (each step
would be conditioned on the s_{t-1} of ``out.s``).

Axis names: ``B`` batch, ``T`` time steps, ``F`` frequency bins, ``D`` latent size
(``D_s`` where s differs from z), ``H`` hidden size.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import distributions as dist
from torch import nn

from cmivae.budget import Footprint, linear, lstm, lstm_activations
from cmivae.infra.precision import run_lstm
from cmivae.models.capabilities import DECODE, LOCAL_SEQUENCE, PRIOR_S
from cmivae.models.contract import Means
from cmivae.models.outputs import VAEOutput

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0  # keeps exp(logvar) finite in fp32; far outside the useful range


@dataclass
class DSAEConfig:
    """Architecture of the DSAE full model; defaults follow Li & Mandt (2018) and appendix G.1.

    Attributes:
        x_dim: frequency bins F per frame (201 for the TIMIT spectra of appendix G.1).
        num_steps: frames T per sequence (20 in the paper). Informational: ``forward``
            accepts any T, but ``s_shape`` (read by the CMI critic) uses it.
        z_dim: size of the global latent z (64).
        s_dim: size of each local latent s_t (64).
        hidden_dim: units per direction of the two bidirectional LSTMs (256).
        rnn_dim: units of the forward LSTM of q(s_t | ., s_{t-1}) (256).
        prior_dim: units of the LSTM prior p(s_t | s_{<t}) (256).
        decoder_hidden_dim: width of the hidden layers of the decoder MLP (256).
        num_decoder_layers: hidden layers of the decoder MLP; 0 makes the mean linear in [z, s_t].
        decoder_logvar_init: initial value of the learnable per-bin log-variance of p(x_t | z, s_t).
    """

    x_dim: int = 201
    num_steps: int = 20
    z_dim: int = 64
    s_dim: int = 64
    hidden_dim: int = 256
    rnn_dim: int = 256
    prior_dim: int = 256
    decoder_hidden_dim: int = 256
    num_decoder_layers: int = 2
    decoder_logvar_init: float = 0.0

    def __post_init__(self) -> None:
        for name in ("x_dim", "num_steps", "z_dim", "s_dim", "hidden_dim", "rnn_dim", "prior_dim",
                     "decoder_hidden_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"model.{name} must be a positive integer, got {value!r}; "
                                 f"set e.g. model.{name}: {getattr(DSAEConfig, name)} (the paper's value)")
        if isinstance(self.num_decoder_layers, bool) or not isinstance(self.num_decoder_layers, numbers.Integral) \
                or self.num_decoder_layers < 0:
            raise ValueError(f"model.num_decoder_layers must be an integer >= 0, got {self.num_decoder_layers!r}; "
                             "use 0 for a linear decoder mean or e.g. 2 for an MLP")
        self.decoder_logvar_init = float(self.decoder_logvar_init)
        if not math.isfinite(self.decoder_logvar_init) or not LOGVAR_MIN < self.decoder_logvar_init < LOGVAR_MAX:
            raise ValueError(f"model.decoder_logvar_init must be a finite log-variance in ({LOGVAR_MIN}, "
                             f"{LOGVAR_MAX}), got {self.decoder_logvar_init}; 0.0 (unit variance) is a safe start")


def diagonal_gaussian(mean: torch.Tensor, logvar: torch.Tensor, event_dims: int) -> dist.Independent:
    """``Independent(Normal(mean, exp(logvar / 2)), event_dims)`` with fp32 parameters."""
    mean, logvar = mean.float(), logvar.float().clamp(LOGVAR_MIN, LOGVAR_MAX)
    return dist.Independent(dist.Normal(mean, (0.5 * logvar).exp(), validate_args=False), event_dims)


def split_gaussian_stats(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., 2D)`` head output -> mean and clamped log-variance, each ``(..., D)`` in fp32."""
    mean, logvar = stats.float().chunk(2, dim=-1)  # (..., 2D) -> 2 x (..., D)
    return mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class StaticEncoder(nn.Module):
    """q(z | x_{1:T}): bidirectional LSTM, final states of both directions -> Gaussian."""

    def __init__(self, config: DSAEConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(config.x_dim, config.hidden_dim, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * config.hidden_dim, 2 * config.z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x ``(B, T, F)`` -> mean and log-variance of q(z | x), each ``(B, D)`` in fp32."""
        _, (h_n, _) = run_lstm(self.lstm, x)  # h_n: (2, B, H), forward direction's last step and backward's first
        final = torch.cat([h_n[0], h_n[1]], dim=-1)  # (2, B, H) -> (B, 2H)
        return split_gaussian_stats(self.head(final))  # (B, 2H) -> (B, 2D) -> 2 x (B, D)


class DynamicEncoder(nn.Module):
    """q(s_t | x_{1:T}, z, s_{t-1}) of the full model: a bidirectional LSTM over ``[x_t, z]``,
    then a forward LSTM whose step t reads the bidirectional features and s_{t-1}.

    The forward LSTM is unrolled by hand so that the input projection of the bidirectional
    features is one matrix product for all t; inside the loop only the recurrent part
    ``[s_{t-1}, g_{t-1}]`` is multiplied. Gates and cell state are kept in fp32.
    """

    def __init__(self, config: DSAEConfig) -> None:
        super().__init__()
        self.s_dim, self.rnn_dim = config.s_dim, config.rnn_dim
        self.bilstm = nn.LSTM(config.x_dim + config.z_dim, config.hidden_dim, batch_first=True, bidirectional=True)
        self.input_gates = nn.Linear(2 * config.hidden_dim, 4 * config.rnn_dim)
        self.recurrent_gates = nn.Linear(config.s_dim + config.rnn_dim, 4 * config.rnn_dim, bias=False)
        self.head = nn.Linear(config.rnn_dim, 2 * config.s_dim)

    def forward(self, x: torch.Tensor, z: torch.Tensor, sample: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-step mean and log-variance of q(s_t | x, z, s_{t-1}) and the s fed forward.

        Args:
            x: ``(B, T, F)``.
            z: ``(B, D)``, broadcast over t.
            sample: feed a reparameterized sample s_t to step t + 1 (training); if False,
                feed the mean (the deterministic encoding used by the metrics, Sec. 5.2).

        Returns:
            mean ``(B, T, D_s)``, logvar ``(B, T, D_s)`` in fp32, and s ``(B, T, D_s)``.
        """
        batch, steps, _ = x.shape
        z_seq = z.unsqueeze(1).expand(batch, steps, z.shape[-1]).to(x.dtype)  # (B, D) -> (B, T, D)
        features, _ = run_lstm(self.bilstm, torch.cat([x, z_seq], dim=-1))  # (B, T, F + D) -> (B, T, 2H)
        gates_in = self.input_gates(features)  # (B, T, 2H) -> (B, T, 4H'), all steps at once
        # One fp32 cast and one unbind for all steps: indexing gates_in[:, t] inside the loop would
        # make autograd zero-fill and accumulate a full (B, T, 4H') gradient once per step.
        gates_per_step = gates_in.float().unbind(dim=1)  # T x (B, 4H')
        s_prev = x.new_zeros(batch, self.s_dim, dtype=torch.float32)  # s_0 = 0, (B, D_s)
        g = x.new_zeros(batch, self.rnn_dim, dtype=torch.float32)  # (B, H')
        c = torch.zeros_like(g)  # (B, H')
        noise = torch.randn(batch, steps, self.s_dim, device=x.device).unbind(dim=1) if sample else None  # T x (B, D_s)
        means, logvars, samples = [], [], []
        for t in range(steps):  # T = 20 in the paper; s_t needs s_{t-1}, so this loop is inherent
            recurrent = self.recurrent_gates(torch.cat([s_prev, g], dim=-1))  # (B, D_s + H') -> (B, 4H')
            gates = gates_per_step[t] + recurrent.float()  # (B, 4H'), summed in fp32 under autocast
            i, f, u, o = gates.chunk(4, dim=-1)  # (B, 4H') -> 4 x (B, H')
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
            g = torch.sigmoid(o) * torch.tanh(c)  # (B, H')
            mean, logvar = split_gaussian_stats(self.head(g))  # (B, H') -> (B, 2D_s) -> 2 x (B, D_s)
            s_prev = mean if noise is None else mean + (0.5 * logvar).exp() * noise[t]  # (B, D_s)
            means.append(mean)
            logvars.append(logvar)
            samples.append(s_prev)
        # T x (B, D_s) -> (B, T, D_s)
        return torch.stack(means, dim=1), torch.stack(logvars, dim=1), torch.stack(samples, dim=1)


class TransitionPrior(nn.Module):
    """p(s_t | s_{<t}): an LSTM over ``[s_0 = 0, s_1, ..., s_{T-1}]`` -> Gaussian per step."""

    def __init__(self, config: DSAEConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(config.s_dim, config.prior_dim, batch_first=True)
        self.head = nn.Linear(config.prior_dim, 2 * config.s_dim)

    def forward(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """s ``(B, T, D_s)`` -> mean and log-variance of p(s_t | s_{<t}), each ``(B, T, D_s)``
        in fp32; step t reads s_{<t} only (causal by the one-step shift)."""
        shifted = F.pad(s, (0, 0, 1, 0))[:, :-1]  # (B, T, D_s) -> (B, T + 1, D_s) -> (B, T, D_s), s_0 = 0
        h, _ = run_lstm(self.lstm, shifted)  # (B, T, D_s) -> (B, T, H)
        return split_gaussian_stats(self.head(h))  # (B, T, H) -> (B, T, 2D_s) -> 2 x (B, T, D_s)

    def sample(self, batch_size: int, num_steps: int, device: torch.device) -> torch.Tensor:
        """A draw of s_{1:T} ``(B, T, D_s)`` from prod_t p(s_t | s_{<t}), ancestrally: s_0 = 0, then
        each s_t is sampled and fed to the LSTM for step t + 1 (the same recurrence as :meth:`forward`).
        Runs in fp32 with autocast off (a few small steps; no bf16 LSTM kernel is needed)."""
        s_prev = torch.zeros(batch_size, 1, self.lstm.input_size, device=device)  # s_0 = 0, (B, 1, D_s)
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        samples = []
        with torch.autocast(device.type, enabled=False):
            for _ in range(num_steps):
                h, state = self.lstm(s_prev, state)  # (B, 1, D_s) -> (B, 1, H)
                mean, logvar = split_gaussian_stats(self.head(h))  # (B, 1, H) -> 2 x (B, 1, D_s)
                s_prev = mean + (0.5 * logvar).exp() * torch.randn_like(mean)  # (B, 1, D_s)
                samples.append(s_prev)
        return torch.cat(samples, dim=1)  # T x (B, 1, D_s) -> (B, T, D_s)


class FrameDecoder(nn.Module):
    """Mean of p(x_t | z, s_t): an MLP on ``[z, s_t]`` applied to every frame, plus a
    learnable per-bin log-variance ``(F,)`` shared over time and examples."""

    def __init__(self, config: DSAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = config.z_dim + config.s_dim
        for _ in range(config.num_decoder_layers):
            layers += [nn.Linear(width, config.decoder_hidden_dim), nn.ReLU()]
            width = config.decoder_hidden_dim
        layers.append(nn.Linear(width, config.x_dim))
        self.mlp = nn.Sequential(*layers)
        self.logvar = nn.Parameter(torch.full((config.x_dim,), config.decoder_logvar_init))

    def forward(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """z ``(B, D)``, s ``(B, T, D_s)`` -> mean ``(B, T, F)`` in fp32."""
        batch, steps, _ = s.shape
        z_seq = z.unsqueeze(1).expand(batch, steps, z.shape[-1])  # (B, D) -> (B, T, D)
        return self.mlp(torch.cat([z_seq, s], dim=-1)).float()  # (B, T, D + D_s) -> (B, T, F)


class SequenceLatents(nn.Module):
    """The latent half every DSAE family shares (Eq. 2), over per-frame features ``(B, T, F)``:
    q(z | x_{1:T}), q(s_t | x_{1:T}, z, s_{t-1}), p(z) = N(0, I) and the learned prior p(s_t | s_{<t}).

    A family (:class:`DSAE` on spectra, :class:`cmivae.models.video_dsae.VideoDSAE` on frames) gives the
    sizes (a :class:`DSAEConfig` whose ``x_dim`` is its feature size F), sets ``z_dim`` and ``s_shape``, and
    defines :meth:`likelihood`; ``forward`` computes its features and calls :meth:`sequence_output`.
    """

    z_dim: int
    s_shape: tuple[int, ...]

    def __init__(self, config: DSAEConfig) -> None:
        super().__init__()
        self.static_encoder = StaticEncoder(config)
        self.dynamic_encoder = DynamicEncoder(config)
        self.transition_prior = TransitionPrior(config)

    @staticmethod
    def latents_footprint(config: DSAEConfig) -> Footprint:
        """Parameters (exact) and activation values one sequence keeps for backward in the latent half
        (:mod:`cmivae.budget`), over features of size F = ``config.x_dim``: q(z | x), q(s | x, z) and
        p(s_t | s_{<t}); a family adds its feature extractor's and decoder's."""
        t, hid = config.num_steps, config.hidden_dim
        params = (lstm(config.x_dim, hid, 2) + linear(2 * hid, 2 * config.z_dim)  # q(z | x)
                  + lstm(config.x_dim + config.z_dim, hid, 2) + linear(2 * hid, 4 * config.rnn_dim)  # q(s | x, z)
                  + linear(config.s_dim + config.rnn_dim, 4 * config.rnn_dim, bias=False)
                  + linear(config.rnn_dim, 2 * config.s_dim)
                  + lstm(config.s_dim, config.prior_dim) + linear(config.prior_dim, 2 * config.s_dim))  # p(s)
        # per frame, kept in fp32 under autocast: the two bidirectional LSTMs and the prior LSTM (oneDNN's
        # workspaces, lstm_activations), the s-cell's fp32 gates, cell and activations (12 H'), the
        # Gaussians' mean, log-variance, std, sample and noise of q(s_t) and p(s_t) (6 D_s)
        rnn, s_dim = config.rnn_dim, config.s_dim
        full = (lstm_activations(config.x_dim, hid, 2) + lstm_activations(config.x_dim + config.z_dim, hid, 2)
                + lstm_activations(s_dim, config.prior_dim) + 12 * rnn + 6 * s_dim)
        # and 16-bit: the s-cell's input gates (4 H'), recurrent input [s_{t-1}, g] and the heads' outputs
        half = 4 * rnn + (s_dim + rnn) + 2 * 2 * s_dim
        return Footprint(params, t * (full + half) + config.z_dim, t * full + config.z_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The family's input x (checked) -> per-frame features ``(B, T, F)`` the LSTMs read."""
        raise NotImplementedError(f"{type(self).__name__} must define features(x)")

    def likelihood(self, z: torch.Tensor, s: torch.Tensor) -> dist.Independent:
        """p(x | z, s) for z ``(B, D)`` and s ``(B, T, D_s)``, batch shape ``(B,)``: the family's decoder."""
        raise NotImplementedError(f"{type(self).__name__} must define likelihood(z, s)")

    def forward(self, x: torch.Tensor) -> VAEOutput:
        """Encode x, sample z and s_{1:T}, and return the distributions of Eq. 2."""
        return self.sequence_output(self.features(x))

    def encode(self, x: torch.Tensor) -> Means:
        """Posterior means used as representations (Sec. 5.2), see :meth:`encode_features`."""
        return self.encode_features(self.features(x))

    def encode_z(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of q(z | x_{1:T}), ``(B, D)``."""
        return self.static_encoder(self.features(x))[0]

    def prior_z(self, batch_size: int, device: torch.device) -> dist.Independent:
        """p(z) = N(0, I), batch shape ``(B,)``, event ``(D,)``."""
        zeros = torch.zeros(batch_size, self.z_dim, device=device)
        return dist.Independent(dist.Normal(zeros, torch.ones_like(zeros), validate_args=False), 1)

    def compute_prior_s(self, s: torch.Tensor) -> dist.Independent:
        """p(s_t | s_{<t}) along s ``(B, T, D_s)``: batch shape ``(B,)``, event ``(T, D_s)``."""
        return diagonal_gaussian(*self.transition_prior(s), event_dims=2)

    def sequence_output(self, features: torch.Tensor) -> VAEOutput:
        """Sample z and s_{1:T} from the posteriors given features ``(B, T, F)`` and return the
        distributions of Eq. 2 (the likelihood from :meth:`likelihood`)."""
        posterior_z = diagonal_gaussian(*self.static_encoder(features), event_dims=1)  # batch (B,), event (D,)
        z = posterior_z.rsample()  # (B, D)
        s_mean, s_logvar, s = self.dynamic_encoder(features, z, sample=True)  # 3 x (B, T, D_s)
        posterior_s = diagonal_gaussian(s_mean, s_logvar, event_dims=2)  # batch (B,), event (T, D_s)
        batch = features.shape[0]
        return VAEOutput(likelihood=self.likelihood(z, s), posterior_z=posterior_z,
                         prior_z=self.prior_z(batch, features.device), z=z, s=s, posterior_s=posterior_s,
                         prior_s=self.compute_prior_s(s), s_mean=s_mean)

    def encode_features(self, features: torch.Tensor) -> Means:
        """Posterior means used as representations (Sec. 5.2): z ``(B, D)`` and s ``(B, T, D_s)``,
        where s_t is the mean of q(s_t | x, z, s_{t-1}) with z and s_{t-1} set to their means."""
        z, _ = self.static_encoder(features)  # (B, D)
        s, _, _ = self.dynamic_encoder(features, z, sample=False)  # (B, T, D_s)
        return Means(z, s)

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Mean of p(x_t | z, s_t), ``(B, T, ...)``; pair one sequence's z with another's s for voice
        conversion (appendix J) or a video swap."""
        s_dim = self.s_shape[-1]
        if z.dim() != 2 or s.dim() != 3 or z.shape[0] != s.shape[0] or z.shape[1] != self.z_dim \
                or s.shape[2] != s_dim:
            raise ValueError(f"decode expects z (B, {self.z_dim}) and s (B, T, {s_dim}) with the same B, "
                             f"got z {tuple(z.shape)} and s {tuple(s.shape)}")
        return self.likelihood(z, s).mean

    def sample_prior_s(self, batch_size: int, device: torch.device, num_steps: int | None = None) -> torch.Tensor:
        """A draw of s_{1:T} ``(B, T, D_s)`` from the learned prior prod_t p(s_t | s_{<t});
        T = ``model.num_steps`` unless ``num_steps`` is given."""
        return self.transition_prior.sample(batch_size, num_steps or self.s_shape[0], torch.device(device))


class DSAE(SequenceLatents):
    """The DSAE full model: ``forward(x) -> VAEOutput`` for x ``(B, T, F)``.

    Attributes:
        z_dim: size D of z.
        s_shape: ``(num_steps, s_dim)``, the per-example shape of s the CMI critic expects.
    """

    config_class = DSAEConfig
    modality = "speech"
    sampler = None  # no image sampler: speech is decoded to means (voice conversion)
    capabilities: ClassVar[frozenset[str]] = frozenset({LOCAL_SEQUENCE, DECODE, PRIOR_S})
    label: ClassVar[str] = "DSAE"
    # the same-KL comparison's metrics (reports.matched): (key, header, digits, which way is better)
    matched_metrics: ClassVar[tuple[tuple[str, str, int, str], ...]] = (
        ("mi_zs", "Î(z;s)", 2, "lower"), ("eer_z", "EER(z) %", 2, "lower"), ("eer_s", "EER(s) %", 2, "higher"))

    def __init__(self, config: DSAEConfig | None = None) -> None:
        config = config or DSAEConfig()
        super().__init__(config)
        self.config = config
        self.decoder = FrameDecoder(self.config)
        self.z_dim, self.s_shape = self.latent_shapes(self.config)
        self.input_shape = (self.config.num_steps, self.config.x_dim)  # (T, F)

    @staticmethod
    def latent_shapes(config: DSAEConfig) -> tuple[int, tuple[int, ...]]:
        """``(D, (T, D_s))``: z is ``(B, D)``, s the frame latents ``(B, T, D_s)``."""
        return config.z_dim, (config.num_steps, config.s_dim)

    @staticmethod
    def input_shape_of(config: DSAEConfig) -> tuple[int, ...]:
        """One example's x, ``(T, F)``, without building the model."""
        return (config.num_steps, config.x_dim)

    @staticmethod
    def footprint(config: DSAEConfig) -> Footprint:
        """Parameters (exact) and activation values one sequence of ``num_steps`` frames keeps for
        backward, from the config alone (:mod:`cmivae.budget`): the latents'
        (:meth:`SequenceLatents.latents_footprint`) and the decoder MLP's."""
        width, params, per_frame = config.z_dim + config.s_dim, config.x_dim, 0  # the decoder's per-bin log-variance
        for _ in range(config.num_decoder_layers):
            params += linear(width, config.decoder_hidden_dim)
            per_frame += 2 * config.decoder_hidden_dim
            width = config.decoder_hidden_dim
        params += linear(width, config.x_dim)
        full = 3 * config.x_dim  # fp32 under autocast: the mean, x - mean, the log-density terms
        full_total = config.num_steps * full + 2 * config.x_dim  # and the per-bin log-variance's terms
        return SequenceLatents.latents_footprint(config) + Footprint(
            params, config.num_steps * per_frame + full_total, full_total)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x ``(B, T, F)`` checked, as float: the spectra are the LSTMs' features."""
        if x.dim() != 3 or x.shape[-1] != self.config.x_dim:
            raise ValueError(f"DSAE expects x of shape (B, T, F) with F = model.x_dim = {self.config.x_dim}, "
                             f"got {tuple(x.shape)}; check the data's frequency bins or set model.x_dim")
        if x.shape[1] == 0:
            raise ValueError("DSAE got sequences with T = 0 frames; every sequence needs at least one frame")
        return x.float() if not torch.is_floating_point(x) else x

    def channels_last_module(self) -> None:
        """No part of the DSAE (LSTMs and linear layers) gains from channels_last."""
        return None

    def likelihood(self, z: torch.Tensor, s: torch.Tensor) -> dist.Independent:
        """p(x | z, s): the decoder's mean and its learnable per-bin variance, event ``(T, F)``."""
        x_mean = self.decoder(z, s)  # (B, T, F)
        x_std = (0.5 * self.decoder.logvar.float().clamp(LOGVAR_MIN, LOGVAR_MAX)).exp().expand_as(x_mean)  # (B, T, F)
        return dist.Independent(dist.Normal(x_mean, x_std, validate_args=False), 2)  # event (T, F)
