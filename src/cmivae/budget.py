"""The memory a run will need, estimated from its resolved config before anything is built.

A config can ask for far more than any machine holds (``model.z_dim=1000000``,
``model.channels=1e11``, ``objective.critic_hidden_dim=1e7``): building it ends in an allocator
traceback, or worse, a run that swaps for hours and then cannot even write its SIGTERM
checkpoint. :func:`check_budget` (called by :func:`cmivae.training.loop.fit` before the run
directory, the data or the model exists) refuses such a config in one line with the estimate
and the limit: the memory of the machine (or of its GPU), or ``train.max_memory_gb``.

Each model family states its own :class:`Footprint` through its class
(``PixelCNNVAE.footprint(config)``, ``DSAE.footprint(config)``, ``VideoDSAE.footprint(config)``: exact
parameter counts, the activation values one example keeps for the backward pass and how many of them stay
fp32 under a 16-bit autocast; ``input_shape_of(config)``: one example's x), and each objective config with
a critic its critic's (``footprint(z_dim, s_shape, x_shape)``). Every registered family states them
(``tests/test_budget.py`` enumerates the registry); a model class without them (a family being written)
is not checked. The bytes of a training step, in the precision the run resolves (:func:`run_precision`:
``train.precision`` on ``train.device`` by :func:`cmivae.infra.precision.resolve_precision`; ``auto`` is
bf16 on a CPU or GPU with native bf16), are then

    RUNTIME_BYTES (0.125 GiB: what a process's first training steps add beyond the run's tensors;
    measured 0.10-0.13 GiB, the intercept of the two batch sizes below, every family and precision)
  + 16 B per parameter (fp32 weights, their gradients, Adam's two moments)
    (+ 2 B per parameter under bf16/fp16: autocast's cached 16-bit copy of each weight)
  + ACTIVATION_FACTOR x batch_size x the bytes of one example's kept activations:
    fp32/tf32: 4 B each; bf16/fp16: 2 B each, but 4 B for ``Footprint.full_precision`` (LSTM
    workspaces and states, the DSAE's fp32 gates, log-densities, frames as float),

where :data:`ACTIVATION_FACTOR` counts the activation gradients and temporaries of the backward
pass next to the kept forward tensors. It is an estimate (no allocator overhead, no data set):
good to the factor that separates a run that fits from one that cannot, not to the megabyte, and
meant to stay above the truth (an over-estimate refuses a run that would have fit; an under-estimate
lets an OOM through). The footprints are tested against autograd's saved tensors of a real loss in
fp32 and bf16 (``tests/test_budget.py``: at least 0.9x of them per example, every family). Measured
(``OMP_NUM_THREADS=1 python -m benchmarks.budget_peak PRESET --set train.batch_size=B --set
train.precision=P``: the peak resident memory a trainer and its first training steps add, one thread,
2-core AVX512-BF16 CPU), estimate / measured:

    preset               batch   bf16                  fp32
    pixelcnn-cpu         16      0.196/0.155 = 1.27x   0.231/0.167 = 1.38x
    pixelcnn-cpu         64      0.311/0.222 = 1.40x   0.459/0.278 = 1.65x
    dsae-cpu             16      0.171/0.130 = 1.32x   0.172/0.121 = 1.42x
    dsae-cpu             64      0.286/0.174 = 1.65x   0.291/0.168 = 1.73x
    dsae-cpu             256     0.747/0.315 = 2.37x   0.768/0.348 = 2.21x
    dsae-sprites-cpu     8       0.292/0.263 = 1.11x   0.334/0.304 = 1.10x
    dsae-sprites-cpu     32      0.508/0.421 = 1.21x   0.710/0.602 = 1.18x
    dsae-sprites-paper   4       4.00/3.66 = 1.09x     4.31/3.76 = 1.15x
    dsae-sprites-paper   8       4.71/4.03 = 1.17x     (not run)

(GiB; before, one fp32 estimate for every precision: ``dsae-sprites-cpu`` 0.546 GiB at batch 32, 1.31x in
bf16 and 0.95x in fp32; ``dsae-cpu`` 0.043 GiB at batch 64, 0.25x, the LSTMs' workspaces undercounted.)
The speech DSAE is over-estimated most: an LSTM's backward holds little beyond what its forward kept, so
ACTIVATION_FACTOR doubles its share. ``dsae-sprites-paper`` at its batch 64: 14.6 GiB in bf16, 24.9 GiB
in fp32 (refused on a 24 GiB machine in fp32 only).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmivae.infra.errors import ConfigError

GIB = 2**30
BYTES_PER_PARAMETER = 16  # fp32 weight + gradient + Adam's exp_avg and exp_avg_sq
AUTOCAST_BYTES_PER_PARAMETER = 2  # a 16-bit autocast's cached copy of each weight (bf16/fp16)
BYTES_PER_ACTIVATION = 4  # an fp32 activation value (any precision: Footprint.full_precision)
AUTOCAST_BYTES_PER_ACTIVATION = 2  # a bf16/fp16 activation value under a 16-bit autocast
ACTIVATION_FACTOR = 2  # forward tensors kept for backward + their gradients during the backward pass
RUNTIME_BYTES = GIB // 8  # what the first training steps add beyond the run's tensors (measured 0.10-0.13 GiB)


@dataclass(frozen=True)
class Footprint:
    """What one part of a run holds: ``parameters`` (a count) and ``activations`` (values one
    example keeps for the backward pass), of which ``full_precision`` stay fp32 under a 16-bit
    autocast (LSTM states and workspaces, fp32 gates, log-densities, frames as float); the rest
    (convolution and matmul outputs, their norms and activations) are 16-bit there."""

    parameters: int = 0
    activations: int = 0
    full_precision: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.full_precision <= self.activations:
            raise ValueError(f"Footprint.full_precision ({self.full_precision}) must be between 0 and "
                             f"activations ({self.activations}): it counts the activations kept in fp32")

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.parameters + other.parameters, self.activations + other.activations,
                         self.full_precision + other.full_precision)

    def activation_bytes(self, precision: str) -> int:
        """Bytes of one example's kept activations in a resolved ``train.precision`` (``bf16``/``fp16``:
        16-bit but for ``full_precision``; ``fp32``/``tf32``: all fp32)."""
        if not autocasts(precision):
            return BYTES_PER_ACTIVATION * self.activations
        return (AUTOCAST_BYTES_PER_ACTIVATION * (self.activations - self.full_precision)
                + BYTES_PER_ACTIVATION * self.full_precision)


def autocasts(precision: str) -> bool:
    """Whether a resolved ``train.precision`` runs under a 16-bit autocast
    (:data:`cmivae.infra.precision.AUTOCAST_DTYPES`: ``bf16``, ``fp16``)."""
    from cmivae.infra.precision import AUTOCAST_DTYPES

    return precision in AUTOCAST_DTYPES


def run_precision(config: Any) -> str:
    """The precision a config's run computes in: ``train.precision`` resolved on ``train.device`` by
    :func:`cmivae.infra.precision.resolve_precision` (``auto``: bf16 where the device computes it
    natively, else fp16 on CUDA, fp32 on the CPU), as the trainer resolves it.

    Raises:
        ConfigError: ``train.device`` names a device that is not there (as the trainer would).
    """
    from cmivae.infra.precision import resolve_device, resolve_precision

    return resolve_precision(config.train.precision, resolve_device(config.train.device))


@dataclass(frozen=True)
class Estimate:
    """The estimated bytes of a training step of a resolved config, by part."""

    model: Footprint
    critic: Footprint
    batch_size: int
    precision: str = "fp32"  # resolved (run_precision): bf16, fp16, tf32 or fp32

    @property
    def parameters(self) -> int:
        return self.model.parameters + self.critic.parameters

    @property
    def parameter_bytes(self) -> int:
        """Weights, gradients, Adam's moments, and a 16-bit autocast's weight copies."""
        per_parameter = BYTES_PER_PARAMETER + (AUTOCAST_BYTES_PER_PARAMETER if autocasts(self.precision) else 0)
        return per_parameter * self.parameters

    @property
    def activation_bytes(self) -> int:
        """The batch's kept activations and their gradients."""
        return ACTIVATION_FACTOR * self.batch_size * (self.model + self.critic).activation_bytes(self.precision)

    @property
    def bytes(self) -> int:
        return RUNTIME_BYTES + self.parameter_bytes + self.activation_bytes

    def describe(self) -> str:
        """``~12.3 GiB (2.1e+09 parameters, 3.4e+08 activation values per example at
        train.batch_size=64 in bf16)``."""
        return (f"~{self.bytes / GIB:.3g} GiB ({self.parameters:.3g} parameters, "
                f"{self.model.activations + self.critic.activations:.3g} activation values per example at "
                f"train.batch_size={self.batch_size} in {self.precision})")


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    """Parameters of ``nn.Linear(n_in, n_out)``."""
    return n_in * n_out + (n_out if bias else 0)


