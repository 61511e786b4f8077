"""Issue 31 item 9: ``fit`` and ``evaluate_run`` apply the thread policy of ``cmivae train`` /
``cmivae evaluate`` (``threads=``, default auto), so the README's API snippet computes with the
threads the CLI would choose, not torch's default."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cmivae.infra.threads import choose_threads
from cmivae.metrics import evaluate
from cmivae.training.loop import fit
from tests.helpers import tiny_config, tiny_images


@pytest.fixture()
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_fit_and_evaluate_run_set_the_threads_as_the_cli_does(tmp_path: Path, monkeypatch,
                                                              restore_threads) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # what auto obeys first, in the CLI as in the API
    cli_choice = choose_threads("auto").threads
    assert cli_choice == 2
    torch.set_num_threads(3)  # torch's own default on some machine
    run = tmp_path / "run"
    fit(tiny_config("beta", epochs=1), run, progress=False, data=tiny_images())
    assert torch.get_num_threads() == cli_choice, "fit applies the policy (threads='auto' by default)"

    torch.set_num_threads(3)
    monkeypatch.setattr(evaluate, "MI_STEPS", 2)
    evaluate.evaluate_run(run, ["elbo"], quiet=True, data=tiny_images())
    assert torch.get_num_threads() == cli_choice, "evaluate_run too"

    torch.set_num_threads(3)
    evaluate.evaluate_run(run, ["elbo"], quiet=True, data=tiny_images(), threads=1)
    assert torch.get_num_threads() == 1, "a count, as --threads 1"
    torch.set_num_threads(3)
    evaluate.evaluate_run(run, ["elbo"], quiet=True, data=tiny_images(), threads=None)
    assert torch.get_num_threads() == 3, "None: the caller chose (the CLI, a sweep worker)"


def test_the_readme_says_the_api_applies_the_policy() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "threads=" in readme and "threads policy" in readme.lower()
