"""Video (Sprites) metrics of a trained model: the field's judge protocol, swaps and representation probes.

``cmivae evaluate`` calls :func:`evaluate_video` for a run whose model is of the video modality. The judge is
cmivae's own (:mod:`cmivae.judge`, trained by ``cmivae judge train sprites``), not the judge file the field
shares: ``eval.json["judge"]`` records its SHA-256, frame size and real-test accuracies.

The subset: :data:`PER_CLASS` test sequences of each of the 9 actions (class-balanced, seeded), so H(y) of a
model that keeps the action is ln 9. Each metric group (:data:`cmivae.metric_names.VIDEO_METRIC_GROUPS`):

1. ``judge_action_*`` (the field's headline test): keep each sequence's s_{1:T} posterior means, draw z from
   the prior p(z), decode (the mean of p(x | z, s)), and ask the judge for the action: accuracy against the
   sequence's own action, IS, H(y|x), H(y) (:mod:`cmivae.metrics.judge_metrics`), each the mean over
   K = :data:`REPEATS` draws of z.
2. ``judge_attr_*``: the reverse: keep the z posterior means, draw s_{1:T} from the learned prior
   (``sample_prior_s``), and score the four attributes (means over the attributes and over K draws).
3. ``swap_*``: z of sequence A with the s means of sequence B (B: a seeded draw among the subset's sequences
   of another action): the judge should read A's attributes and B's action (``swap_acc``: all five at once).
   ``swaps.png`` (:func:`save_swap_grid`): rows of real test sequences, their z re-rendered with others' dynamics.
4. ``probe_*`` / ``leak_*``: standardized logistic probes from posterior means
   (:func:`cmivae.metrics.judge_metrics.representation_probes`), fitted on :data:`PER_CLASS` training sequences
   of each action, scored on the test subset.

Each metric group is refused before any work when the model lacks a capability it needs
(:data:`cmivae.metric_names.METRIC_NEEDS`). KL(z), KL(s), Recon and Î(z;s) come from the existing code
of :mod:`cmivae.metrics.evaluate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cmivae.infra.errors import ConfigError
from cmivae.judge.cache import JudgeRecord
from cmivae.judge.network import JudgeScores, SpritesJudge, judge_probabilities
from cmivae.metric_names import VIDEO_METRIC_GROUPS, Offers, why_unsupported
from cmivae.metrics.judge_metrics import repeated_scores, representation_probes, swap_scores
from cmivae.metrics.latent_probe import balanced_subset
from cmivae.metrics.speech_eval import encode_means
from cmivae.modality import ACTION, ATTRIBUTES
from cmivae.models.contract import declared_capabilities

PER_CLASS = 100  # test sequences per action in the class-balanced subset (2,664 test sequences: 296 per action)
REPEATS = 5  # K: draws of z (test 1) or of s_{1:T} (test 2) per sequence; the scores are means over them
BATCH_SIZE = 200
GRID_ROWS, GRID_COLUMNS = 4, 4  # swaps.png: appearance sources x dynamics sources


def check_capabilities(model: nn.Module, wanted: set[str]) -> None:
    """Raise :class:`ConfigError` (one line) for the first wanted video metric whose model capabilities
    (:data:`cmivae.metric_names.METRIC_NEEDS`) the model does not declare."""
    offers = Offers(declared_capabilities(model), frozenset({ACTION, ATTRIBUTES}))
    for name in sorted(wanted & set(VIDEO_METRIC_GROUPS)):
        why = why_unsupported(name, offers)
        if why is not None:
            raise ConfigError(f"{why}; leave it out (--metrics ...)")


def balanced_test_rows(action: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(per_class, rarest class count)`` sequences of every action."""
    counts = np.unique(action, return_counts=True)[1]
    return balanced_subset(action, min(per_class, int(counts.min())), np.random.default_rng(seed))


@torch.no_grad()
def judge_decoded(model: nn.Module, judge: SpritesJudge, z: torch.Tensor, s: torch.Tensor, *,
                  device: torch.device | str, batch_size: int = BATCH_SIZE) -> JudgeScores:
    """The judge's probabilities for ``decode(z, s)``: z ``(N, D)``, s ``(N, T, D_s)``; decoded a batch at a time,
    never all frames at once."""
    actions, attributes = [], []
    for start in range(0, z.shape[0], batch_size):
        frames = model.decode(z[start:start + batch_size].to(device), s[start:start + batch_size].to(device))
        scores = judge_probabilities(judge, frames.float(), device=device)  # frames (B, T, 3, H, W) on the unit scale
        actions.append(scores.action)
        attributes.append(scores.attributes)
    return JudgeScores(np.concatenate(actions), np.concatenate(attributes))


