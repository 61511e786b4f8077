"""The benchmarks of ``python -m benchmarks``, one function each, registered in :data:`BENCHMARKS`.

Each takes the :class:`Options` and returns table :class:`Row` s. Every comparison times
its variants interleaved in the same run (:func:`benchmarks.timing.interleaved`) and is
reported as a ratio; absolute numbers depend on the machine's load at the time.

Every suite runs on ``--device`` (``cpu`` or ``cuda``): the same work, timed the same way
(CUDA calls synchronized), and ``__main__`` adds each suite's peak memory. On CUDA the
"ceiling" is the bf16 matmul rate of that GPU measured in the same run (an 8192^2 product),
on the CPU the 2048^2 one, so "fraction of bf16 ceiling" means the same on both.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from benchmarks.flops import pixelcnn_vae_step_flops
from benchmarks.timing import Timing, interleaved, threads_label


@dataclass
class Options:
    """Command-line options shared by every benchmark."""

    quick: bool = False  # fewer rounds and smaller sizes: a smoke check, not a measurement
    runs: tuple[str, ...] | None = None  # finished run directories for `evaluate`
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    compile_mode: str | None = None  # also time the pixelcnn step under torch.compile in this mode

    def rounds(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def overrides(self) -> list[str]:
        """Config overrides putting a preset on the benchmark's device."""
        return [f"train.device={self.device.type if self.device.index is None else self.device}"]

    def timed(self, variants: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, Timing]:
        return interleaved(variants, rounds=rounds, warmup=warmup, device=self.device)


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    measurement: str
    value: str
    note: str = ""


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator > 0 else "n/a"


def _per_second(amount: float, timing: Timing) -> tuple[float, float]:
    """``amount`` per wall second and per CPU second (medians over rounds)."""
    return amount / timing.median_wall, amount / max(timing.median_cpu, 1e-12)


