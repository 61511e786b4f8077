"""The training loop: run files, refusals, exact resume, non-finite values."""

import json
import os

import pytest
import torch

from cmivae.infra.errors import ConfigError, TrainingError
from cmivae.runs.checkpoint import load_checkpoint
from cmivae.training import loop
from tests.helpers import tiny_config, tiny_images


def test_fit_writes_the_three_run_files(tmp_path) -> None:
    results = loop.fit(tiny_config(), tmp_path / "run", data=tiny_images(), progress=False)
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["objective"]["name"] == "cmi" and config["code_version"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    for key in ("recon", "kl_z", "critic_loss", "critic_acc", "cmi_penalty", "neg_elbo"):
        assert key in lines[0]["train"], key
    saved = json.loads((run / "results.json").read_text())
    assert saved == results
    assert saved["elbo"] == pytest.approx(-(saved["recon"] + saved["kl_z"]), rel=1e-5)
    assert saved["recon"] > 0 and saved["kl_z"] >= 0


def test_finished_or_different_runs_are_refused(tmp_path) -> None:
    data = tiny_images()
    loop.fit(tiny_config(), tmp_path, data=data, progress=False)
    with pytest.raises(ConfigError, match="finished run"):
        loop.fit(tiny_config(), tmp_path, data=data, progress=False)
    with pytest.raises(ConfigError, match="different config.*objective.gamma: 0.5 -> 0.3"):
        loop.fit(tiny_config(gamma=0.3), tmp_path, data=data, progress=False)
    results = loop.fit(tiny_config(gamma=0.3), tmp_path, data=data, progress=False, force=True)
    assert json.loads((tmp_path / "config.json").read_text())["config"]["objective"]["gamma"] == 0.3
    assert results["steps"] == 8


def _params(path):
    return load_checkpoint(path)["model"]


@pytest.mark.parametrize("stop_after", [3, 5])
def test_resume_after_interruption_is_bit_identical(tmp_path, monkeypatch, stop_after: int) -> None:
    from tests.training.resume_check import straight_and_resumed

    a, b = (ckpt["model"] for ckpt in straight_and_resumed(tiny_config(checkpoint_every_steps=1), tiny_images(),
                                                           tmp_path, monkeypatch, stop_after))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    straight = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val"] for r in straight] == [r["val"] for r in resumed]


def test_a_residual_decoder_resumes_bit_identically_with_its_batch_norm_statistics(tmp_path, monkeypatch) -> None:
    from cmivae.config import load_config
    from tests.helpers import tiny_raw
    from tests.training.resume_check import straight_and_resumed

    raw = tiny_raw(checkpoint_every_steps=1)
    config = load_config({**raw, "model": {**raw["model"], "block": "residual"}})
    a, b = (ckpt["model"] for ckpt in straight_and_resumed(config, tiny_images(), tmp_path, monkeypatch, 3))
    stats = [name for name in a if name.startswith("decoder.norms.") and name.endswith("running_var")]
    assert len(stats) == len(raw["model"]["kernel_sizes"])  # one batch norm per masked layer, in the checkpoint
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_resume_without_checkpoint_is_an_error(tmp_path) -> None:
    from cmivae.infra.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no checkpoint"):
        loop.fit(tiny_config(), tmp_path, data=tiny_images(), progress=False, resume=True)


def _poisoned_data():
    data = tiny_images()
    data.train_x = data.train_x.float()
    data.train_x[20:24] = float("nan")  # the second batch of 16 holds NaN pixels
    return data


@pytest.mark.parametrize(("objective", "term"), [("beta", "loss term 'recon'"), ("cmi", "critic term 'critic_loss'")])
def test_non_finite_loss_stops_cleanly_with_a_record(tmp_path, objective: str, term: str) -> None:
    data = _poisoned_data()
    with pytest.raises(TrainingError, match=rf"{term} is nan at step (\d+); no checkpoint was written yet") as info:
        loop.fit(tiny_config(objective), tmp_path, data=data, progress=False)
    failure = json.loads((tmp_path / "failure.json").read_text())
    assert term in failure["error"] and f"step {failure['step']};" in str(info.value)


def test_non_finite_batches_can_be_skipped(tmp_path) -> None:
    data = _poisoned_data()
    results = loop.fit(tiny_config(nonfinite="skip", max_skipped_fraction=0.5), tmp_path, data=data, progress=False)
    assert results["skipped_batches"] >= 1
    assert all(torch.isfinite(v).all() for v in _params(tmp_path / "checkpoints" / "last.pt").values())


def test_epoch_order_is_a_seeded_permutation() -> None:
    a, b = loop.epoch_order(0, 3, 100), loop.epoch_order(0, 3, 100)
    assert torch.equal(a, b) and sorted(a.tolist()) == list(range(100))
    assert not torch.equal(a, loop.epoch_order(0, 4, 100))


def _compiled_frames() -> int:
    from torch._dynamo.utils import counters

    return sum(counters["frames"].values()) if "frames" in counters else 0


def test_compile_option_compiles_the_forward(tmp_path, monkeypatch) -> None:
    """train.compile wraps the model's forward in torch.compile and dynamo captures it.

    torch.compile is called with the cheap ``eager`` backend here (the graph capture is the
    same; inductor's C++ code generation alone takes ~2 minutes on 2 cores, see the slow test).
    """
    import torch._dynamo

    calls = []
    real_compile = torch.compile

    def spy(fn, **kwargs):
        calls.append(fn)
        return real_compile(fn, backend="eager")

    monkeypatch.setattr(torch, "compile", spy)
    torch._dynamo.reset()
    before = _compiled_frames()
    results = loop.fit(tiny_config("beta", epochs=1, compile=True), tmp_path, data=tiny_images(n_train=32),
                       progress=False)
    assert len(calls) == 1 and getattr(calls[0], "__name__", "") == "forward"
    assert _compiled_frames() > before, "dynamo compiled no frame"
    assert results["recon"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CMIVAE_SLOW_TESTS"), reason="inductor compilation takes ~2 min on 2 cores; "
                    "set CMIVAE_SLOW_TESTS=1")
def test_compile_option_trains_with_inductor(tmp_path) -> None:
    """The real default backend (inductor) trains a run to the end."""
    pytest.importorskip("torch._inductor")
    import torch._dynamo

    torch._dynamo.reset()
    before = _compiled_frames()
    results = loop.fit(tiny_config("beta", epochs=1, compile=True), tmp_path, data=tiny_images(n_train=32),
                       progress=False)
    assert _compiled_frames() > before and results["recon"] > 0


def test_a_run_records_its_numerics_and_a_resume_at_another_precision_says_so(tmp_path, monkeypatch) -> None:
    """``train.precision: auto`` is bf16 on a CPU with bf16 kernels and fp32 on one without, under
    one run id: config.json records what the run computed at, and a run resumed on another machine
    kind warns (train.log) and keeps both records."""
    from cmivae.infra.precision import resolve_precision
    from tests.training.resume_check import killed_after

    # precision "auto" (tiny_config pins fp32): the real record then says what auto resolves to here
    config, data, run = tiny_config(checkpoint_every_steps=1, precision="auto"), tiny_images(), tmp_path / "run"
    here = resolve_precision("auto", torch.device("cpu"))
    elsewhere = "fp32" if here == "bf16" else "bf16"
    real_numerics = loop.numerics

    # the first segment "ran on another machine": its record says the other precision
    monkeypatch.setattr(loop, "numerics", lambda device, precision: {**real_numerics(device, precision),
                                                                     "precision": elsewhere})
    killed_after(config, data, run, monkeypatch, stop_after=1)
    saved = json.loads((run / "config.json").read_text())
    assert saved["numerics"]["precision"] == elsewhere and saved["numerics"]["device"] == "cpu"
    assert saved["numerics"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    monkeypatch.setattr(loop, "numerics", real_numerics)
    killed_after(config, data, run, monkeypatch, stop_after=1)  # the second segment, here
    loop.fit(config, run, data=data, progress=False, resume=True)  # the third, here too
    saved = json.loads((run / "config.json").read_text())
    assert saved["numerics"]["precision"] == elsewhere  # the first record is kept
    assert [r["precision"] for r in saved["numerics_resumed"]] == [here]  # one change, recorded once
    log = (run / "train.log").read_text()
    assert f"trained at precision {elsewhere}" in log and f"resumes at {here} here" in log
    assert log.count("resumes at") == 1  # the third segment continues at the second's precision


def test_a_resume_at_the_same_precision_adds_no_record(tmp_path, monkeypatch) -> None:
    from tests.training.resume_check import straight_and_resumed

    straight_and_resumed(tiny_config(checkpoint_every_steps=1), tiny_images(), tmp_path, monkeypatch, stop_after=1)
    saved = json.loads((tmp_path / "resumed" / "config.json").read_text())
    assert "numerics" in saved and "numerics_resumed" not in saved
    assert "resumes at" not in (tmp_path / "resumed" / "train.log").read_text()


def test_a_second_signal_is_the_same_request_within_a_second_and_a_new_one_after(monkeypatch) -> None:
    """signals.StopRequest: Ctrl-C on a process group delivers SIGINT, then the sweep's SIGTERM, within
    milliseconds (one request); a second signal later (a person pressing Ctrl-C again) stops at once."""
    import signal

    from cmivae.training import signals

    clock = iter([100.0, 100.2, 101.5])
    monkeypatch.setattr(signals.time, "monotonic", lambda: next(clock))
    request = signals.StopRequest()
    request._handle(signal.SIGINT, None)
    request._handle(signal.SIGTERM, None)  # 0.2 s later: the same request
    assert request.signum == signal.SIGINT and request.name == "SIGINT"
    with pytest.raises(signals.Interrupted, match="stopped by a second SIGTERM") as stopped:
        request._handle(signal.SIGTERM, None)  # 1.5 s after the first
    assert stopped.value.exit_code == 128 + signal.SIGTERM