def conv(n_in: int, n_out: int, taps: int) -> int:
    """Parameters of a convolution with ``taps`` kernel taps (``k * k`` in 2-D) and a bias."""
    return n_in * n_out * taps + n_out


def lstm(n_in: int, hidden: int, directions: int = 1) -> int:
    """Parameters of ``nn.LSTM(n_in, hidden)`` (one layer; two biases per gate)."""
    return directions * (4 * hidden * (n_in + hidden) + 8 * hidden)


def lstm_activations(n_in: int, hidden: int, directions: int = 1) -> int:
    """Values one frame of ``nn.LSTM(n_in, hidden)`` (one layer) keeps for backward, per direction: oneDNN's
    workspace (gates and states), the input and the output, and a frame's share of the initial and final
    states. Measured per direction (``tests/test_budget.py``): 224-2287 fp32 values for hidden 8-100 and
    n_in 8-201 at T = 10, 0.7-0.8x that under bf16 autocast (counted as fp32: ``full_precision``); this
    bound is 1.09-1.56x the measurement."""
    return directions * (20 * hidden + 8 * n_in + 64)


def estimate(resolved: Any, model_class: Any, precision: str | None = None) -> Estimate:
    """The :class:`Estimate` of a :class:`cmivae.registry.Resolved` config whose model is
    ``model_class`` (``registry.MODELS[name]``), from the model class's and the objective
    config's footprints, without building either, in ``precision`` (default: the run's,
    :func:`run_precision`).

    Raises:
        AttributeError: the model class states no ``footprint`` (see :func:`states_footprint`).
        ConfigError: ``train.device`` names a device that is not there.
    """
    z_dim, s_shape = model_class.latent_shapes(resolved.model)
    critic = getattr(resolved.objective, "footprint", None)  # objectives without a critic have none
    x_shape = model_class.input_shape_of(resolved.model)
    return Estimate(model_class.footprint(resolved.model),
                    critic(z_dim, tuple(s_shape), tuple(x_shape)) if critic is not None else Footprint(),
                    resolved.config.train.batch_size,
                    precision if precision is not None else run_precision(resolved.config))


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 ``memory.max``, v1 ``limit_in_bytes``), if any."""
    for path in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


def machine_memory(device: str = "cpu") -> tuple[int, str] | None:
    """``(bytes, what)`` of the memory a run on ``device`` can use: the GPU's for ``cuda[:N]``,
    else the physical memory (or the cgroup limit, whichever is smaller); None if unknown."""
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
            return int(torch.cuda.get_device_properties(index).total_memory), f"the memory of GPU {index}"
        return None
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    limit = _cgroup_limit()
    if limit is not None and limit < physical:
        return limit, "this process's cgroup memory limit"
    return physical, "this machine's memory"


def states_footprint(model_class: Any) -> bool:
    """Whether a model class states its memory (``footprint`` and ``input_shape_of``)."""
    return callable(getattr(model_class, "footprint", None)) and callable(getattr(model_class, "input_shape_of", None))


def check_budget(resolved: Any, model_class: Any, available: tuple[int, str] | None = None) -> Estimate | None:
    """Refuse a config whose training step cannot fit: more than ``train.max_memory_gb`` (when
    set), or more than the memory of the machine (GPU) it runs on. Returns the estimate (None for
    a model class that states no footprint: nothing is checked).

    Args:
        resolved: a :class:`cmivae.registry.Resolved` config.
        model_class: its model's class (``registry.MODELS[resolved.config.model.name]``).
        available: ``(bytes, what)`` to compare with; default :func:`machine_memory` of the
            config's device (``auto``: the GPU when there is one).

    Raises:
        ConfigError: the estimate exceeds the limit (exit 2), naming both and what to lower (and
            ``train.precision=bf16`` for an fp32 run that would fit in bf16).
    """
    config = resolved.config
    if not states_footprint(model_class):
        return None  # a model family that does not state its footprint cannot be checked
    needed = estimate(resolved, model_class)
    limits: list[tuple[int, str]] = []
    limit_gb = getattr(config.train, "max_memory_gb", None)
    if limit_gb is not None:
        limits.append((int(limit_gb * GIB), f"train.max_memory_gb={limit_gb:g}"))
    if available is None:
        from cmivae.infra.device import resolve_device

        available = machine_memory(str(resolve_device(config.train.device)))
    if available is not None:
        limits.append(available)
    over = [limit for limit in limits if needed.bytes > limit[0]]
    if not over:
        return needed
    limit = min(over)
    half = Estimate(needed.model, needed.critic, needed.batch_size, "bf16")  # what a 16-bit run would need
    fits_in_bf16 = not autocasts(needed.precision) and all(half.bytes <= bound for bound, _ in limits)
    raise ConfigError(f"this config needs {needed.describe()}, more than {limit[1]} ({limit[0] / GIB:.3g} GiB); "
                      f"lower the largest model or objective sizes, or train.batch_size (`cmivae show-config` "
                      f"prints them)" + (f", or set train.precision=bf16 (~{half.bytes / GIB:.3g} GiB)"
                                         if fits_in_bf16 else ""))


def spatial_after_stride2(size: int, times: int) -> int:
    """Rows (or columns) after ``times`` stride-2 convolutions with padding 1 (``ceil(size / 2)`` each)."""
    for _ in range(times):
        size = math.ceil(size / 2)
    return size