@contextlib.contextmanager
def num_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def matmul_call(size: int, dtype: torch.dtype, repeats: int = 1,
                device: torch.device | None = None) -> tuple[Callable[[], object], float]:
    """``repeats`` ``size x size`` matrix products in ``dtype``, and their FLOPs (``2 n^3`` each)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    out = torch.empty(size, size, dtype=dtype, device=device)

    def call() -> None:
        for _ in range(repeats):
            torch.mm(a, b, out=out)

    return call, 2.0 * size**3 * repeats


# --------------------------------------------------------------------------------------------- (1) ceilings

def ceiling_size(opts: Options) -> int:
    """Side of the square matmul that measures a device's rate: large enough to saturate it."""
    if opts.cuda:
        return 4096 if opts.quick else 8192
    return 1024 if opts.quick else 2048


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """fp32 matmuls with (or without) TF32 tensor cores in the block (CUDA)."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def bench_ceilings(opts: Options) -> list[Row]:
    """fp32 and bf16 matrix-product GFLOP/s: the ceilings the training steps are held to."""
    if opts.cuda:
        return _cuda_ceilings(opts)
    size = ceiling_size(opts)
    fp32, flops = matmul_call(size, torch.float32)
    bf16, _ = matmul_call(size, torch.bfloat16)
    t = interleaved({"fp32": fp32, "bf16": bf16}, rounds=opts.rounds(7, 3))
    fp32_wall, fp32_cpu = _per_second(flops / 1e9, t["fp32"])
    bf16_wall, bf16_cpu = _per_second(flops / 1e9, t["bf16"])
    name, shape = "ceilings", f"{size}x{size} matmul, {threads_label(torch.get_num_threads())}"
    return [
        Row(name, "fp32 GFLOP/s", f"{fp32_wall:.1f}", f"{shape}; {fp32_cpu:.1f} per CPU-second"),
        Row(name, "bf16 GFLOP/s", f"{bf16_wall:.1f}", f"{shape}; {bf16_cpu:.1f} per CPU-second"),
        Row(name, "bf16 / fp32", _ratio(bf16_wall, fp32_wall), f"CPU time: {_ratio(bf16_cpu, fp32_cpu)}"),
    ]


def _cuda_ceilings(opts: Options) -> list[Row]:
    size = ceiling_size(opts)
    fp32, flops = matmul_call(size, torch.float32, repeats=4, device=opts.device)
    bf16, _ = matmul_call(size, torch.bfloat16, repeats=4, device=opts.device)

    def tf32_call() -> None:
        with tf32(True):
            fp32()

    def fp32_call() -> None:
        with tf32(False):
            fp32()

    t = opts.timed({"fp32": fp32_call, "tf32": tf32_call, "bf16": bf16}, rounds=opts.rounds(7, 3))
    rates = {name: flops / 1e12 / timing.median_wall for name, timing in t.items()}
    name, shape = "ceilings", f"{size}x{size} matmul on {opts.device}"
    return [
        Row(name, "fp32 TFLOP/s", f"{rates['fp32']:.1f}", f"{shape}, TF32 off"),
        Row(name, "tf32 TFLOP/s", f"{rates['tf32']:.1f}", shape),
        Row(name, "bf16 TFLOP/s", f"{rates['bf16']:.1f}", shape),
        Row(name, "bf16 / fp32", _ratio(rates["bf16"], rates["fp32"]), "wall"),
    ]


# --------------------------------------------------------------------------------------------- (2, 3) PixelCNN-VAE

def bench_pixelcnn(opts: Options) -> list[Row]:
    """One CMI-VAE training step of the paper's PixelCNN-VAE: the fast path (bf16 autocast,
    channels_last decoder) against the plain fp32 reference, and against the bf16 ceiling."""
    from benchmarks.reference import build_reference_trainer
    from cmivae.config import load_config
    from cmivae.training.loop import Trainer, build_trainer, train_step

    config = load_config("pixelcnn-paper", (["train.batch_size=16"] if opts.quick else []) + opts.overrides())
    batch = config.train.batch_size
    torch.manual_seed(0)
    fast = build_trainer(config)
    reference = build_reference_trainer(config)
    data = (torch.rand(batch, *fast.model.config.image_shape, generator=torch.Generator().manual_seed(0)) < 0.3)
    x_fast, x_ref = fast.to_device(data.to(torch.uint8)), reference.to_device(data.to(torch.uint8))
    ceiling, ceiling_flops = matmul_call(ceiling_size(opts), torch.bfloat16,
                                         repeats=2 if opts.quick else 8, device=opts.device)
    threads = torch.get_num_threads()

    def step(trainer: Trainer, x: torch.Tensor) -> Callable[[], object]:
        return lambda: train_step(trainer, x, 0)

    variants: dict[str, Callable[[], object]] = {
        "fast": step(fast, x_fast), "reference": step(reference, x_ref), "ceiling": ceiling}
    other_layout = None
    if opts.cuda:  # channels_last is a per-device choice to be measured: time the other layout too
        layout = "false" if fast.channels_last else "true"
        other_layout = build_trainer(load_config("pixelcnn-paper", (["train.batch_size=16"] if opts.quick else [])
                                                 + opts.overrides() + [f"train.channels_last={layout}"]))
        variants["fast, other layout"] = step(other_layout, other_layout.to_device(data.to(torch.uint8)))
    large = None
    if opts.cuda:  # images/s growing with the batch at the same model = per-step (launch) overhead, not FLOPs
        large = build_trainer(load_config("pixelcnn-paper", opts.overrides() + ["train.batch_size=256"]))
        x_large = large.to_device((torch.rand(256, *fast.model.config.image_shape,
                                              generator=torch.Generator().manual_seed(0)) < 0.3).to(torch.uint8))
        variants["fast, B=256"] = step(large, x_large)
    compile_seconds = None
    if opts.compile_mode:  # torch.compile of the model's forward (train.compile): its first call compiles
        compiled = build_trainer(load_config("pixelcnn-paper", (["train.batch_size=16"] if opts.quick else [])
                                             + opts.overrides() + ["train.compile=true",
                                                                   f"train.compile_mode={opts.compile_mode}"]))
        x_compiled = compiled.to_device(data.to(torch.uint8))
        compile_seconds = opts.timed({"compile": step(compiled, x_compiled)}, rounds=1, warmup=0)["compile"]
        variants["compiled"] = step(compiled, x_compiled)
    # The same fast step on the other thread count (1 if we run on all cores, else all cores).
    cores = os.cpu_count() or 1
    other = 1 if threads > 1 else cores
    if other != threads and not opts.cuda:
        def fast_other_threads() -> None:
            with num_threads(other):
                train_step(fast, x_fast, 0)
        variants["fast, other threads"] = fast_other_threads
    t = opts.timed(variants, rounds=opts.rounds(2) if not opts.cuda else opts.rounds(20, 3), warmup=1 if not opts.cuda
                   else 3)

    counts = pixelcnn_vae_step_flops(fast.model.config, batch, critic_steps=fast.objective_config.critic_steps,
                                     critic_hidden_dim=fast.objective_config.critic_hidden_dim)
    useful = counts.total_useful / 1e9
    fast_wall, fast_cpu = _per_second(batch, t["fast"])
    ref_wall, ref_cpu = _per_second(batch, t["reference"])
    ceil_wall, ceil_cpu = _per_second(ceiling_flops / 1e9, t["ceiling"])
    name = "pixelcnn step"
    detail = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in counts.useful.items())
    rows = [
        Row(name, "fast path, images/s", f"{fast_wall:.1f}",
            f"B={batch}, {fast.precision}, channels_last decoder: {fast.channels_last}; "
            f"{fast_cpu:.1f} images per CPU-second"),
        Row(name, "fp32 reference, images/s", f"{ref_wall:.1f}", f"{ref_cpu:.1f} images per CPU-second"),
        Row(name, "fast / fp32 reference", _ratio(fast_wall, ref_wall), f"CPU time: {_ratio(fast_cpu, ref_cpu)}"),
        Row(name, "useful GFLOP per step", f"{useful:.1f}",
            f"{detail}; the fp32 reference executes "
            f"{(counts.total_useful - counts.useful['decoder'] + counts.decoder_executed_full) / 1e9:.1f}"),
        Row(name, "fast path, useful GFLOP/s", f"{useful * fast_wall / batch:.1f}",
            f"{useful * fast_cpu / batch:.1f} per CPU-second"),
        Row(name, "fast path, fraction of bf16 ceiling", f"{useful * fast_wall / batch / ceil_wall:.0%}",
            f"wall; CPU time: {useful * fast_cpu / batch / ceil_cpu:.0%} "
            f"({ceiling_size(opts)}^2 bf16 matmul timed in the same rounds: {ceil_wall:.0f} GFLOP/s, "
            f"{ceil_cpu:.0f} per CPU-s)"),
    ]
    if large is not None:
        large_wall, _ = _per_second(256, t["fast, B=256"])
        rows.append(Row(name, "fast path B=256 / B=64, images/s", _ratio(large_wall, fast_wall),
                        f"{large_wall:.0f} vs {fast_wall:.0f} images/s (> 1: per-step overhead, e.g. kernel launches, "
                        f"limits B={batch})"))
    if compile_seconds is not None:
        compiled_wall, _ = _per_second(batch, t["compiled"])
        rows.append(Row(name, f"torch.compile ({opts.compile_mode}) / eager", _ratio(compiled_wall, fast_wall),
                        f"{compiled_wall:.0f} vs {fast_wall:.0f} images/s; first call (compilation) "
                        f"{compile_seconds.median_wall:.0f} s"))
    if other_layout is not None:
        other_wall, _ = _per_second(batch, t["fast, other layout"])
        rows.append(Row(name, f"channels_last {fast.channels_last} / {other_layout.channels_last}",
                        _ratio(fast_wall, other_wall),
                        f"{fast_wall:.0f} vs {other_wall:.0f} images/s (> 1: the default layout wins on this device)"))
    if "fast, other threads" in t:
        other_wall, other_cpu = _per_second(batch, t["fast, other threads"])
        one_wall, one_cpu, many_wall, many_cpu = (other_wall, other_cpu, fast_wall, fast_cpu)
        if other != 1:
            one_wall, one_cpu, many_wall, many_cpu = (fast_wall, fast_cpu, other_wall, other_cpu)
        rows.append(Row(name, f"fast path, 1 thread / {max(threads, other)} threads", _ratio(one_wall, many_wall),
                        f"{one_wall:.1f} vs {many_wall:.1f} images/s; CPU time: {_ratio(one_cpu, many_cpu)}"))
    return rows


# --------------------------------------------------------------------------------------------- (3b) every preset

def _critic_sizes(trainer: object) -> dict[str, int]:
    """``critic_steps`` and ``critic_hidden_dim`` of a trainer's *resolved* objective config
    (``config.objective`` holds only the params as given); the paper's 2 and 256 for an
    objective without a critic."""
    resolved = trainer.objective_config  # type: ignore[attr-defined]
    return {"critic_steps": getattr(resolved, "critic_steps", 2),
            "critic_hidden_dim": getattr(resolved, "critic_hidden_dim", None) or 256}


STEP_PRESETS = ("pixelcnn-paper", "pixelcnn-cpu", "dsae-paper", "dsae-cpu")
STEP_OBJECTIVES = ("elbo", "beta", "mi", "cmi")


def bench_steps(opts: Options) -> list[Row]:
    """One training step of every preset and objective at the preset's batch size and the
    device's default precision: images (segments) per second, and for the PixelCNN-VAE
    presets the share of the bf16 matmul rate timed in the same rounds."""
    from cmivae.config import load_config
    from cmivae.training.loop import build_trainer, train_step

    ceiling, ceiling_flops = matmul_call(ceiling_size(opts), torch.bfloat16, repeats=2 if opts.quick else 4,
                                         device=opts.device)
    rows: list[Row] = []
    for preset in STEP_PRESETS:
        variants: dict[str, Callable[[], object]] = {"ceiling": ceiling}
        trainers = {}
        for objective in STEP_OBJECTIVES:
            overrides = [f"objective.name={objective}", *opts.overrides()]
            if opts.quick:
                overrides.append("train.batch_size=16")
            torch.manual_seed(0)
            trainer = build_trainer(load_config(preset, overrides))
            trainers[objective] = trainer
            if preset.startswith("pixelcnn"):
                x = (torch.rand(trainer.config.train.batch_size, *trainer.model.config.image_shape,
                                generator=torch.Generator().manual_seed(0)) < 0.3).to(torch.uint8)
            else:
                model_config = trainer.model.config
                x = torch.randn(trainer.config.train.batch_size, model_config.num_steps, model_config.x_dim,
                                generator=torch.Generator().manual_seed(0))
            x = trainer.to_device(x)
            variants[objective] = lambda trainer=trainer, x=x: train_step(trainer, x, 0)
        t = opts.timed(variants, rounds=opts.rounds(3, 1) if not opts.cuda else opts.rounds(20, 3),
                       warmup=1 if not opts.cuda else 3)
        ceil_wall, _ = _per_second(ceiling_flops / 1e9, t["ceiling"])
        for objective, trainer in trainers.items():
            batch = trainer.config.train.batch_size
            wall, per_cpu = _per_second(batch, t[objective])
            unit = "images/s" if preset.startswith("pixelcnn") else "segments/s"
            note = f"B={batch}, {trainer.precision}; {per_cpu:.1f} per CPU-second"
            if preset.startswith("pixelcnn"):
                counts = pixelcnn_vae_step_flops(trainer.model.config, batch, **_critic_sizes(trainer),
                                                 with_critic=objective == "cmi")
                useful = counts.total_useful / 1e9 * wall / batch
                note += f"; {useful / ceil_wall:.0%} of the bf16 matmul rate ({ceil_wall:.0f} GFLOP/s)"
            rows.append(Row("steps", f"{preset} {objective}, {unit}", f"{wall:.1f}", note))
    return rows


# --------------------------------------------------------------------------------------------- (4) DSAE

def bench_dsae(opts: Options) -> list[Row]:
    """One CMI-VAE training step of the paper's DSAE: bf16 autocast against fp32."""
    from cmivae.config import load_config
    from cmivae.infra.precision import cpu_has_fast_bf16
    from cmivae.training.loop import build_trainer, train_step

    overrides = (["train.batch_size=16"] if opts.quick else []) + opts.overrides()
    torch.manual_seed(0)
    fast = build_trainer(load_config("dsae-paper", [*overrides, "train.precision=bf16"]))
    fp32 = build_trainer(load_config("dsae-paper", [*overrides, "train.precision=fp32"]))
    config = fast.config
    batch, steps, bins = config.train.batch_size, fast.model.config.num_steps, fast.model.config.x_dim
    x = torch.randn(batch, steps, bins, generator=torch.Generator().manual_seed(0)).to(opts.device)
    t = opts.timed({"bf16": lambda: train_step(fast, x, 0), "fp32": lambda: train_step(fp32, x, 0)},
                   rounds=opts.rounds(5, 1) if not opts.cuda else opts.rounds(20, 3), warmup=1 if not opts.cuda else 3)
    bf16_wall, bf16_cpu = _per_second(batch, t["bf16"])
    fp32_wall, fp32_cpu = _per_second(batch, t["fp32"])
    name = "dsae step"
    note = "" if cpu_has_fast_bf16() or opts.cuda else " (no native bf16 on this CPU: emulated)"
    return [
        Row(name, "bf16 autocast, segments/s", f"{bf16_wall:.1f}",
            f"B={batch}, T={steps}, F={bins}{note}; {bf16_cpu:.1f} per CPU-second"),
        Row(name, "fp32, segments/s", f"{fp32_wall:.1f}", f"{fp32_cpu:.1f} per CPU-second"),
        Row(name, "bf16 / fp32", _ratio(bf16_wall, fp32_wall), f"CPU time: {_ratio(bf16_cpu, fp32_cpu)}"),
    ]


