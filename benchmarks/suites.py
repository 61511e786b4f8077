"""The benchmarks of ``python -m benchmarks``, one function each, registered in :data:`BENCHMARKS`.

Each takes the :class:`Options` and returns table :class:`Row` s. Every comparison times
its variants interleaved in the same run (:func:`benchmarks.timing.interleaved`) and is
reported as a ratio; absolute numbers depend on the machine's load at the time.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from benchmarks.flops import pixelcnn_vae_step_flops
from benchmarks.timing import Timing, interleaved, threads_label


@dataclass
class Options:
    """Command-line options shared by every benchmark."""

    quick: bool = False  # fewer rounds and smaller sizes: a smoke check, not a measurement
    runs: tuple[str, str] | None = None  # (image run dir, speech run dir) for `evaluate`

    def rounds(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full


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


def matmul_call(size: int, dtype: torch.dtype, repeats: int = 1) -> tuple[Callable[[], object], float]:
    """``repeats`` ``size x size`` matrix products in ``dtype``, and their FLOPs (``2 n^3`` each)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    out = torch.empty(size, size, dtype=dtype)

    def call() -> None:
        for _ in range(repeats):
            torch.mm(a, b, out=out)

    return call, 2.0 * size**3 * repeats


# --------------------------------------------------------------------------------------------- (1) ceilings

def bench_ceilings(opts: Options) -> list[Row]:
    """fp32 and bf16 matrix-product GFLOP/s: the ceilings the training steps are held to."""
    size = 1024 if opts.quick else 2048
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


# --------------------------------------------------------------------------------------------- (2, 3) PixelCNN-VAE

def bench_pixelcnn(opts: Options) -> list[Row]:
    """One CMI-VAE training step of the paper's PixelCNN-VAE: the fast path (bf16 autocast,
    channels_last decoder) against the plain fp32 reference, and against the bf16 ceiling."""
    from benchmarks.reference import build_reference_trainer
    from cmivae.config import load_config
    from cmivae.training.loop import Trainer, build_trainer, train_step

    config = load_config("pixelcnn-paper", ["train.batch_size=16"] if opts.quick else [])
    batch = config.train.batch_size
    torch.manual_seed(0)
    fast = build_trainer(config)
    reference = build_reference_trainer(config)
    data = (torch.rand(batch, *fast.model.config.image_shape, generator=torch.Generator().manual_seed(0)) < 0.3)
    x_fast, x_ref = fast.to_device(data.to(torch.uint8)), reference.to_device(data.to(torch.uint8))
    ceiling, ceiling_flops = matmul_call(2048, torch.bfloat16, repeats=2 if opts.quick else 8)
    threads = torch.get_num_threads()

    def step(trainer: Trainer, x: torch.Tensor) -> Callable[[], object]:
        return lambda: train_step(trainer, x, 0)

    variants: dict[str, Callable[[], object]] = {
        "fast": step(fast, x_fast), "reference": step(reference, x_ref), "ceiling": ceiling}
    # The same fast step on the other thread count (1 if we run on all cores, else all cores).
    cores = os.cpu_count() or 1
    other = 1 if threads > 1 else cores
    if other != threads:
        def fast_other_threads() -> None:
            with num_threads(other):
                train_step(fast, x_fast, 0)
        variants["fast, other threads"] = fast_other_threads
    t = interleaved(variants, rounds=opts.rounds(2))

    counts = pixelcnn_vae_step_flops(fast.model.config, batch, critic_steps=config.objective.critic_steps,
                                     critic_hidden_dim=config.objective.critic_hidden_dim or 256)
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
            f"(2048^2 bf16 matmul timed in the same rounds: {ceil_wall:.0f} GFLOP/s, {ceil_cpu:.0f} per CPU-s)"),
    ]
    if "fast, other threads" in t:
        other_wall, other_cpu = _per_second(batch, t["fast, other threads"])
        one_wall, one_cpu, many_wall, many_cpu = (other_wall, other_cpu, fast_wall, fast_cpu)
        if other != 1:
            one_wall, one_cpu, many_wall, many_cpu = (fast_wall, fast_cpu, other_wall, other_cpu)
        rows.append(Row(name, f"fast path, 1 thread / {max(threads, other)} threads", _ratio(one_wall, many_wall),
                        f"{one_wall:.1f} vs {many_wall:.1f} images/s; CPU time: {_ratio(one_cpu, many_cpu)}"))
    return rows


