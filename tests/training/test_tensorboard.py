"""``train.tensorboard=true`` writes TensorBoard event files: every per-epoch term (critic
diagnostics included), the speed, and at evaluation the metrics and the sample grid."""

from __future__ import annotations

import json

import pytest

from cmivae.config import load_config
from cmivae.infra.errors import ConfigError
from cmivae.metrics import evaluate
from cmivae.runs.legacy import run_id
from cmivae.training.loop import fit
from tests.helpers import tiny_config, tiny_images


def read_events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_event_files_hold_every_epoch_term_and_the_sample_grid(tmp_path, monkeypatch) -> None:
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    data = tiny_images()
    fit(tiny_config("cmi", epochs=2, tensorboard=True), run, progress=False, data=data)
    events = read_events(run / "tensorboard")
    tags = set(events.Tags()["scalars"])
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for section in ("train", "val"):
        for term in history[0][section]:
            assert f"{section}/{term}" in tags, (section, term)
    assert {"train/critic_loss", "train/critic_acc", "speed/images_per_second"} <= tags, tags
    assert [e.step for e in events.Scalars("val/neg_elbo")] == [r["step"] for r in history]
    assert [e.value for e in events.Scalars("val/neg_elbo")] == pytest.approx([r["val"]["neg_elbo"] for r in history])

    monkeypatch.setattr(evaluate, "MI_STEPS", 20)
    evaluate.evaluate_run(run, ["elbo", "mcas"], quiet=True, data=data)
    events = read_events(run / "tensorboard")
    assert "eval/mcas" in events.Tags()["scalars"] and "samples" in events.Tags()["images"]


def test_tensorboard_off_by_default_keeps_run_ids(tmp_path) -> None:
    off = load_config(tiny_config().to_dict())
    on = load_config({**off.to_dict(), "train": {**off.to_dict()["train"], "tensorboard": True}})
    assert "tensorboard" not in json.dumps({k: v for k, v in off.to_dict()["train"].items() if k != "tensorboard"})
    assert run_id(off) != run_id(on)
    saved = off.to_dict()
    del saved["train"]["tensorboard"]  # a run saved before the field existed
    assert run_id(saved) == run_id(off)
    run = tmp_path / "run"
    fit(off, run, progress=False, data=tiny_images(), force=True)
    assert not (run / "tensorboard").exists()


def test_missing_tensorboard_package_is_a_config_error(tmp_path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'cmivae\[tensorboard\]'"):
        fit(tiny_config(tensorboard=True), tmp_path / "run", progress=False, data=tiny_images())
    with pytest.raises(ConfigError, match="train.tensorboard must be true or false"):
        tiny_config(tensorboard="yes")
