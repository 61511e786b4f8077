"""How many CPU threads each process computes with: ``--threads N`` or ``--threads auto``.

One owner for the thread choice of ``cmivae train``, ``evaluate`` and ``sweep``. On a CPU the
right count depends on what else runs: measured on the 2-core development machine
(``BENCHMARKS.md``), two threads give ~1.95x one thread on free cores, but with other
processes on the cores one thread per process, processes side by side, beats two threads
per process by 2.5-4x (threads that wait for a busy core stall the whole step). So ``auto``
measures the load first:

- ``OMP_NUM_THREADS`` set in the environment wins (the user's explicit choice);
- a run that resumes from a checkpoint keeps the count it started with (recorded in its
  ``config.json``): only then is the resumed run bit-identical to an uninterrupted one;
- else the cores that other processes keep busy are measured over a short window from
  ``/proc/stat`` (the load average where there is no ``/proc``; nothing: the cores count as
  free), and each of ``jobs`` processes gets ``max(1, free cores // jobs)`` threads, where
  free cores = cores - busy cores rounded to the nearest core.

The machine kind can change between sessions; nothing here assumes a core count.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cmivae.infra.errors import ConfigError

AUTO = "auto"
SAMPLE_SECONDS = 0.25  # the window over which /proc/stat is read; short next to any run
# The most threads per core --threads accepts: hyperthreads and a little oversubscription are fine, a count far
# above it only makes the OpenMP runtime allocate a stack per thread (10**9 ended in its out-of-memory text).
MAX_THREADS_PER_CORE = 4


@dataclass(frozen=True)
class ThreadChoice:
    """Threads per process and why (printed at the start of a run or sweep)."""

    threads: int
    reason: str


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times(stat: Path) -> tuple[int, int] | None:
    """``(busy, total)`` jiffies of the first (all-CPU) line of ``/proc/stat``, or None."""
    try:
        fields = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def busy_cores(n_cores: int, seconds: float = SAMPLE_SECONDS, stat: Path = Path("/proc/stat")) -> float | None:
    """How many cores are busy right now: the busy share of all CPU time over ``seconds``,
    times ``n_cores``; the 1-minute load average where ``/proc/stat`` is missing; None when
    neither exists. Called before this process computes, so the load is other processes'."""
    first = _cpu_times(stat)
    if first is not None:
        time.sleep(seconds)
        second = _cpu_times(stat)
        if second is not None and second[1] > first[1]:
            return n_cores * (second[0] - first[0]) / (second[1] - first[1])
    try:
        return min(float(n_cores), os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def parse_threads(spec: str | int, n_cores: int | None = None) -> int | None:
    """``--threads``: a positive count (a string of digits counts) of at most
    :data:`MAX_THREADS_PER_CORE` per core, or None for ``auto``.

    Raises:
        ConfigError: neither a positive integer nor ``auto``, or a count above the bound.
    """
    if isinstance(spec, str) and spec.strip().isdigit():
        spec = int(spec)
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 1:
            raise ConfigError(f"--threads {spec}: expected a positive number of threads or 'auto'")
        n_cores = n_cores or cores()
        if spec > MAX_THREADS_PER_CORE * n_cores:
            raise ConfigError(f"--threads {spec} is more than {MAX_THREADS_PER_CORE} threads per core of this "
                              f"machine ({n_cores} cores, at most {MAX_THREADS_PER_CORE * n_cores}); give at most "
                              f"--threads {n_cores} (one per core) or --threads auto")
        return spec
    if spec != AUTO:
        raise ConfigError(f"--threads {spec!r}: expected a positive number of threads (e.g. --threads 1) or 'auto' "
                          f"(one per free core, one per process when other processes load the cores)")
    return None


def choose_threads(spec: str | int, jobs: int = 1, *, resumed: int | None = None, n_cores: int | None = None,
                   load: Callable[[int], float | None] = busy_cores) -> ThreadChoice:
    """Threads for each of ``jobs`` processes run side by side.

    Args:
        spec: a positive count, or ``"auto"`` (see the module docstring): :func:`parse_threads`.
        jobs: processes that will compute at once (``cmivae sweep --jobs``).
        resumed: the count a run that resumes started with
            (:func:`cmivae.runs.readers.resume_threads`); ``auto`` keeps it.
        n_cores: default :func:`cores`.
        load: ``n_cores -> cores busy with other work`` (None: unknown); default
            :func:`busy_cores`, which measures it.

    Raises:
        ConfigError: ``spec`` is neither a positive integer nor ``auto``.
    """
    n_cores = n_cores or cores()
    count = parse_threads(spec, n_cores)
    if count is not None:
        return ThreadChoice(count, "as asked")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return ThreadChoice(int(env), f"OMP_NUM_THREADS={env}")
    if resumed:
        return ThreadChoice(resumed, "the count this run started with, so that its resume is bit-identical")
    busy = load(n_cores)
    if busy is None:
        return ThreadChoice(max(1, n_cores // jobs), f"{n_cores} cores, load unknown, {jobs} process(es)")
    free = max(1, n_cores - math.floor(busy + 0.5))
    return ThreadChoice(max(1, free // jobs),
                        f"{busy:.1f} of {n_cores} cores busy with other work, {jobs} process(es)")


def apply_threads(spec: str | int, jobs: int = 1, resumed: int | None = None) -> ThreadChoice:
    """:func:`choose_threads` for this process, and ``torch.set_num_threads`` with it."""
    import torch

    choice = choose_threads(spec, jobs, resumed=resumed)
    torch.set_num_threads(choice.threads)
    return choice
