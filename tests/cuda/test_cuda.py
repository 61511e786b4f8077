"""The CUDA path on a GPU (``@pytest.mark.cuda``: skipped where none is visible; run by
``scripts/gpu_check.sh``): a training step on CUDA equals the CPU's in fp32, bf16 agrees with
fp32, cached sampling equals naive sampling, a killed run resumes bit-identically with
deterministic algorithms, DDP runs on one GPU with a process group of one, the data paths
(kept on the GPU, pinned host copies) give the same batches, and evaluation runs there.

Tolerances, and why: CPU and CUDA sum in different orders (cuDNN picks its algorithms), so
fp32 steps agree to ~1e-5 relative, checked at 1e-3 on gradients and 1e-4 on the loss.
bf16 autocast rounds activations to 8 bits of mantissa: the loss agrees to ~1e-3 and the
gradients' direction (cosine) is checked; on the CPU the per-layer gradients differ by
10-30% (BENCHMARKS.md) for the CMI critic path.
"""

from __future__ import annotations

import os

import pytest
import torch

from cmivae.config import load_config
from cmivae.infra import device as device_mod
from cmivae.training import loop
from cmivae.training.batches import BatchSource
from tests.cuda.host_noise import HostNoise
from tests.helpers import tiny_config, tiny_images
from tests.training.resume_check import straight_and_resumed

pytestmark = pytest.mark.cuda

CUDA = torch.device("cuda", 0)


@pytest.fixture(autouse=True)
def _restore_backends():
    state = device_mod.current_backend_state()
    yield
    device_mod.restore_backend_state(state)


def _cpu_preset(device: str, precision: str, objective: str = "cmi") -> object:
    """The pixelcnn-cpu architecture (7 masked layers x 32 maps) at 28x28, batch 32."""
    return load_config("pixelcnn-cpu", [f"train.device={device}", f"train.precision={precision}",
                                        "train.batch_size=32", f"objective.name={objective}"])


def _images(batch: int = 32) -> torch.Tensor:
    return (torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0)) < 0.3).to(torch.uint8)


def _step(config: object, x: torch.Tensor) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One train_step from the same initialization (built on the CPU with seed 0, then moved)
    with the noise drawn on the CPU; the logged terms and the VAE's gradients (on the CPU)."""
    torch.manual_seed(0)
    trainer = loop.build_trainer(config)
    torch.manual_seed(1)
    with HostNoise():
        logged, problem = loop.train_step(trainer, trainer.to_device(x), 0)
    assert problem is None
    grads = {name: p.grad.detach().float().cpu() for name, p in trainer.model.named_parameters() if p.grad is not None}
    return logged, grads


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def test_auto_picks_cuda_bf16_and_the_gpu_switches() -> None:
    trainer = loop.build_trainer(tiny_config(device="auto", precision="auto"))
    assert trainer.device == CUDA
    expected = "bf16" if torch.cuda.get_device_capability(CUDA) >= (8, 0) else "fp16"
    assert trainer.precision == expected
    assert trainer.scaler.is_enabled() == (expected == "fp16")
    assert trainer.channels_last
    assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
    assert next(trainer.model.parameters()).device == CUDA
    assert trainer.optimizer.defaults["fused"] and trainer.critic_optimizer.defaults["fused"]


# beta-VAE: no critic, the VAE's gradients compared directly. CMI-VAE: the critic takes two Adam
# steps first (fused on CUDA, per-tensor on the CPU: Adam's first step is ~lr * sign(g), so a critic
# gradient near 0 may move the other way), which reaches the VAE's gradients through the critic term.
@pytest.mark.parametrize(("objective", "grad_tolerance"), [("beta", 1e-3), ("cmi", 1e-2)])
def test_cuda_fp32_step_matches_cpu_fp32(objective: str, grad_tolerance: float) -> None:
    x = _images()
    cpu_logged, cpu_grads = _step(_cpu_preset("cpu", "fp32", objective), x)
    gpu_logged, gpu_grads = _step(_cpu_preset("cuda", "fp32", objective), x)
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    for name in ("neg_elbo", "recon", "kl_z"):  # the VAE's terms do not depend on the critic
        assert gpu_logged[name] == pytest.approx(cpu_logged[name], rel=1e-4, abs=1e-4), name
    for name, value in cpu_logged.items():  # the critic's terms too, after its two updates
        # an accuracy moves by 1/32 when one logit changes sign
        tolerance = {"abs": 0.07} if name.startswith("critic_acc") else {"rel": 1e-2, "abs": 1e-3}
        assert gpu_logged[name] == pytest.approx(value, **tolerance), name
    assert cpu_grads.keys() == gpu_grads.keys()
    worst = max((_relative(gpu_grads[k], cpu_grads[k]), k) for k in cpu_grads)
    assert worst[0] < grad_tolerance, f"largest relative gradient difference {worst[0]:.2e} in {worst[1]}"


def test_cuda_bf16_step_agrees_with_fp32() -> None:
    x = _images()
    fp32_logged, fp32_grads = _step(_cpu_preset("cuda", "fp32"), x)
    bf16_logged, bf16_grads = _step(_cpu_preset("cuda", "bf16"), x)
    for name in ("neg_elbo", "recon", "kl_z"):
        assert bf16_logged[name] == pytest.approx(fp32_logged[name], rel=2e-2), name
    flat32 = torch.cat([g.flatten() for g in fp32_grads.values()])
    flat16 = torch.cat([bf16_grads[k].flatten() for k in fp32_grads])
    cosine = float(torch.nn.functional.cosine_similarity(flat32, flat16, dim=0))
    assert cosine > 0.9, f"bf16 gradient direction is off: cosine {cosine:.3f} with fp32"


