"""Issue 31 item 11: the progress bar ends at 100 % when ``train.max_steps`` ends the run mid-epoch
(the DSAE preset's budget in updates ended its bar at 59 %, 200/340)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from cmivae.training import loop
from tests.helpers import tiny_config, tiny_images


class RecordingBar:
    """Stands in for tqdm: keeps every bar's total and final count."""

    bars: list[RecordingBar] = []

    def __init__(self, total: int, initial: int = 0, **kwargs) -> None:
        self.total, self.n = total, initial
        RecordingBar.bars.append(self)

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("model", ["pixelcnn_vae", "dsae"])
def test_the_bar_ends_at_100_percent_when_max_steps_ends_mid_epoch(model: str, tmp_path: Path,
                                                                    monkeypatch) -> None:
    RecordingBar.bars = []
    monkeypatch.setattr(loop, "tqdm", RecordingBar)
    if model == "pixelcnn_vae":
        data = tiny_images(n_train=64)
    else:
        x = torch.randn(64, 8, 6, generator=torch.Generator().manual_seed(0))  # (B, T, F) tiny DSAE spectra
        data = SimpleNamespace(train_x=x, val_x=x[:16], test_x=x[:16])
    # 64 examples / batch 16 = 4 batches per epoch; 6 updates end the second epoch after 2 of its 4
    config = tiny_config("beta", 0.3, model, epochs=None, max_steps=6)
    loop.fit(config, tmp_path / "run", progress=True, data=data)
    assert [(bar.n, bar.total) for bar in RecordingBar.bars] == [(4, 4), (2, 2)]
