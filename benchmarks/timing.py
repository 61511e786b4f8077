"""Interleaved timing on a shared machine, and the machine line of a report.

The machine these benchmarks run on is shared: other processes come and go, so one
variant timed after another can see a different machine. Every comparison therefore
times its variants *interleaved*, round by round (the order rotated each round), and
reports ratios of medians taken over the same rounds. Each call records both the wall
clock and this process's CPU time (``time.process_time``, all threads): wall time is what
a user waits; CPU time is what the process computed, which the load of *other*
processes barely changes when it runs on one thread (with several threads it also counts
threads spin-waiting for each other).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Timing:
    """Seconds per call of one variant, one entry per round."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def _synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one call; on CUDA the queued kernels are waited for before
    and after (kernels run asynchronously), so wall time is the device's time."""
    _synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    _synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(variants: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                device: torch.device | None = None) -> dict[str, Timing]:
    """Time every variant once per round, in an order rotated each round.

    Args:
        variants: name -> a call to time (each call does the whole measured work once).
        rounds: timed calls per variant.
        warmup: untimed calls per variant first (oneDNN builds its kernels on first use;
            cuDNN autotunes its algorithms on first use).
        device: the device the calls run on (CUDA calls are synchronized).
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    _synchronize(device)
    timings = {name: Timing() for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = time_call(variants[name], device)
            timings[name].wall.append(wall)
            timings[name].cpu.append(cpu)
    return timings


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def load_average() -> str:
    """``1, 5, 15``-minute load averages, or ``n/a``."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def auto_threads() -> int:
    """Intra-op threads for this machine now: all of torch's default threads when the cores
    are idle, fewer when other processes keep them busy (the 1-minute load average).

    On a shared machine every parallel region (each oneDNN convolution, each MKL product,
    each large element-wise op) needs all of its threads to be running; when another
    process holds a core, the region waits for the scheduler, and a training step made
    of hundreds of regions runs several times *slower* on 2 threads than on 1.
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(torch.get_num_threads(), cores - math.floor(busy + 0.5)))


def threads_label(threads: int) -> str:
    """``1 thread``, ``2 threads``."""
    return f"{threads} thread{'' if threads == 1 else 's'}"


def machine_line(device: torch.device | None = None) -> str:
    """CPU model, cores, torch version and threads, and native bf16 support (and the GPU)."""
    from cmivae.infra.precision import cpu_has_fast_bf16, cuda_has_native_bf16

    flags = cpu_flags()
    isa = [name for name, flag in (("AVX512-BF16", "avx512_bf16"), ("AMX-BF16", "amx_bf16")) if flag in flags]
    bf16 = f"native bf16: {'yes' if cpu_has_fast_bf16() else 'no'} ({', '.join(isa) or 'no bf16 ISA'})"
    line = (f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({threads_label(torch.get_num_threads())}), {bf16}")
    if device is not None and device.type == "cuda":
        from cmivae.infra.device import describe

        line += (f"; GPU {describe(device)}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
                 f"native bf16: {'yes' if cuda_has_native_bf16(device) else 'no'}")
    return line