def bench_dsae_ceiling(opts: Options) -> list[Row]:
    """The DSAE CMI-VAE step (paper model, B=256, T=20, F=201, bf16) as a share of the bf16
    matmul rate timed in the same rounds, with the cell loop of today and of before (issue 16)."""
    import copy

    from benchmarks.flops import dsae_step_flops
    from benchmarks.reference import ReferenceDynamicEncoder
    from cmivae.config import load_config
    from cmivae.training.loop import build_trainer, train_step

    batch = 32 if opts.quick else 256
    torch.manual_seed(0)
    now = build_trainer(load_config("dsae-paper", [f"train.batch_size={batch}", "train.precision=bf16"]))
    before = copy.deepcopy(now)
    before.model.dynamic_encoder.forward = ReferenceDynamicEncoder(before.model.dynamic_encoder).forward
    model_config = now.model.config
    x = torch.randn(batch, model_config.num_steps, model_config.x_dim, generator=torch.Generator().manual_seed(0))
    size = 1024 if opts.quick else 2048
    matmul, matmul_flops = matmul_call(size, torch.bfloat16)
    t = interleaved({"now": lambda: train_step(now, x, 0), "before": lambda: train_step(before, x, 0),
                     "bf16 matmul": matmul}, rounds=opts.rounds(5, 1))
    flops = dsae_step_flops(model_config, batch, **_critic_sizes(now))
    ceiling_wall, ceiling_cpu = _per_second(matmul_flops / 1e9, t["bf16 matmul"])
    rows = []
    for label in ("before", "now"):
        wall, cpu = _per_second(flops.total_useful / 1e9, t[label])
        rows.append(Row("dsae ceiling", f"{label}: share of bf16 matmul rate", f"{100 * cpu / ceiling_cpu:.0f}%",
                        f"per CPU-second ({100 * wall / ceiling_wall:.0f}% wall); {cpu:.1f} useful GFLOP/s, "
                        f"{batch / t[label].median_cpu:.0f} segments per CPU-second"))
    parts = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in flops.useful.items())
    rows += [
        Row("dsae ceiling", "now / before", _ratio(t["before"].median_cpu, t["now"].median_cpu), "CPU time"),
        Row("dsae ceiling", "useful GFLOP per step", f"{flops.total_useful / 1e9:.1f}",
            f"B={batch}, T={model_config.num_steps}, F={model_config.x_dim}: {parts}"),
        Row("dsae ceiling", "bf16 matmul GFLOP/s", f"{ceiling_cpu:.1f}",
            f"{size}x{size}, per CPU-second, {threads_label(torch.get_num_threads())}"),
    ]
    return rows


