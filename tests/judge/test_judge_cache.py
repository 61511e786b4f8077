"""The judge file: its SHA-256 and what it was trained on are recorded; a damaged file, or one trained at
another size or on other data, is refused in one line (never used); the CLI retrains it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cmivae.cli.main import main
from cmivae.infra.errors import DataError
from cmivae.judge import cache
from cmivae.judge.command import ensure_judge
from cmivae.judge.network import ATTRIBUTE_NAMES, JudgeConfig, SpritesJudge
from cmivae.judge.training import TrainedJudge, judge_accuracy, train_judge
from tests.judge.fakes import labels, render

DIGEST = "a" * 64


def saved(tmp_path: Path, size: int = 32, digest: str = DIGEST) -> cache.JudgeRecord:
    torch.manual_seed(0)
    judge = SpritesJudge(JudgeConfig.for_size(size))
    accuracy = {"action": 0.995, "body": 1.0, "bottom": 1.0, "top": 0.98, "hair": 1.0}
    return cache.save_judge(TrainedJudge(judge, accuracy, epochs=1, seed=0, seconds=1.0), digest, tmp_path)


def test_the_record_holds_the_hash_size_data_and_accuracy(tmp_path: Path) -> None:
    record = saved(tmp_path)
    weights, record_path = cache.judge_paths(32, tmp_path)
    assert weights.parent == tmp_path / "sprites" / "judge"
    assert record.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    on_disk = json.loads(record_path.read_text())
    assert on_disk["sha256"] == record.sha256 and on_disk["frame_size"] == 32 and on_disk["data_digest"] == DIGEST
    assert on_disk["test_accuracy"]["top"] == 0.98 and "not the judge file the field" in on_disk["note"]
    assert not record.meets_target and "does NOT meet the 99 % target" in record.accuracy_text()
    judge, loaded = cache.load_judge(32, DIGEST, tmp_path)
    assert loaded == record and not judge.training
    x = torch.zeros(2, 8, 3, 32, 32, dtype=torch.uint8)
    reference = SpritesJudge(JudgeConfig.for_size(32))
    reference.load_state_dict(judge.state_dict())
    assert torch.equal(judge(x).action, reference.eval()(x).action)


def test_the_weights_are_hashed_in_blocks_by_the_one_digest_owner(tmp_path: Path, monkeypatch) -> None:
    """``judge_problem`` hashes the judge file with :func:`cmivae.infra.digests.file_sha256` (4 MiB blocks),
    never reading it whole, and gets the hash ``save_judge`` recorded (so a cached judge keeps its pinned hash)."""
    from cmivae.infra import digests

    record = saved(tmp_path)
    weights, _ = cache.judge_paths(32, tmp_path)
    hashed: list[Path] = []
    real_read_bytes, real_file_sha256 = Path.read_bytes, digests.file_sha256

    def read_bytes(path: Path) -> bytes:
        assert path.suffix != ".pt", f"{path} read whole"
        return real_read_bytes(path)

    def file_sha256(path: Path) -> str:
        hashed.append(path)
        return real_file_sha256(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(cache, "file_sha256", file_sha256)
    judge, loaded = cache.load_judge(32, DIGEST, tmp_path)
    assert hashed == [weights] and loaded.sha256 == record.sha256 == real_file_sha256(weights)
    assert not judge.training


@pytest.mark.parametrize("case", ["flipped byte", "truncated", "other data", "other size", "no record",
                                  "damaged record", "no judge"])
def test_a_damaged_or_mismatched_judge_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    if case != "no judge":
        saved(tmp_path, size=64 if case == "other size" else 32)
    weights, record_path = cache.judge_paths(32, tmp_path)
    if case == "flipped byte":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif case == "truncated":
        weights.write_bytes(weights.read_bytes()[:100])
    elif case == "other size":  # a 64x64 judge copied to the 32x32 name
        for a, b in zip(cache.judge_paths(64, tmp_path), (weights, record_path), strict=True):
            b.write_bytes(a.read_bytes())
    elif case == "no record":
        record_path.unlink()
    elif case == "damaged record":
        record_path.write_text('{"sha256": ')
    digest = "b" * 64 if case == "other data" else DIGEST
    expected = {"flipped byte": "is damaged", "truncated": "is damaged", "other data": "other Sprites data",
                "other size": "64x64 frames, not 32x32", "no record": "no judge", "damaged record": "damaged",
                "no judge": "no judge"}[case]
    with pytest.raises(DataError) as err:
        cache.load_judge(32, digest, tmp_path)
    message = str(err.value)
    assert expected in message and "\n" not in message
    assert "never used" in message and "cmivae judge train sprites --size 32" in message


def test_training_is_seeded_and_learns_the_labels(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    attributes, action = labels(180, seed=0)
    test_attributes, test_action = labels(90, seed=1)
    x, x_test = torch.from_numpy(render(attributes, action)), torch.from_numpy(render(test_attributes, test_action))

    def train(seed: int) -> TrainedJudge:
        return train_judge(x, attributes, action, x_test, test_attributes, test_action,
                           config=JudgeConfig.for_size(32), epochs=3, seed=seed, batch_size=16)

    first, again = train(0), train(0)
    assert first.test_accuracy == again.test_accuracy
    assert all(torch.equal(a, b) for a, b in zip(first.judge.state_dict().values(),
                                                  again.judge.state_dict().values(), strict=True))
    assert first.test_accuracy == judge_accuracy(first.judge, x_test, test_attributes, test_action)
    # 3 epochs of 180 tiny sequences: the attributes (colors) well above chance (1/6) on held-out ones; the
    # action (a path over time) needs ~15 epochs of these (0.97 measured), too long for a test
    assert np.mean([first.test_accuracy[name] for name in ATTRIBUTE_NAMES]) > 0.3


def test_uint8_and_unit_float_frames_score_alike() -> None:
    judge = SpritesJudge(JudgeConfig.for_size(32)).eval()
    attributes, action = labels(4, seed=0)
    x = torch.from_numpy(render(attributes, action))
    assert torch.allclose(judge(x).action, judge(x.float() / 256).action)
    with pytest.raises(ValueError, match=r"\(B, T, 3, 32, 32\)"):
        judge(torch.zeros(2, 8, 3, 64, 64))


def fake_reader(split: str, data_dir: object, frame_size: int) -> SimpleNamespace:
    attributes, action = labels(27 if split == "train" else 18, seed=0 if split == "train" else 1)
    return SimpleNamespace(frames=render(attributes, action, size=frame_size), attributes=attributes, action=action)


def test_ensure_judge_trains_once_reuses_then_retrains_a_damaged_file_saying_why(tmp_path: Path) -> None:
    lines: list[str] = []

    def ensure(**kwargs: object) -> tuple[cache.JudgeRecord, bool]:
        return ensure_judge(32, tmp_path, epochs=1, log=lines.append, reader=fake_reader, data_digest=DIGEST,
                            **kwargs)  # type: ignore[arg-type]

    record, trained = ensure()
    assert trained and lines[0].startswith("training the 32x32 judge: no judge for 32x32 frames")
    assert set(record.test_accuracy) == {"action", *ATTRIBUTE_NAMES}
    again, trained = ensure()
    assert not trained and again == record and "already trained" in lines[-1]
    weights, _ = cache.judge_paths(32, tmp_path)
    weights.write_bytes(weights.read_bytes()[:-1])
    lines.clear()
    fresh, trained = ensure()
    assert trained and fresh.sha256 != "" and "is damaged" in lines[0]
    assert cache.load_judge(32, DIGEST, tmp_path)[1] == fresh


def test_cli_without_sprites_data_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["judge", "train", "sprites", "--size", "32", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "cmivae data make-sprites" in err
    assert not (tmp_path / "sprites" / "judge").exists()
