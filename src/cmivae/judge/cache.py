"""The judge file: ``$CMIVAE_DATA/sprites/judge/judge-<size>.pt`` and its record ``judge-<size>.json``.

The record holds the file's SHA-256, the frame size and the digest of the Sprites data it was trained on
(:func:`sprites_data_digest`), its accuracy on the real *test* sequences, the seed, epochs and training time.
:func:`load_judge` uses a judge only when all of them agree with what is asked for: a missing, damaged
(hash mismatch, unreadable) file, or one trained at another size or on other data, is one
:class:`~cmivae.infra.errors.DataError` line saying what is wrong and that
``cmivae judge train sprites --size N`` retrains it. ``eval.json`` records the hash of the judge that
scored the run (``judge_sha256``).

This is cmivae's own judge, not the judge file the field shares (that file is not obtainable): its
numbers are comparable across our runs, and beside published ones only as context.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cmivae.infra import json_files
from cmivae.infra.atomic import atomic_write_bytes, atomic_write_json
from cmivae.infra.digests import file_sha256
from cmivae.infra.errors import DataError
from cmivae.judge.network import ATTRIBUTE_NAMES, JudgeConfig, SpritesJudge
from cmivae.judge.training import TARGET_ACCURACY, TrainedJudge

FORMAT = 1
NOT_THE_FIELDS_JUDGE = ("cmivae's own judge (trained by `cmivae judge train sprites`), not the judge file the field "
                        "shares, which is not obtainable: compare its numbers across our runs, and with published "
                        "ones only as context")


@dataclass(frozen=True)
class JudgeRecord:
    """What ``judge-<size>.json`` says about its judge file."""

    sha256: str
    frame_size: int
    data_digest: str
    test_accuracy: dict[str, float]
    seed: int
    epochs: int
    train_seconds: float
    config: dict[str, Any]
    format: int = FORMAT
    note: str = NOT_THE_FIELDS_JUDGE

    @property
    def meets_target(self) -> bool:
        return min(self.test_accuracy.values()) >= TARGET_ACCURACY

    def accuracy_text(self) -> str:
        """``action 99.8 %, body 100.0 %, ...`` and whether it meets the 99 % target."""
        order = ("action", *ATTRIBUTE_NAMES)  # the record's JSON keeps its keys sorted
        keys = sorted(self.test_accuracy, key=lambda k: (order.index(k) if k in order else len(order), k))
        parts = ", ".join(f"{k} {100 * self.test_accuracy[k]:.2f} %" for k in keys)
        verdict = "meets" if self.meets_target else "does NOT meet"
        return f"{parts} on the real test sequences ({verdict} the {100 * TARGET_ACCURACY:.0f} % target)"


def judge_folder(data_dir: str | Path | None = None) -> Path:
    """``<data dir>/sprites/judge`` (data dir: ``data_dir``, else ``$CMIVAE_DATA``, else ``~/.cache/cmivae``)."""
    from cmivae.data.images.fetch import resolve_data_dir

    return resolve_data_dir(data_dir) / "sprites" / "judge"


def judge_paths(frame_size: int, data_dir: str | Path | None = None) -> tuple[Path, Path]:
    """The judge file and its record for frames of ``frame_size``."""
    folder = judge_folder(data_dir)
    return folder / f"judge-{frame_size}.pt", folder / f"judge-{frame_size}.json"


def save_judge(trained: TrainedJudge, data_digest: str, data_dir: str | Path | None = None) -> JudgeRecord:
    """Write the judge file and its record (each atomically; the record last, so a file without a
    matching record is never used)."""
    config = trained.judge.config
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "config": config.to_dict(), "state_dict": trained.judge.state_dict()}, buffer)
    data = buffer.getvalue()
    record = JudgeRecord(sha256=hashlib.sha256(data).hexdigest(), frame_size=config.frame_size,
                         data_digest=data_digest, test_accuracy=dict(trained.test_accuracy), seed=trained.seed,
                         epochs=trained.epochs, train_seconds=trained.seconds, config=config.to_dict())
    weights, record_path = judge_paths(config.frame_size, data_dir)
    atomic_write_bytes(weights, data)
    atomic_write_json(record_path, asdict(record))
    return record


def _read_record(path: Path) -> JudgeRecord:
    values = json_files.read_json(path)  # a damaged file: json_files.DamagedFile
    try:
        record = JudgeRecord(**values)
        record.test_accuracy.values()  # a dict
    except (TypeError, AttributeError) as err:
        raise DataError(f"{path} is not a judge record ({err})") from err
    return record


def judge_problem(frame_size: int, data_digest: str, data_dir: str | Path | None = None) -> str | None:
    """Why the cached judge for ``frame_size`` cannot be used with the data of ``data_digest``, or None."""
    weights, record_path = judge_paths(frame_size, data_dir)
    if not record_path.exists() or not weights.exists():
        return f"no judge for {frame_size}x{frame_size} frames in {weights.parent}"
    try:
        record = _read_record(record_path)
    except (json_files.DamagedFile, DataError) as err:
        return f"the judge record is damaged ({str(err)[:160]})"
    if record.format != FORMAT:
        return f"{record_path} is format {record.format}, this library reads format {FORMAT}"
    if record.frame_size != frame_size or record.config.get("frame_size") != frame_size:
        return f"{weights} was trained on {record.frame_size}x{record.frame_size} frames, not {frame_size}x{frame_size}"
    if record.data_digest != data_digest:
        return (f"{weights} was trained on other Sprites data (digest {record.data_digest[:12]}, the data here is "
                f"{data_digest[:12]})")
    actual = file_sha256(weights)  # in blocks, never the whole file in memory
    if actual != record.sha256:
        return f"{weights} is damaged (SHA-256 {actual[:12]}, its record says {record.sha256[:12]})"
    return None


def load_judge(frame_size: int, data_digest: str, data_dir: str | Path | None = None,
               device: torch.device | str = "cpu") -> tuple[SpritesJudge, JudgeRecord]:
    """The cached judge for ``frame_size`` trained on the data of ``data_digest``, in eval mode, and its record.

    Raises:
        DataError: missing, damaged, another size or other data (one line; retrain with the command it names).
    """
    problem = judge_problem(frame_size, data_digest, data_dir)
    weights, record_path = judge_paths(frame_size, data_dir)
    if problem is None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            judge = SpritesJudge(JudgeConfig.from_dict(state["config"]))
            judge.load_state_dict(state["state_dict"])
        except Exception as err:  # noqa: BLE001 - any unreadable content is the same one-line refusal
            problem = f"{weights} cannot be read ({type(err).__name__}: {str(err)[:120]})"
    if problem is not None:
        raise DataError(f"{problem}; the judge is refused, never used as it is: run `cmivae judge train sprites "
                        f"--size {frame_size}` to (re)train it")
    return judge.to(device).eval(), _read_record(record_path)


def sprites_data_digest(data_dir: str | Path | None = None) -> str:
    """The identity of the Sprites data in the data directory: SHA-256 of the array digests its manifest
    records for ``train.npz`` and ``test.npz`` (:mod:`cmivae.data.video.sprites`: the arrays, not the archive
    bytes, are the benchmark's identity), so a judge trained on other data is told apart without reading 1 GB.

    Raises:
        DataError: no (readable) manifest: the data set was not built here.
    """
    import json

    from cmivae.data.video.sprites import SPLITS, read_manifest, sprites_folder

    folder = sprites_folder(data_dir)
    manifest = read_manifest(folder)
    entries = (manifest or {}).get("files", {})
    try:
        arrays = {split: entries[f"{split}.npz"]["arrays"] for split in SPLITS}
    except (KeyError, TypeError):
        raise DataError(f"no Sprites data with a readable manifest in {folder}; "
                        f"run `cmivae data make-sprites`") from None
    return hashlib.sha256(json.dumps(arrays, sort_keys=True).encode()).hexdigest()
