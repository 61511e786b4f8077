"""Tiny runs on the real Fashion-MNIST for ``cmivae train`` subprocesses (kill, resume, torchrun)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

# 28x28 images (real data) through a 2-layer, 4-channel PixelCNN: a step takes milliseconds.
TINY_MODEL = {"name": "pixelcnn_vae", "image_shape": [1, 28, 28], "z_dim": 4, "kernel_sizes": [3, 3], "channels": 4,
              "inject_after": 1, "encoder_channels": [4], "encoder_hidden": 8}


def tiny_raw_config(data_dir: str, objective: str = "mi", num_train: int = 128, **train: Any) -> dict[str, Any]:
    """The raw config dict of a tiny run (``num_train / batch_size`` steps per epoch)."""
    return {"data": {"name": "fashion-mnist", "data_dir": data_dir, "num_train": num_train, "num_test": 32},
            "model": dict(TINY_MODEL),
            "objective": {"name": objective, "gamma": 0.5, "critic_hidden_dim": 4},
            "train": {"epochs": 2, "batch_size": 32, "lr": 1e-3, "seed": 0, "precision": "fp32",
                      "checkpoint_every_minutes": 0, **train}}


def cli_env() -> dict[str, str]:
    """Environment of a ``python -m cmivae`` subprocess: one thread (as the in-process tests,
    and so that runs are bit-reproducible whatever the machine's load)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def train_command(config: Path, out: Path, *extra: str) -> list[str]:
    """``python -m cmivae train CONFIG --out OUT --no-progress ...``."""
    return [sys.executable, "-m", "cmivae", "train", str(config), "--out", str(out), "--no-progress", *extra]


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def skip_nan_worker(rank: int, world: int, port: int, run_dir: str, poisoned: int, report_dir: str) -> None:
    """One rank of a ``torch.multiprocessing`` run whose example ``poisoned`` is NaN (so one
    rank's shard is non-finite at a step) with ``train.nonfinite=skip``; writes what it saw."""
    import json

    import torch

    from cmivae.training import distributed, loop
    from tests.helpers import tiny_config, tiny_images

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    distributed.init_from_environment()
    try:
        data = tiny_images()
        data.train_x = data.train_x.float()
        data.train_x[poisoned] = float("nan")
        config = tiny_config("mi", nonfinite="skip", max_skipped_fraction=0.5)
        results = loop.fit(config, run_dir, data=data, progress=False)
        Path(report_dir, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        torch.distributed.destroy_process_group()