def test_cached_sampling_equals_naive_on_cuda() -> None:
    from cmivae.sampling import sample_cached_with_logits, sample_naive
    from tests.sampling.test_sampling import spread_model

    torch.backends.cudnn.allow_tf32 = False  # IEEE fp32 convolutions in the naive sampler
    torch.backends.cuda.matmul.allow_tf32 = False
    model = spread_model().to(CUDA).eval()  # paper kernels, 28x28
    batch = 8
    z = torch.randn(batch, model.config.z_dim, device=CUDA)
    uniforms = torch.rand(batch, 28 * 28, device=CUDA)
    expected = sample_naive(model, z, uniforms)
    cached = sample_cached_with_logits(model, z, uniforms)
    assert cached.images.device.type == "cuda"
    differing = int((cached.images != expected).flatten(1).any(dim=1).sum())
    # An image can differ only where a uniform falls within fp32 rounding of its pixel's probability.
    assert differing <= 1, f"{differing} of {batch} images differ between cached and naive sampling"
    logits, _ = model.decoder(cached.images, z)  # teacher forcing on the cached images
    torch.testing.assert_close(cached.logits, logits, rtol=0, atol=1e-3)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_kill_resume_on_cuda_is_bit_identical_when_deterministic(tmp_path, monkeypatch, precision: str) -> None:
    config = tiny_config("cmi", device="cuda", precision=precision, deterministic=True, checkpoint_every_steps=1)
    straight, resumed = straight_and_resumed(config, tiny_images(), tmp_path, monkeypatch, stop_after=3)
    for part in ("model", "objective"):
        for name, value in straight[part].items():
            assert torch.equal(value, resumed[part][name]), f"{part}.{name}"


def test_kill_resume_on_cuda_without_deterministic_is_close(tmp_path, monkeypatch) -> None:
    """cuDNN autotuning may pick other algorithms after a restart: close, not bit-identical."""
    config = tiny_config("cmi", device="cuda", precision="fp32", checkpoint_every_steps=1)
    straight, resumed = straight_and_resumed(config, tiny_images(), tmp_path, monkeypatch, stop_after=3)
    worst = max(float((value - resumed["model"][name]).abs().max()) for name, value in straight["model"].items())
    assert worst < 1e-4, f"largest parameter difference after resume {worst:.2e}"


def test_fp16_with_grad_scaler_trains_and_checkpoints_the_scale(tmp_path) -> None:
    results = loop.fit(tiny_config("cmi", device="cuda", precision="fp16"), tmp_path, data=tiny_images(),
                       progress=False)
    assert all(torch.isfinite(torch.tensor(results[k])) for k in ("elbo", "kl_z"))
    checkpoint = loop.load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert checkpoint["grad_scalers"]["model"]["scale"] > 0


def test_ddp_on_one_gpu_with_world_size_one(tmp_path, monkeypatch) -> None:
    import torch.distributed as dist

    from tests.reliability.runs import free_port

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    monkeypatch.setenv("LOCAL_RANK", "0")
    data = tiny_images()
    config = tiny_config("cmi", device="auto", precision="fp32", deterministic=True)
    alone = loop.fit(config, tmp_path / "alone", data=data, progress=False)
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        trainer = loop.build_trainer(config)
        assert trainer.device == CUDA and trainer.ddp_model is not None
        assert trainer.ddp_model.device_ids == [0]
        assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in trainer.objective.critic.modules())
        grouped = loop.fit(config, tmp_path / "ddp", data=data, progress=False)
    finally:
        dist.destroy_process_group()
    for key in ("elbo", "kl_z"):
        assert grouped[key] == pytest.approx(alone[key], rel=1e-3), key


def test_batches_kept_on_the_gpu_or_copied_from_pinned_memory_are_the_same() -> None:
    x = torch.randn(200, 20, 201)  # speech-like (N, T, F) float32 on the host
    kept, pinned = BatchSource(x, CUDA, on_device=True), BatchSource(x, CUDA, on_device=False)
    assert kept.x.device.type == "cuda" and pinned.x.device.type == "cpu"
    for seed in range(5):  # the pinned buffers are reused in turn
        rows = torch.randperm(200, generator=torch.Generator().manual_seed(seed))[:64]
        a, b = kept.batch(rows), pinned.batch(rows)
        assert a.device.type == b.device.type == "cuda"
        assert torch.equal(a.cpu(), x[rows]) and torch.equal(b.cpu(), x[rows])


def test_data_on_device_trains_like_host_batches_on_cuda(tmp_path) -> None:
    data = tiny_images()
    runs = [loop.fit(tiny_config("cmi", device="cuda", deterministic=True, data_on_device=flag), tmp_path / str(flag),
                     data=data, progress=False) for flag in (True, False)]
    assert runs[0] == runs[1]


def test_evaluate_runs_on_cuda(tmp_path) -> None:
    from cmivae.metrics.evaluate import evaluate_run

    data = tiny_images()
    loop.fit(tiny_config("cmi", device="cuda"), tmp_path, data=data, progress=False)
    values = evaluate_run(tmp_path, ["elbo", "mi_zs"], quiet=True, data=data)
    assert all(torch.isfinite(torch.tensor(values[k])) for k in ("elbo", "kl_z", "mi_zs"))


def test_benchmarks_run_on_cuda() -> None:
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--device", "cuda", "--quick", "--only", "ceilings"],
                            cwd=repo, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert "bf16 TFLOP/s" in result.stdout or "bf16 GFLOP/s" in result.stdout