def swap_partners(action: np.ndarray, seed: int) -> np.ndarray:
    """For each sequence A, the index of a sequence B of another action (seeded draw)."""
    rng = np.random.default_rng(seed)
    partners = np.empty(action.shape[0], dtype=np.int64)
    for i, a in enumerate(action):
        partners[i] = rng.choice(np.flatnonzero(action != a))
    return partners


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device | str) -> Iterator[None]:
    """Seed every generator (CPU and the device) for the block, and restore them after it."""
    with torch.random.fork_rng(devices=[device] if torch.device(device).type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def evaluate_video(model: nn.Module, judge: SpritesJudge, splits: Any, wanted: set[str], *, seed: int,
                   device: torch.device | str, record: Callable[[dict[str, float]], None],
                   log: Callable[[str], None] = lambda line: None, grid_path: Path | None = None) -> None:
    """Compute the wanted video metric groups and hand each to ``record`` as soon as it is computed.

    Args:
        model: a video model (``encode``, ``decode``, ``prior_z``, ``sample_prior_s``), on ``device``, in eval mode.
        judge: the judge at the model's frame size, on ``device``.
        splits: ``test_x`` / ``train_x`` uint8 ``(N, T, 3, H, W)``, ``{train,test}_attributes`` ``(N, 4)``,
            ``{train,test}_action`` ``(N,)``.
        wanted: headline keys of :data:`cmivae.metric_names.VIDEO_METRIC_GROUPS`.
        seed: seeds the subsets, the prior draws and the swap partners.
        grid_path: where ``swaps.png`` goes (with the swap metrics); ``None``: not drawn.
    """
    check_capabilities(model, wanted)
    if not wanted & set(VIDEO_METRIC_GROUPS):
        return
    test_action = np.asarray(splits.test_action)
    test_attributes = np.asarray(splits.test_attributes)
    rows = balanced_test_rows(test_action, PER_CLASS, seed)
    action, attributes = test_action[rows], test_attributes[rows]
    log(f"encoding {rows.shape[0]} test sequences ({rows.shape[0] // 9} per action)")
    z_np, s_np = encode_means(model, splits.test_x[torch.from_numpy(rows)], batch_size=BATCH_SIZE, device=device)
    z, s = torch.from_numpy(z_np), torch.from_numpy(s_np)  # (N, D), (N, T, D_s)
    n, steps = s.shape[0], s.shape[1]

    if "judge_action_acc" in wanted:
        log(f"keeping s, drawing z from the prior {REPEATS} times, judging the action")
        tables = []
        for k in range(REPEATS):
            with _seeded(seed + 1000 + k, device):
                z_prior = model.prior_z(n, torch.device(device)).sample().cpu()  # (N, D)
            tables.append(judge_decoded(model, judge, z_prior, s, device=device).action)
        scores = repeated_scores(tables, action)
        record({f"judge_action_{key}": value for key, value in scores.items()})
    if "judge_attr_acc" in wanted:
        log(f"keeping z, drawing s_1:T from the learned prior {REPEATS} times, judging the attributes")
        tables = []
        for k in range(REPEATS):
            with _seeded(seed + 2000 + k, device):
                s_prior = model.sample_prior_s(n, torch.device(device), num_steps=steps).cpu()  # (N, T, D_s)
            tables.append(judge_decoded(model, judge, z, s_prior, device=device).attributes)
        scores = repeated_scores(tables, attributes, attributes=True)
        record({f"judge_attr_{key}": value for key, value in scores.items()})
    if "swap_acc" in wanted:
        partners = swap_partners(action, seed + 3)  # (N,) B of each A
        swapped = judge_decoded(model, judge, z, s[torch.from_numpy(partners)], device=device)
        scores = swap_scores(swapped.action, swapped.attributes, action[partners], attributes)
        record({"swap_acc": scores["both"], "swap_action_acc": scores["action"], "swap_attr_acc": scores["attributes"]})
        if grid_path is not None:
            save_swap_grid(model, splits.test_x[torch.from_numpy(rows)], z, s, action, grid_path, seed=seed,
                           device=device)
    if "probe_z_attr" in wanted:
        train_action = np.asarray(splits.train_action)
        train_rows = balanced_test_rows(train_action, PER_CLASS, seed + 4)
        log(f"probes: posterior means of {train_rows.shape[0]} training sequences -> labels")
        z_train, s_train = encode_means(model, splits.train_x[torch.from_numpy(train_rows)], batch_size=BATCH_SIZE,
                                        device=device)
        probes = representation_probes(z_train, s_train, np.asarray(splits.train_attributes)[train_rows],
                                       train_action[train_rows], z_np, s_np, attributes, action, seed=seed)
        record({"probe_z_attr": probes["z_attributes"], "probe_s_action": probes["s_action"],
                "leak_z_action": probes["z_action"], "leak_s_attr": probes["s_attributes"]})


@torch.no_grad()
def save_swap_grid(model: nn.Module, real: torch.Tensor, z: torch.Tensor, s: torch.Tensor, action: np.ndarray,
                   path: Path, *, seed: int, device: torch.device | str) -> Path:
    """``swaps.png``: the first row shows :data:`GRID_COLUMNS` real sequences of distinct actions (the dynamics
    sources B); each further row a real sequence A (first cell) and then A's z decoded with each B's s.
    Every cell is a sequence's T frames side by side.

    Args:
        real: ``(N, T, 3, H, W)`` uint8 test sequences; z ``(N, D)``, s ``(N, T, D_s)`` their posterior means.
        action: ``(N,)`` their actions.
    """
    from cmivae.data.video.frames import to_unit_float
    from cmivae.sampling.grid import save_sample_grid

    rng = np.random.default_rng(seed + 5)
    firsts = [int(rng.choice(np.flatnonzero(action == a))) for a in rng.permutation(np.unique(action))]
    b_rows = firsts[:GRID_COLUMNS]
    a_rows = [int(i) for i in rng.choice(np.setdiff1d(np.arange(action.shape[0]), b_rows), GRID_ROWS, replace=False)]
    columns = len(b_rows)
    z_a = z[a_rows].repeat_interleave(columns, dim=0)  # (R*C, D): each A's z C times
    s_b = s[b_rows].repeat(len(a_rows), 1, 1)  # (R*C, T, D_s): the Bs in turn
    swapped = model.decode(z_a.to(device), s_b.to(device)).float().cpu()  # (R*C, T, 3, H, W)

    def strip(frames: torch.Tensor) -> torch.Tensor:
        return torch.cat(list(frames.unbind(-4)), dim=-1)  # (..., T, 3, H, W) -> (..., 3, H, T*W)

    first = torch.zeros_like(to_unit_float(real[:1]))  # an empty corner cell
    real_rows = torch.cat([first, to_unit_float(real[a_rows])])  # (1+R, T, 3, H, W)
    cells = torch.cat([to_unit_float(real[b_rows])[None], swapped.view(len(a_rows), columns, *swapped.shape[1:])])
    scale = 2 if real.shape[-1] <= 32 else 1
    return save_sample_grid(path, strip(real_rows).numpy(), strip(cells).numpy(), scale=scale,
                            title="top row: dynamics sources B; left column: real A; cells: z of A with s of B")


def run_judge(trainer: Any, splits: Any) -> tuple[SpritesJudge, JudgeRecord]:
    """The cached judge at the run's frame size, on the run's device; :func:`cmivae.metrics.evaluate.evaluate_run`
    calls it before any metric is computed, so a missing, damaged or mismatched judge (another size, other data)
    is one :class:`~cmivae.infra.errors.DataError` line before minutes of work."""
    from cmivae.judge.cache import load_judge, sprites_data_digest

    size = int(splits.test_x.shape[-1])  # (N, T, 3, H, W)
    data_dir = trainer.config.data.data_dir
    return load_judge(size, sprites_data_digest(data_dir), data_dir, device=trainer.device)


def video_metrics(trainer: Any, splits: Any, wanted: set[str], seed: int, run_dir: Path,
                  log: Callable[[str], None], record: Callable[[dict[str, Any]], None],
                  judge: tuple[SpritesJudge, JudgeRecord] | None = None) -> None:
    """The adapter :func:`cmivae.metrics.evaluate.evaluate_run` calls for a video run: checks the capabilities,
    takes the judge of :func:`run_judge`, records ``eval.json["judge"]``, then :func:`evaluate_video`."""
    from cmivae.runs import files

    check_capabilities(trainer.model, wanted)
    if not wanted & set(VIDEO_METRIC_GROUPS):
        return
    judge, judge_record = judge or run_judge(trainer, splits)
    size = int(splits.test_x.shape[-1])
    log(f"judge {judge_record.sha256[:12]} ({size}x{size}): {judge_record.accuracy_text()}; {judge_record.note}")
    record({"judge": {"sha256": judge_record.sha256, "frame_size": size,
                      "test_accuracy": judge_record.test_accuracy, "meets_target": judge_record.meets_target,
                      "note": judge_record.note}})
    evaluate_video(trainer.model, judge, splits, wanted, seed=seed, device=trainer.device, record=record, log=log,
                   grid_path=run_dir / files.SWAP_GRID)
