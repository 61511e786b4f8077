"""EER(z), EER(s) (Sec. 5.2) and VC-mCAS (appendix J): ranges on a tiny DSAE, oracles, pair drawing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from cmivae.data.speech.features import DEFAULT_FEATURES
from cmivae.data.speech.loader import SpeechSplits, SpeechSubset
from cmivae.metrics.speech_eval import (
    draw_conversion_pairs,
    draw_speaker_pairs,
    evaluate_speech,
    speaker_verification_eers,
    utterance_embeddings,
    vc_mcas,
)
from cmivae.models.dsae import DSAE, DSAEConfig

T, F = 8, 6


def make_splits(num_speakers: int = 12, utterances: int = 3, segments: int = 2, genders: list | None = None,
                seed: int = 0) -> SpeechSplits:
    """Speakers 0..n-1 alternate F/M and are split 1/3 each into train/val/test. Channel 0 of
    every frame holds the speaker index (for the oracle), channel 1 a gender offset, the rest noise."""
    rng = np.random.default_rng(seed)
    genders = genders if genders is not None else ["F" if k % 2 == 0 else "M" for k in range(num_speakers)]
    parts: dict[str, list[tuple[int, int]]] = {"train": [], "val": [], "test": []}
    utt = 0
    for spk in range(num_speakers):
        name = ("train", "val", "test")[spk * 3 // num_speakers]
        for _ in range(utterances):
            parts[name] += [(spk, utt)] * segments
            utt += 1

    def subset(rows: list[tuple[int, int]]) -> SpeechSubset:
        speaker = np.array([r[0] for r in rows])
        x = rng.normal(size=(len(rows), T, F)).astype(np.float32)  # (N, T, F)
        x[:, :, 0] = speaker[:, None]
        x[:, :, 1] += np.where(np.array(genders, dtype=object)[speaker] == "F", 1.0, -1.0)[:, None]
        return SpeechSubset(x=torch.from_numpy(x), speaker=torch.from_numpy(speaker),
                            utterance=torch.tensor([r[1] for r in rows]))

    return SpeechSplits(train=subset(parts["train"]), val=subset(parts["val"]), test=subset(parts["test"]),
                        speaker_names=[f"spk{k}" for k in range(num_speakers)], speaker_gender=list(genders),
                        utterance_names=[f"u{k}" for k in range(utt)], mean=torch.zeros(F), std=torch.ones(F),
                        features=DEFAULT_FEATURES, source="folder", root="memory")


class OracleDSAE(nn.Module):
    """encode: z = one-hot speaker (read from channel 0), s = seeded noise (its channel 0 = the
    gender sign when ``content_has_gender``). decode puts the gender sign of z (``reads="z"``)
    or of s (``reads="s"``) into channel 1."""

    def __init__(self, genders: list, reads: str = "z", content_has_gender: bool = False) -> None:
        super().__init__()
        self.sign = torch.tensor([1.0 if g == "F" else -1.0 for g in genders])  # (num_speakers,)
        self.reads, self.content_has_gender = reads, content_has_gender
        self.generator = torch.Generator().manual_seed(0)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        speaker = x[:, 0, 0].round().long()  # (B,)
        z = nn.functional.one_hot(speaker, self.sign.shape[0]).float()  # (B, D)
        s = torch.randn(x.shape[0], x.shape[1], 3, generator=self.generator)  # (B, T, D_s)
        if self.content_has_gender:
            s[:, :, 0] = self.sign[speaker][:, None]
        return z, s

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        sign = self.sign[z.argmax(dim=1)] if self.reads == "z" else s[:, 0, 0]  # (B,)
        out = torch.randn(z.shape[0], s.shape[1], F, generator=self.generator) * 0.1  # (B, T, F)
        out[:, :, 1] += sign[:, None]
        return out


def test_tiny_dsae_gives_every_metric_in_range() -> None:
    splits = make_splits()
    model = DSAE(DSAEConfig(x_dim=F, num_steps=T, z_dim=4, s_dim=3, hidden_dim=8, rnn_dim=8, prior_dim=8,
                            decoder_hidden_dim=8, num_decoder_layers=1))
    model.train()
    results = evaluate_speech(model, splits, seed=0, batch_size=5, num_pairs=4)
    assert set(results) == {"eer_z", "eer_s", "vc_mcas"}
    assert all(0.0 <= value <= 100.0 for value in results.values())
    assert model.training  # the mode is restored
    assert evaluate_speech(model, splits, seed=0, num_pairs=4) == results  # seeded, batch size irrelevant


def test_oracle_speaker_z_and_noise_s() -> None:
    splits = make_splits(num_speakers=60, utterances=6, segments=2)  # 20 test speakers, 120 test utterances
    results = evaluate_speech(OracleDSAE(splits.speaker_gender), splits, num_pairs=20)
    assert results["eer_z"] == pytest.approx(0.0, abs=1e-9)
    assert 40.0 < results["eer_s"] < 60.0
    assert results["vc_mcas"] == pytest.approx(100.0)


def test_vc_mcas_punishes_a_decoder_that_ignores_z() -> None:
    # Every conversion swaps genders, so a decoder copying the content's gender is always wrong.
    splits = make_splits(num_speakers=24)
    fake = OracleDSAE(splits.speaker_gender, reads="s", content_has_gender=True)
    assert evaluate_speech(fake, splits, num_pairs=8)["vc_mcas"] < 5.0


def test_vc_mcas_scales_down_or_is_nan_with_a_warning() -> None:
    splits = make_splits()  # val: 4 speakers x 3 utterances x 2 segments = 12 segments per gender
    with pytest.warns(RuntimeWarning, match="only 12 segments of one gender, so 12 cross-gender pairs"):
        assert 0.0 <= evaluate_speech(OracleDSAE(splits.speaker_gender), splits)["vc_mcas"] <= 100.0
    unknown = make_splits(genders=[None] * 12)
    with pytest.warns(RuntimeWarning, match="vc_mcas is NaN"):
        results = evaluate_speech(OracleDSAE(["F"] * 12), unknown)
    assert math.isnan(results["vc_mcas"]) and results["eer_z"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="source_split"):
        evaluate_speech(OracleDSAE(splits.speaker_gender), splits, source_split="dev")


def test_source_split_test_reuses_the_test_encodings() -> None:
    splits = make_splits(num_speakers=24)
    assert evaluate_speech(OracleDSAE(splits.speaker_gender), splits, num_pairs=6,
                           source_split="test")["vc_mcas"] == pytest.approx(100.0)


def test_draw_conversion_pairs_are_cross_gender_distinct_and_seeded() -> None:
    gender = np.array(["F", "M", None, "F", "M", "M", "F", "F", "M"], dtype=object)
    female, male = draw_conversion_pairs(gender, 3, np.random.default_rng(1))
    assert (gender[female] == "F").all() and (gender[male] == "M").all()
    assert len(set(female)) == 3 and len(set(male)) == 3
    again = draw_conversion_pairs(gender, 3, np.random.default_rng(1))
    assert np.array_equal(female, again[0]) and np.array_equal(male, again[1])
    with pytest.raises(ValueError, match="cannot draw 5 cross-gender pairs from 4 female and 4 male"):
        draw_conversion_pairs(gender, 5, np.random.default_rng(0))


def test_utterance_embeddings_average_segments() -> None:
    features = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    emb, speaker = utterance_embeddings(features, np.array([7, 7, 2]), np.array([1, 1, 0]))
    np.testing.assert_allclose(emb, [[5.0, 5.0], [2.0, 1.0]])
    assert speaker.tolist() == [0, 1]
    with pytest.raises(ValueError, match="same speaker"):
        utterance_embeddings(features, np.array([7, 7, 2]), np.array([1, 0, 0]))


def test_pure_functions_take_arrays() -> None:
    rng = np.random.default_rng(0)
    speaker = np.repeat(np.arange(4), 4)  # 4 speakers x 4 utterances, one segment each
    z = np.eye(4)[speaker] + 0.01 * rng.normal(size=(16, 4))  # (N, D)
    s = rng.normal(size=(16, 5, 3))  # (N, T, D_s)
    eers = speaker_verification_eers(z, s, np.arange(16), speaker)
    assert eers["eer_z"] == pytest.approx(0.0, abs=1e-9) and 0.0 <= eers["eer_s"] <= 100.0
    converted = np.zeros((4, 5, 2))
    converted[:2, :, 0] = 1.0  # label F: channel 0 high
    real = np.zeros((6, 5, 2))
    real[:3, :, 0] = 1.0
    labels = np.array(["F", "F", "M", "M"])
    assert vc_mcas(converted, labels, real, np.array(["F"] * 3 + ["M"] * 3)) == pytest.approx(100.0)


class SpeakerOracle(nn.Module):
    """Toy spectra ``table[speaker] + noise``; z = one-hot of the nearest table row, s = the same
    one-hot per frame; decode writes the table row of z's speaker (``reads="z"``) or of s's."""

    def __init__(self, table: torch.Tensor, reads: str = "z") -> None:
        super().__init__()
        self.table, self.reads = table, reads  # (K, F)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        speaker = torch.cdist(x.mean(dim=1), self.table).argmin(dim=1)  # (B, T, F) -> (B, F) -> (B,)
        z = nn.functional.one_hot(speaker, self.table.shape[0]).float()  # (B, K)
        return z, z.unsqueeze(1).expand(-1, x.shape[1], -1)  # (B, K), (B, T, K)

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        who = z.argmax(dim=1) if self.reads == "z" else s[:, 0].argmax(dim=1)  # (B,)
        return self.table[who].unsqueeze(1).expand(-1, s.shape[1], -1) + 0.05 * torch.randn(s.shape[0], s.shape[1],
                                                                                            self.table.shape[1])


def test_vc_mcas_on_a_single_gender_corpus_pairs_by_speaker() -> None:
    torch.manual_seed(0)
    splits = make_splits(num_speakers=24, utterances=4, segments=3, genders=["F"] * 24)
    table = 3.0 * torch.randn(24, F)  # (K, F) one spectrum per speaker
    for part in (splits.train, splits.val, splits.test):
        part.x = table[part.speaker].unsqueeze(1).expand(-1, T, -1) + 0.1 * torch.randn(len(part), T, F)
    with pytest.warns(RuntimeWarning, match="single-gender corpus.*vc_mcas_speaker"):
        good = evaluate_speech(SpeakerOracle(table), splits, num_pairs=10)
    assert math.isnan(good["vc_mcas"])
    assert good["vc_mcas_speaker"] == pytest.approx(100.0)  # every conversion carries its z speaker's voice
    with pytest.warns(RuntimeWarning, match="single-gender"):
        bad = evaluate_speech(SpeakerOracle(table, reads="s"), splits, num_pairs=10)
    assert bad["vc_mcas_speaker"] < 20.0  # the content speaker's voice: wrong by construction (pairs differ)
    speaker = splits.test.speaker.numpy()
    first, second = draw_speaker_pairs(speaker, 10, np.random.default_rng(0))
    assert first.shape == second.shape and np.all(speaker[first] != speaker[second])
    assert not set(first.tolist()) & set(second.tolist())
