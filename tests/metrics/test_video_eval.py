"""The video evaluation adapter on oracles: a perfect (disentangling) fake model read by a perfect judge, and a
model whose decoder ignores its latents; capabilities checked before any work; the swap grid drawn."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import pytest

from cmivae.infra.errors import ConfigError
from cmivae.metric_names import VIDEO_METRIC_GROUPS, Offers, requested_metrics, unknown_metrics
from cmivae.metrics.video_eval import GRID_COLUMNS, GRID_ROWS, evaluate_video
from tests.judge.fakes import FakeVideoModel, OracleJudge, RandomVideoModel, video_splits

WANTED = set(VIDEO_METRIC_GROUPS)


def run(model: FakeVideoModel, grid: Path | None = None) -> dict[str, float]:
    values: dict[str, float] = {}
    evaluate_video(model, OracleJudge(), video_splits(), WANTED, seed=0, device="cpu", record=values.update,
                   grid_path=grid)
    return values


def test_a_perfect_model_read_by_a_perfect_judge(tmp_path: Path) -> None:
    values = run(FakeVideoModel(), tmp_path / "swaps.png")
    assert set(values) == {key for keys in VIDEO_METRIC_GROUPS.values() for key in keys}
    assert values["judge_action_acc"] == 1.0 and values["judge_action_h_yx"] == pytest.approx(0.0, abs=1e-6)
    assert values["judge_action_h_y"] == pytest.approx(math.log(9), abs=1e-6)  # the balanced subset: 10 per action
    assert values["judge_action_is"] == pytest.approx(9.0, abs=1e-4)
    assert values["judge_attr_acc"] == 1.0
    assert values["swap_acc"] == values["swap_action_acc"] == values["swap_attr_acc"] == 1.0
    assert values["probe_z_attr"] > 0.95 and values["probe_s_action"] > 0.95
    assert values["leak_z_action"] < 0.3 and values["leak_s_attr"] < 0.35  # chance: 1/9 and 1/6
    image = matplotlib.image.imread(tmp_path / "swaps.png")  # (H, W, 4)
    cell_w, cell_h = 8 * 32 * 2, 32 * 2  # T frames of 32 px side by side, scale 2
    assert image.shape[1] >= (1 + GRID_COLUMNS) * cell_w and image.shape[0] >= (1 + GRID_ROWS) * cell_h


def test_a_decoder_that_ignores_its_latents_scores_chance() -> None:
    values = run(RandomVideoModel())
    assert values["judge_action_acc"] < 0.25 and values["judge_attr_acc"] < 0.3 and values["swap_acc"] < 0.05
    assert values["probe_z_attr"] > 0.95  # the encoder is still the oracle's: probes read it, the judge cannot


def test_a_missing_capability_is_refused_before_any_work() -> None:
    model = FakeVideoModel()
    model.capabilities = frozenset({"local_sequence", "decode"})  # no learned prior over s
    with pytest.raises(ConfigError, match="judge_attr_acc needs the model capability prior_s"):
        evaluate_video(model, OracleJudge(), None, WANTED, seed=0, device="cpu", record=lambda v: None)


def test_video_metric_names() -> None:
    video = Offers.of(FakeVideoModel.capabilities, "sprites")
    assert requested_metrics(["all"], video) == ["elbo", "mi_zs", *VIDEO_METRIC_GROUPS]
    speech = Offers(FakeVideoModel.capabilities, frozenset({"speaker"}))
    assert not set(requested_metrics(["all"], speech)) & set(VIDEO_METRIC_GROUPS)  # no action labels
    assert unknown_metrics(["judge_action_is", "leak_s_attr"]) is None


def test_eval_json_holds_the_judge_record_and_refuses_a_malformed_one(tmp_path: Path) -> None:
    from cmivae.infra.errors import DataError
    from cmivae.metrics.evaluate import read_eval_json

    path = tmp_path / "eval.json"
    path.write_text('{"judge_action_acc": 0.9, "judge": {"sha256": "ab", "frame_size": 32}}')
    assert read_eval_json(path)["judge"]["sha256"] == "ab"
    path.write_text('{"judge_action_acc": 0.9, "judge": "ab"}')
    with pytest.raises(DataError, match="not an object of metric names and numbers"):
        read_eval_json(path)