# --------------------------------------------------------------------------------------------- (4) DSAE

def bench_dsae(opts: Options) -> list[Row]:
    """One CMI-VAE training step of the paper's DSAE: bf16 autocast against fp32."""
    from cmivae.config import load_config
    from cmivae.training.loop import build_trainer, train_step
    from cmivae.training.precision import cpu_has_fast_bf16

    overrides = ["train.batch_size=16"] if opts.quick else []
    torch.manual_seed(0)
    fast = build_trainer(load_config("dsae-paper", [*overrides, "train.precision=bf16"]))
    fp32 = build_trainer(load_config("dsae-paper", [*overrides, "train.precision=fp32"]))
    config = fast.config
    batch, steps, bins = config.train.batch_size, fast.model.config.num_steps, fast.model.config.x_dim
    x = torch.randn(batch, steps, bins, generator=torch.Generator().manual_seed(0))
    t = interleaved({"bf16": lambda: train_step(fast, x, 0), "fp32": lambda: train_step(fp32, x, 0)},
                    rounds=opts.rounds(5, 1))
    bf16_wall, bf16_cpu = _per_second(batch, t["bf16"])
    fp32_wall, fp32_cpu = _per_second(batch, t["fp32"])
    name = "dsae step"
    note = "" if cpu_has_fast_bf16() else " (no native bf16 on this CPU: emulated)"
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
    flops = dsae_step_flops(model_config, batch, critic_hidden_dim=now.config.objective.critic_hidden_dim or 256,
                            critic_steps=now.config.objective.critic_steps)
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

    torch.manual_seed(0)
    model = PixelCNNVAE().eval()  # the paper's architecture, fp32 weights (what `cmivae evaluate` samples from)
    decoder = model.decoder
    num_images = 100 if opts.quick else 1000
    small = 10 if opts.quick else 50
    pixels = math.prod(model.config.image_shape[1:])
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(num_images, model.z_dim, generator=generator)
    canvas = torch.zeros(num_images, *model.config.image_shape)

    @torch.no_grad()
    def forward(batch: int) -> None:
        decoder(canvas[:batch], z[:batch])

    # The naive sampler runs this forward pass once per pixel (its whole inner loop): time it on a
    # small batch and scale by the number of pixels and batches instead of running it 784 times.
    small_fwd = interleaved({"small": lambda: forward(small)}, rounds=opts.rounds(3), warmup=1)["small"]
    big_fwd = interleaved({"forward": lambda: forward(num_images)}, rounds=1, warmup=0)["forward"]
    cached_t = interleaved({
        "fp32": lambda: sample_cached(model, z, generator=torch.Generator().manual_seed(1)),
        "bf16": lambda: sample_cached(model, z, generator=torch.Generator().manual_seed(1),
                                      compute_dtype=torch.bfloat16),
    }, rounds=1, warmup=0)
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

def bench_evaluate(opts: Options) -> list[Row]:
    """Seconds of a full ``cmivae evaluate`` of one image run and one speech run
    (on copies of the run directories, so their ``eval.json`` is not touched)."""
    name = "evaluate"
    try:
        from cmivae.metrics.evaluate import evaluate_run
    except ImportError as err:
        return [Row(name, "skipped", "-", f"cmivae.metrics.evaluate is not importable ({err})")]
    if opts.runs is None:
        return [Row(name, "skipped", "-", "give --runs IMAGE_RUN SPEECH_RUN (finished run directories)")]
    rows = []
    for kind, run_dir in zip(("image run", "speech run"), opts.runs, strict=True):
        with tempfile.TemporaryDirectory() as tmp:
            copy = shutil.copytree(run_dir, f"{tmp}/run", ignore=shutil.ignore_patterns("checkpoints"))
            t = interleaved({"evaluate": lambda copy=copy: evaluate_run(copy, quiet=True)}, rounds=1, warmup=0)
        rows.append(Row(name, f"{kind}, s", f"{t['evaluate'].median_wall:.1f}",
                        f"{run_dir}; {t['evaluate'].median_cpu:.1f} CPU-s"))
    return rows


BENCHMARKS: dict[str, Callable[[Options], list[Row]]] = {
    "ceilings": bench_ceilings,
    "pixelcnn": bench_pixelcnn,
    "dsae": bench_dsae,
    "dsae-ceiling": bench_dsae_ceiling,
    "sampling": bench_sampling,
    "evaluate": bench_evaluate,
}