# --------------------------------------------------------------------------------------------- (4b) video DSAE

VIDEO_PRESETS = ("dsae-sprites-paper", "dsae-sprites-cpu")


def video_batch_size(preset: str, opts: Options) -> int:
    """Sequences per benchmark step: the preset's batch on a GPU; on the CPU 8 at 64x64 (a step of the preset's
    64 would take ~2 minutes on one core) and the preset's 32 at 32x32; 2 and 4 with ``--quick``."""
    if opts.cuda:
        return 8 if opts.quick else 64
    paper = preset == "dsae-sprites-paper"
    return (2 if paper else 4) if opts.quick else (8 if paper else 32)


def bench_video_dsae(opts: Options) -> list[Row]:
    """One CMI-VAE training step of the video DSAE at 64x64 (``dsae-sprites-paper``) and at the CPU preset's
    32x32 (``dsae-sprites-cpu``): sequences per second and the share of the bf16 matmul rate timed in the same
    rounds (useful FLOPs: :func:`benchmarks.flops.video_dsae_step_flops`), at the device's default precision
    and layout, and (not with ``--quick``) the same step in the other memory layout (``train.channels_last``)."""
    from benchmarks.flops import video_dsae_step_flops
    from cmivae.config import load_config
    from cmivae.training.loop import Trainer, build_trainer, train_step

    ceiling, ceiling_flops = matmul_call(ceiling_size(opts), torch.bfloat16, repeats=2 if opts.quick else 4,
                                         device=opts.device)
    rows: list[Row] = []
    for preset in VIDEO_PRESETS:
        batch = video_batch_size(preset, opts)
        trainers: dict[str, Trainer] = {}
        layouts = (("fast", "auto"),) if opts.quick else (("fast", "auto"), ("other layout", None))  # quick: 1 model
        for label, layout in layouts:
            if layout is None:  # the other memory layout than the one "auto" chose
                layout = "false" if trainers["fast"].channels_last else "true"
            torch.manual_seed(0)
            trainers[label] = build_trainer(load_config(preset, [*opts.overrides(), f"train.batch_size={batch}",
                                                                 f"train.channels_last={layout}"]))
        model_config = trainers["fast"].model.config
        x = torch.randint(0, 256, (batch, *trainers["fast"].model.input_shape), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))  # (B, T, C, H, W)
        variants: dict[str, Callable[[], object]] = {"ceiling": ceiling}
        for label, trainer in trainers.items():
            on_device = trainer.to_device(x)  # stays uint8: the model converts with to_unit_float
            variants[label] = lambda trainer=trainer, on_device=on_device: train_step(trainer, on_device, 0)
        t = opts.timed(variants, rounds=opts.rounds(2, 1) if not opts.cuda else opts.rounds(20, 3),
                       warmup=1 if not opts.cuda else 3)
        objective = trainers["fast"].objective_config
        counts = video_dsae_step_flops(model_config, batch, critic_hidden_dim=objective.critic_hidden_dim or 256,
                                       critic_steps=objective.critic_steps)
        useful = counts.total_useful / 1e9
        ceil_wall, ceil_cpu = _per_second(ceiling_flops / 1e9, t["ceiling"])
        wall, per_cpu = _per_second(batch, t["fast"])
        fast = trainers["fast"]
        name, size = "video dsae step", f"{model_config.frame_size}x{model_config.frame_size}"
        parts = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in counts.useful.items())
        if opts.cuda:
            share = useful * wall / batch / ceil_wall
            share_note = "wall"
        else:  # per CPU-second, as the dsae-ceiling rows: the machine is shared, CPU time moves less with its load
            share = useful * per_cpu / batch / ceil_cpu
            share_note = f"per CPU-second (wall: {useful * wall / batch / ceil_wall:.0%})"
        rows += [
            Row(name, f"{size} ({preset}), sequences/s", f"{wall:.2f}",
                f"B={batch}, T={model_config.num_steps}, {fast.precision}, channels_last {fast.channels_last}; "
                f"{per_cpu:.2f} per CPU-second"),
            Row(name, f"{size}, useful GFLOP per step", f"{useful:.1f}", parts),
            Row(name, f"{size}, share of the bf16 matmul rate", f"{share:.0%}",
                f"{share_note}; {useful * per_cpu / batch:.1f} useful GFLOP per CPU-second against the "
                f"{ceiling_size(opts)}^2 bf16 matmul's {ceil_cpu:.0f} timed in the same rounds"),
        ]
        if "other layout" in t:
            other_wall, other_cpu = _per_second(batch, t["other layout"])
            layouts_label = f"channels_last {fast.channels_last} / {trainers['other layout'].channels_last}"
            mine, other, unit = (wall, other_wall, "/s") if opts.cuda else (per_cpu, other_cpu, " per CPU-second")
            rows.append(Row(name, f"{size}, {layouts_label}", _ratio(mine, other),
                            f"{mine:.2f} vs {other:.2f} sequences{unit} (> 1: the default layout wins); wall "
                            f"{_ratio(wall, other_wall)}"))
    return rows


