"""``cmivae judge train sprites [--size 64|32]``: train (or reuse) the cached judge of a frame size.

A usable judge file (:func:`cmivae.judge.cache.judge_problem` finds nothing wrong) is reused unless
``force``; a missing, damaged or mismatched one is retrained, and the reason is said in one line first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cmivae.judge.cache import JudgeRecord, judge_problem, load_judge, save_judge, sprites_data_digest
from cmivae.judge.network import JudgeConfig
from cmivae.judge.training import DEFAULT_EPOCHS, train_judge

Reader = Callable[..., Any]  # read_sprites(split, data_dir, frame_size) -> SpritesArrays


def _read_sprites() -> Reader:
    from cmivae.data.video.sprites import read_sprites

    return read_sprites


def ensure_judge(frame_size: int, data_dir: str | Path | None = None, *, epochs: int = DEFAULT_EPOCHS,
                 seed: int = 0, force: bool = False, device: str = "cpu", log: Callable[[str], None] = print,
                 reader: Reader | None = None, data_digest: str | None = None) -> tuple[JudgeRecord, bool]:
    """The judge record for ``frame_size``, training the judge first when needed.

    Args:
        frame_size: 32 or 64.
        data_dir: the data directory (default ``$CMIVAE_DATA``).
        epochs, seed: of a new judge's training.
        force: retrain even a usable judge.
        device: ``cpu``, ``cuda[:N]`` or ``auto`` (:func:`cmivae.infra.device.resolve_device`), where it trains.
        log: progress and reason lines.
        reader: ``read_sprites`` (tests pass a fake); data_digest: the data's digest (default read from
            the data directory's manifest).

    Returns:
        The record, and whether a judge was trained now.
    """
    digest = data_digest if data_digest is not None else sprites_data_digest(data_dir)
    problem = judge_problem(frame_size, digest, data_dir)
    if problem is None and not force:
        _, record = load_judge(frame_size, digest, data_dir)
        log(f"the {frame_size}x{frame_size} judge is already trained on this data (SHA-256 {record.sha256[:12]}); "
            f"--force retrains it")
        return record, False
    log(f"training the {frame_size}x{frame_size} judge: " + ("--force" if problem is None else problem))
    from cmivae.infra.device import resolve_device

    where = resolve_device(device)  # a bad device is refused before the data is read
    read = reader or _read_sprites()
    train, test = read("train", data_dir, frame_size), read("test", data_dir, frame_size)
    log(f"{train.frames.shape[0]} training sequences, {test.frames.shape[0]} test sequences (accuracy only), "
        f"{epochs} epochs, seed {seed}, on {where}" + (f" ({torch.get_num_threads()} torch threads)"
                                                        if where.type == "cpu" else ""))
    trained = train_judge(torch.as_tensor(train.frames), train.attributes, train.action,
                          torch.as_tensor(test.frames), test.attributes, test.action,
                          config=JudgeConfig.for_size(frame_size), epochs=epochs, seed=seed, device=where,
                          log=log)
    return save_judge(trained, digest, data_dir), True
