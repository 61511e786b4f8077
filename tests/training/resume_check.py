"""Kill a run after some steps, resume it, and return both final checkpoints (CPU and CUDA tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cmivae.runs.checkpoint import load_checkpoint
from cmivae.training import loop


def killed_after(config: Any, data: Any, run_dir: Path, monkeypatch: pytest.MonkeyPatch, stop_after: int) -> None:
    """Train ``config`` in ``run_dir`` until the process "dies" (``KeyboardInterrupt``) after
    ``stop_after`` steps; ``loop.train_step`` is the real one again afterwards."""
    real_step = loop.train_step
    calls = {"n": 0}

    def crashing_step(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > stop_after:
            raise KeyboardInterrupt  # the process dies mid-run
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        loop.fit(config, run_dir, data=data, progress=False)
    assert not (run_dir / "results.json").exists()  # the killed run is not finished
    monkeypatch.setattr(loop, "train_step", real_step)


def straight_and_resumed(config: Any, data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         stop_after: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The last checkpoints of an uninterrupted run and of one killed after ``stop_after``
    steps and resumed (``config`` should checkpoint every step)."""
    loop.fit(config, tmp_path / "straight", data=data, progress=False)
    killed_after(config, data, tmp_path / "resumed", monkeypatch, stop_after)
    loop.fit(config, tmp_path / "resumed", data=data, progress=False, resume=True)
    return (load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt"),
            load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt"))
