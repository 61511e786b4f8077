"""The model contract every model family follows (STYLE.md, plug-in contract 1).

A model is an ``nn.Module`` registered in :data:`cmivae.registry.MODELS` with:

- ``config_class``: the dataclass of its constructor (``Model(config)``); its fields are the
  ``model.*`` keys of a config, checked by :func:`cmivae.registry.resolve`;
- ``modality``: ``"image"`` or ``"speech"`` (:mod:`cmivae.modality`), checked against the
  data set's at config time;
- ``input_shape``: one example's x, ``(C, H, W)`` or ``(T, F)``;
- ``z_dim`` and ``s_shape``: the global latent z is ``(B, D)`` with ``D = z_dim``, the local
  s is ``(B, *s_shape)`` (the objectives' critics are built from them);
- ``forward(x) -> VAEOutput``: distributions and samples (:mod:`cmivae.models.outputs`);
- ``prior_z(batch_size, device)``: p(z);
- ``encode(x) -> Means(z, s)``: the posterior means used as representations, z ``(B, D)`` and
  s ``(B, *s_shape)`` (the same named pair for every family);
- ``encode_z(x)``: the mean of q(z | x) ``(B, D)`` alone (what AoLR probes and sampling decodes),
  without computing s;
- ``capabilities``: the names of :mod:`cmivae.models.capabilities` the model supports, each
  promising a method (``SAMPLE``: ``sampler`` names a sampler; ``LOCAL_SEQUENCE``: s is
  ``(B, T, D_s)`` with a learned prior; ``DECODE``: ``decode(z, s)``; ``PRIOR_S``:
  ``sample_prior_s(batch_size, device)``). Evaluation derives its metric set from them and
  the data set's labels (:data:`cmivae.metric_names.METRIC_NEEDS`): a model that declares
  none still trains, and ``cmivae evaluate`` skips what it cannot compute, saying why;
- ``label`` (optional): its display name in reports (default: its registry name), and
  ``matched_metrics`` (optional): ``(key, header, digits, "higher" | "lower")`` of the same-KL
  comparison (default: Î(z; s) only); both are written into ``config.json`` at train time;
- ``sampler``: the key of :data:`cmivae.sampling.samplers.SAMPLERS` that draws x ~ p(x | z),
  or ``None``;
- ``channels_last_module()``: the sub-module that is fast in channels_last memory format
  on the bf16 CPU path, or ``None``.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn

from cmivae.models.outputs import VAEOutput


class Means(NamedTuple):
    """Posterior means of one batch: z ``(B, D)`` and s ``(B, *s_shape)``."""

    z: torch.Tensor
    s: torch.Tensor


@runtime_checkable
class VAEModel(Protocol):
    """What the training loop, the objectives, the metrics and the registry use of a model."""

    config_class: ClassVar[type]
    modality: ClassVar[str]
    sampler: ClassVar[str | None]
    capabilities: ClassVar[frozenset[str]]
    z_dim: int
    s_shape: tuple[int, ...]
    input_shape: tuple[int, ...]

    def __call__(self, x: torch.Tensor) -> VAEOutput: ...

    def prior_z(self, batch_size: int, device: torch.device) -> Any: ...

    def encode(self, x: torch.Tensor) -> Means: ...

    def encode_z(self, x: torch.Tensor) -> torch.Tensor: ...

    def channels_last_module(self) -> nn.Module | None: ...


@runtime_checkable
class Decoder(Protocol):
    """:data:`cmivae.models.capabilities.DECODE`: the mean of p(x | z, s)."""

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class PriorSSampler(Protocol):
    """:data:`cmivae.models.capabilities.PRIOR_S`: a draw of s from the learned prior."""

    def sample_prior_s(self, batch_size: int, device: torch.device) -> torch.Tensor: ...


def declared_capabilities(model: Any) -> frozenset[str]:
    """The capabilities a model (class or instance) declares (none when it declares nothing)."""
    return frozenset(getattr(model, "capabilities", frozenset()))


