"""A tiny end to end on synthetic sequences: a judge cached in a temporary data directory, a tiny video DSAE
trained for one epoch, `evaluate` writing the judge metrics, the judge's hash and swaps.png, and `report`
tabling them with the judge and the swap grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmivae.config import load_config
from cmivae.infra.errors import DataError
from cmivae.judge.cache import judge_paths
from cmivae.judge.command import ensure_judge
from cmivae.metric_names import VIDEO_METRIC_GROUPS
from cmivae.metrics import video_eval
from cmivae.metrics.evaluate import evaluate_run
from cmivae.registry import resolve
from cmivae.reports.report import build_report
from cmivae.training.loop import fit
from tests.helpers import TINY_VIDEO_DSAE
from tests.judge.fakes import video_splits

TINY_32 = {**TINY_VIDEO_DSAE, "frame_size": 32}  # the judge reads 32x32 or 64x64 frames


def fake_manifest(data_dir: Path) -> None:
    """The manifest `cmivae data make-sprites` writes, with made-up array digests (the judge's data identity)."""
    from cmivae.data.video.sprites import FORMAT, MANIFEST, sprites_folder

    folder = sprites_folder(data_dir)
    folder.mkdir(parents=True)
    files = {f"{split}.npz": {"sha256": "0" * 64, "arrays": {"frames": {"sha256": split * 8}}}
             for split in ("train", "test")}
    (folder / MANIFEST).write_text(json.dumps({"format": FORMAT, "files": files}))


def test_train_evaluate_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_eval, "REPEATS", 2)
    data_dir = tmp_path / "data"
    fake_manifest(data_dir)
    splits = video_splits(n_train=72, n_test=54)

    def reader(split: str, where: object, frame_size: int) -> object:
        from types import SimpleNamespace

        return SimpleNamespace(frames=getattr(splits, f"{split}_x").numpy(),
                               attributes=getattr(splits, f"{split}_attributes").numpy(),
                               action=getattr(splits, f"{split}_action").numpy())

    record, _ = ensure_judge(32, data_dir, epochs=1, log=lambda line: None, reader=reader)
    runs = []
    for name, gamma in (("beta", 0.0), ("beta", 0.5), ("cmi", 0.5)):
        raw = {"data": {"name": "sprites", "frame_size": 32, "data_dir": str(data_dir)}, "model": TINY_32,
               "objective": {"name": name, "gamma": gamma},
               "train": {"epochs": 1, "batch_size": 18, "lr": 1e-3, "seed": 0, "precision": "fp32",
                         "checkpoint_every_minutes": 0}}
        config = resolve(load_config(raw)).config
        run_dir = tmp_path / "sweep" / f"{name}-{gamma}"
        fit(config, run_dir, progress=False, data=splits)
        wanted = ["elbo", *VIDEO_METRIC_GROUPS]
        evaluation = evaluate_run(run_dir, wanted, quiet=True, data=splits)
        assert evaluation["judge"]["sha256"] == record.sha256 and evaluation["judge"]["frame_size"] == 32
        for key in (k for keys in VIDEO_METRIC_GROUPS.values() for k in keys):
            assert key in evaluation and evaluation[key] == evaluation[key]  # computed, not NaN
        assert 0.0 <= evaluation["judge_action_acc"] <= 1.0 and 1.0 <= evaluation["judge_action_is"] <= 9.0
        assert {"kl_z", "kl_s", "recon"} <= set(evaluation)
        assert (run_dir / "swaps.png").stat().st_size > 0
        runs.append(run_dir)
    # a damaged judge is refused in one line before any metric is computed: eval.json stays as it was
    weights, _ = judge_paths(32, data_dir)
    weights.write_bytes(weights.read_bytes()[:-8])
    before = (runs[-1] / "eval.json").read_bytes()
    with pytest.raises(DataError, match="is damaged.*never used.*cmivae judge train sprites --size 32"):
        evaluate_run(runs[-1], ["elbo", "swap_acc"], quiet=True, data=splits)
    assert (runs[-1] / "eval.json").read_bytes() == before
    report = build_report([tmp_path / "sweep"], tmp_path / "report")
    text = report.read_text()
    assert "action acc, z resampled" in text and "At the same KL(z)" in text
    assert f"judge `{record.sha256[:16]}` (32x32 frames), scored 3 runs" in text
    assert "not the judge file the field shares" in text
    assert "![swap grids](swaps_sprites.png)" in text and (tmp_path / "report" / "swaps_sprites.png").exists()
