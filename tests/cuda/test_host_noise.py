"""The helper of the CUDA tests, checked on the CPU: under HostNoise a CPU step is unchanged."""

from __future__ import annotations

import torch

from cmivae.training import loop
from tests.cuda.host_noise import HostNoise
from tests.helpers import tiny_config, tiny_images


def test_host_noise_changes_nothing_on_the_cpu() -> None:
    x = tiny_images().train_x[:16]
    results = []
    for mode in (None, HostNoise()):
        torch.manual_seed(3)
        trainer = loop.build_trainer(tiny_config("cmi"))
        if mode is None:
            logged, _ = loop.train_step(trainer, trainer.to_device(x), 0)
        else:
            with mode:
                logged, _ = loop.train_step(trainer, trainer.to_device(x), 0)
        results.append((logged, {k: v.clone() for k, v in trainer.model.state_dict().items()}))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(results[0][1][k], results[1][1][k]) for k in results[0][1])


def test_host_noise_draws_from_the_cpu_stream() -> None:
    torch.manual_seed(1)
    expected = torch.randn(4, 3)
    torch.manual_seed(1)
    with HostNoise():
        drawn = torch.empty(4, 3).normal_()
    assert torch.equal(drawn, expected)
