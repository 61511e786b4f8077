"""Multi-process training: two gloo processes on loopback take the same steps as one
process on the same global batch; only rank 0 writes; ranks agree on non-finite batches."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import distributions as dist

from cmivae.config import load_config
from cmivae.objectives.base import Objective
from cmivae.objectives.critics import ZSCritic
from cmivae.registry import MODELS, OBJECTIVES, build_model, build_objective
from cmivae.runs.checkpoint import load_checkpoint
from cmivae.runs.directory import RunDirectory
from cmivae.training import loop
from cmivae.training.distributed import GlobalBatchNoise, sync_batch_norm
from tests.helpers import TINY_MODELS, tiny_batch, tiny_config
from tests.reliability.runs import free_port, skip_nan_worker

# ---------------------------------------------------------------------------- global-batch noise, one process


def _draws(loc: torch.Tensor, scale: torch.Tensor) -> list[torch.Tensor]:
    """Every kind of per-example draw a model or objective makes for a batch of ``loc.shape[0]``,
    then one draw that is not per-example."""
    batch = loc.shape[0]
    posterior = dist.Independent(dist.Normal(loc, scale), 1)
    return [posterior.rsample(), posterior.sample(), torch.randn(batch, 2, 3), torch.randn((batch, 5)),
            torch.rand(batch, 3), torch.randn_like(loc), torch.normal(loc, 0.5), torch.normal(0.0, scale),
            torch.normal(1.0, 2.0, (batch, 2)), torch.empty(batch, 3).normal_(1.0, 3.0),
            torch.empty(batch, 3).uniform_(-1, 1), torch.randn(3, 3)]


@pytest.mark.parametrize("num_ranks", [2, 3])
def test_each_rank_draws_its_rows_of_the_single_process_noise(num_ranks: int) -> None:
    per_rank = 4
    loc = torch.linspace(-1, 1, 3 * per_rank * num_ranks).view(-1, 3)  # (N*B, 3)
    scale = torch.linspace(0.5, 2, 3 * per_rank * num_ranks).view(-1, 3)
    torch.manual_seed(5)
    single = _draws(loc, scale)
    state_after = torch.get_rng_state()
    shards = []
    for rank in range(num_ranks):
        rows = slice(rank * per_rank, (rank + 1) * per_rank)
        torch.manual_seed(5)
        with GlobalBatchNoise(per_rank, num_ranks, rank):
            shards.append(_draws(loc[rows], scale[rows]))
        assert torch.equal(torch.get_rng_state(), state_after), "every rank's stream stays that of one process"
    for i, whole in enumerate(single[:-1]):
        assert torch.equal(torch.cat([shard[i] for shard in shards]), whole), f"draw {i}"
    assert all(torch.equal(shard[-1], single[-1]) for shard in shards)  # drawn whole on every rank


# The objectives that draw prior samples in their critic step (their own critic_loss), from the registry.
ADVERSARIAL = sorted(n for n, k in OBJECTIVES.items() if k.critic_loss is not Objective.critic_loss)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_and_critic_draws_the_rows_of_the_global_batch(name: str) -> None:
    model = build_model(name, {k: v for k, v in TINY_MODELS[name].items() if k != "name"})
    # Batch norm in training mode normalizes by each rank's own rows (as DDP without SyncBatchNorm does), which is
    # not what this test is about: it compares the noise draws, with the layers in evaluation mode.
    model.eval()
    objectives = {key: build_objective(key, model, 0.5, critic_hidden_dim=8) for key in ADVERSARIAL}
    x = tiny_batch(model, batch_size=8, seed=5)
    torch.manual_seed(3)
    whole = model(x)
    for rank in range(2):
        rows = slice(4 * rank, 4 * rank + 4)
        torch.manual_seed(3)
        with GlobalBatchNoise(4, 2, rank):
            part = model(x[rows])
            for objective in objectives.values():
                objective.critic_loss(part)  # prior draws; nothing refused
        torch.testing.assert_close(part.z, whole.z[rows], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(part.s, whole.s[rows], rtol=1e-5, atol=1e-6)


def test_unsupported_random_functions_are_refused_not_silently_shared() -> None:
    with GlobalBatchNoise(4, 2, 0), pytest.raises(NotImplementedError, match="dropout draws random numbers"):
        torch.nn.functional.dropout(torch.ones(4, 3), 0.5)
    with GlobalBatchNoise(4, 2, 1), pytest.raises(NotImplementedError, match="bernoulli"):
        torch.bernoulli(torch.full((4, 3), 0.5))


def test_sync_batch_norm_keeps_parameters_and_state_dict() -> None:
    critic = ZSCritic(4, (8, 8, 8), hidden_dim=8)
    params, keys = list(critic.parameters()), list(critic.state_dict())
    synced = sync_batch_norm(critic)
    assert all(a is b for a, b in zip(params, synced.parameters(), strict=True)), "optimizers stay valid"
    assert list(synced.state_dict()) == keys, "checkpoints stay loadable"
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == 2


def test_only_rank_0_writes(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path / "run", rank=1)
    run.prepare(tiny_config(), force=False, resume=False)
    run.save_last({"x": torch.zeros(1)})
    run.save_best({"x": torch.zeros(1)})
    run.write_history([{"epoch": 1}])
    run.write_results({"elbo": 1.0})
    run.record_failure("boom", 3)
    run.log("hello")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- real processes


def test_two_gloo_processes_equal_one_process_on_the_global_batch(tmp_path: Path, write_config) -> None:
    config_path = write_config("mi", num_train=128, epochs=1)  # 4 steps of a global batch of 32, 16 per rank
    single, multi = tmp_path / "single", tmp_path / "torchrun"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", "-m", "cmivae", "train", str(config_path), "--out", str(multi),
               "--no-progress"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loop.fit(load_config(str(config_path)), single, progress=False)

    for name in ("best.pt", "checkpoints/last.pt"):
        a, b = load_checkpoint(single / name), load_checkpoint(multi / name)
        for part in ("model", "objective"):
            for key, value in a[part].items():
                torch.testing.assert_close(b[part][key], value, rtol=1e-5, atol=1e-6, msg=f"{name} {part}.{key}")
    assert load_checkpoint(multi / "checkpoints/last.pt")["train_state"]["step"] == 4
    # Rank 0 alone wrote and printed: one results table, each log line once.
    assert proc.stdout.count("run directory:") == 1
    log = (multi / "train.log").read_text().splitlines()
    assert sum("epoch 1:" in line for line in log) == 1
    assert sorted(p.name for p in multi.iterdir()) == sorted(p.name for p in single.iterdir())


def test_ranks_skip_a_batch_together_when_only_one_shard_is_not_finite(tmp_path: Path) -> None:
    poisoned = int(loop.epoch_order(0, 0, 64)[16 + 12])  # 2nd batch of 16, in rank 1's half
    context = mp.start_processes(skip_nan_worker, args=(2, free_port(), str(tmp_path / "run"), poisoned,
                                                        str(tmp_path)), nprocs=2, join=False, start_method="fork")
    deadline = time.monotonic() + 150
    try:
        while not context.join(timeout=1):
            assert time.monotonic() < deadline, "the ranks hung (they disagreed on skipping a batch)"
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert reports[0]["skipped_batches"] == reports[1]["skipped_batches"] >= 1
    assert reports[0] == reports[1]