# --------------------------------------------------------------------------------------------- (5) sampling

def bench_sampling(opts: Options) -> list[Row]:
    """Cached against naive PixelCNN sampling of the 1000 mCAS images (Sec. 5.3), and
    cached sampling against one decoder forward pass over the same batch."""
    name = "sampling"
    try:
        from cmivae.sampling import sample_cached
    except ImportError as err:
        return [Row(name, "skipped", "-", f"cmivae.sampling is not importable ({err})")]
    from cmivae.models.pixelcnn_vae import PixelCNNVAE

    if opts.cuda:  # the switches `cmivae evaluate` runs under (train.precision=auto; they are process-wide)
        from cmivae.infra.device import apply_backend_settings, backend_settings
        from cmivae.infra.precision import resolve_precision

        apply_backend_settings(opts.device, backend_settings(opts.device, resolve_precision("auto", opts.device)))
    torch.manual_seed(0)
    # The paper's architecture, fp32 weights (what `cmivae evaluate` samples from).
    model = PixelCNNVAE().eval().to(opts.device)
    decoder = model.decoder
    num_images = 100 if opts.quick else 1000
    small = 10 if opts.quick else 50
    pixels = math.prod(model.config.image_shape[1:])
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(num_images, model.z_dim, generator=generator).to(opts.device)
    canvas = torch.zeros(num_images, *model.config.image_shape, device=opts.device)

    def uniforms() -> torch.Generator:
        return torch.Generator(device=opts.device).manual_seed(1)

    @torch.no_grad()
    def forward(batch: int) -> None:
        decoder(canvas[:batch], z[:batch])

    # The naive sampler runs this forward pass once per pixel (its whole inner loop): time it on a
    # small batch and scale by the number of pixels and batches instead of running it 784 times.
    small_fwd = opts.timed({"small": lambda: forward(small)}, rounds=opts.rounds(3), warmup=1)["small"]
    big_fwd = opts.timed({"forward": lambda: forward(num_images)}, rounds=1 if not opts.cuda else 3,
                         warmup=0 if not opts.cuda else 1)["forward"]
    cached_t = opts.timed({
        "fp32": lambda: sample_cached(model, z, generator=uniforms()),
        "bf16": lambda: sample_cached(model, z, generator=uniforms(), compute_dtype=torch.bfloat16),
    }, rounds=1 if not opts.cuda else opts.rounds(3), warmup=0 if not opts.cuda else 1)
    cached, cached_bf16 = cached_t["fp32"], cached_t["bf16"]
    naive_wall = small_fwd.median_wall * pixels * num_images / small
    naive_cpu = small_fwd.median_cpu * pixels * num_images / small
    return [
        Row(name, f"cached, {num_images} images, s", f"{cached.median_wall:.1f}",
            f"fp32; {cached.median_cpu:.1f} CPU-s"),
        Row(name, f"naive, {num_images} images, s (estimated)", f"{naive_wall:.0f}",
            f"{pixels} forward passes of B={small}, scaled x{num_images // small}; {naive_cpu:.0f} CPU-s"),
        Row(name, "naive / cached", _ratio(naive_wall, cached.median_wall),
            f"CPU time: {_ratio(naive_cpu, cached.median_cpu)}"),
        Row(name, "cached, bf16 compute / fp32", _ratio(cached_bf16.median_wall, cached.median_wall),
            f"{cached_bf16.median_wall:.1f} s; CPU time: {_ratio(cached_bf16.median_cpu, cached.median_cpu)}"),
        Row(name, f"cached / one forward pass (B={num_images})",
            _ratio(cached.median_wall, big_fwd.median_wall),
            f"fp32 forward {big_fwd.median_wall:.1f} s; CPU time: "
            f"{_ratio(cached.median_cpu, big_fwd.median_cpu)}"),
    ]


