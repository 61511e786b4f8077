"""TensorBoard event files of a run (``train.tensorboard=true``): ``RUN_DIR/tensorboard/``.

Per epoch (step = VAE updates so far): every training term (``train/<term>``, the critic's
loss and accuracy among them), every validation term (``val/<term>``), the speed and the
skipped batches; at evaluation, every metric of ``eval.json`` (``eval/<metric>``) and the
sample grid (``samples``). ``tensorboard --logdir runs/`` shows every run below ``runs/``.

The writer comes from ``torch.utils.tensorboard``, which needs the optional ``tensorboard``
package (``pip install 'cmivae[tensorboard]'``); asking for TensorBoard without it is a
:class:`ConfigError` before training starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmivae.infra.errors import ConfigError
from cmivae.runs import files


class EventWriter:
    """Scalars and images of one run into ``RUN_DIR/tensorboard/``."""

    def __init__(self, run_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ConfigError("train.tensorboard=true needs the tensorboard package: pip install "
                              "'cmivae[tensorboard]' (or pip install tensorboard), or set train.tensorboard=false"
                              ) from err
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / files.EVENTS))

    def write_epoch(self, record: dict[str, Any]) -> None:
        """One ``metrics.jsonl`` record: ``train`` and ``val`` terms, speed, skipped batches."""
        step = int(record["step"])
        for section in ("train", "val"):
            for name, value in record.get(section, {}).items():
                if isinstance(value, (int, float)):
                    self.writer.add_scalar(f"{section}/{name}", value, step)
        for name, value in record.items():
            if name.endswith("_per_second") or name == "skipped":
                self.writer.add_scalar(f"speed/{name}" if name != "skipped" else "train/skipped_batches", value, step)
        self.writer.flush()

    def write_evaluation(self, metrics: dict[str, Any], step: int, samples_png: Path | None = None) -> None:
        """The metrics of ``eval.json`` and the sample grid PNG, at the run's last step."""
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and name != "eval_seconds":
                self.writer.add_scalar(f"eval/{name}", value, step)
        if samples_png is not None and samples_png.exists():
            import matplotlib.image
            import numpy as np

            image = np.asarray(matplotlib.image.imread(samples_png))  # (H, W, C) floats in [0, 1]
            self.writer.add_image("samples", image[..., :3] if image.ndim == 3 else image, step, dataformats="HWC"
                                  if image.ndim == 3 else "HW")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_event_writer(enabled: bool, run_dir: str | Path, is_main: bool = True) -> EventWriter | None:
    """An :class:`EventWriter` when ``enabled`` on the writing rank, else ``None``."""
    return EventWriter(run_dir) if enabled and is_main else None