# --------------------------------------------------------------------------------------------- (6) evaluate

def _on_device(run_copy: str, device: torch.device) -> str:
    """The copied run's config.json with ``train.device`` set to the benchmark's device; its kind."""
    path = os.path.join(run_copy, "config.json")
    with open(path) as f:
        saved = json.load(f)
    saved["config"]["train"]["device"] = device.type if device.index is None else str(device)
    with open(path, "w") as f:
        json.dump(saved, f)
    return "speech run" if saved["config"]["data"]["name"] not in ("mnist", "fashion-mnist") else "image run"


def bench_evaluate(opts: Options) -> list[Row]:
    """Seconds of a full ``cmivae evaluate`` of each run given with ``--runs`` (an image run,
    a speech run, or both), on copies of the run directories (their ``eval.json`` is not
    touched) with ``train.device`` set to ``--device``."""
    name = "evaluate"
    try:
        from cmivae.metrics.evaluate import evaluate_run
    except ImportError as err:
        return [Row(name, "skipped", "-", f"cmivae.metrics.evaluate is not importable ({err})")]
    if not opts.runs:
        return [Row(name, "skipped", "-", "give --runs RUN [RUN] (finished run directories)")]
    rows = []
    for run_dir in opts.runs:
        with tempfile.TemporaryDirectory() as tmp:
            copy = shutil.copytree(run_dir, f"{tmp}/run", ignore=shutil.ignore_patterns("checkpoints"))
            kind = _on_device(copy, opts.device)
            t = opts.timed({"evaluate": lambda copy=copy: evaluate_run(copy, quiet=True)}, rounds=1, warmup=0)
        rows.append(Row(name, f"{kind}, s", f"{t['evaluate'].median_wall:.1f}",
                        f"{run_dir}; {t['evaluate'].median_cpu:.1f} CPU-s"))
    return rows


BENCHMARKS: dict[str, Callable[[Options], list[Row]]] = {
    "ceilings": bench_ceilings,
    "pixelcnn": bench_pixelcnn,
    "steps": bench_steps,
    "dsae": bench_dsae,
    "dsae-ceiling": bench_dsae_ceiling,
    "video-dsae": bench_video_dsae,
    "sampling": bench_sampling,
    "evaluate": bench_evaluate,
}
