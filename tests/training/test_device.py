"""Every device-dependent branch, on the CPU: device resolution (torchrun ranks included),
precision per GPU capability (torch.cuda mocked), backend switches, channels_last per
device, the data-on-device path (``torch.device("cpu")``, bit-identical training), fp16
loss scaling (CPU autocast) and DDP with a process group of one."""

from __future__ import annotations

import json

import pytest
import torch

from cmivae.config import load_config
from cmivae.infra import device as device_mod
from cmivae.infra import precision
from cmivae.infra.errors import ConfigError
from cmivae.registry import build_model
from cmivae.runs.legacy import HASH_NEUTRAL_DEFAULTS, run_id
from cmivae.training import loop
from cmivae.training.batches import DEVICE_SHARE, BatchSource, keep_on_device
from tests.helpers import TINY_PIXELCNN, tiny_config, tiny_images
from tests.training.resume_check import straight_and_resumed


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch):
    """torch.cuda reporting ``count`` GPUs of compute capability ``capability``."""

    def install(count: int = 2, capability: tuple[int, int] = (9, 0), bf16: bool = True,
                free_bytes: int = 80 * 2**30) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free_bytes, 2 * free_bytes))

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    return install


@pytest.fixture
def restore_backends():
    state = device_mod.current_backend_state()
    yield
    device_mod.restore_backend_state(state)


# ---------------------------------------------------------------------------- device resolution

def test_auto_is_the_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_mod.resolve_device("auto") == torch.device("cpu")
    assert device_mod.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA device is available; use --set train.device=cpu"):
        device_mod.resolve_device("cuda")


def test_auto_picks_cuda_with_an_explicit_index(fake_cuda) -> None:
    fake_cuda(count=2)
    assert device_mod.resolve_device("auto") == torch.device("cuda", 0)
    assert device_mod.resolve_device("cuda") == torch.device("cuda", 0)
    assert device_mod.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert device_mod.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"only 2 CUDA device\(s\) are visible"):
        device_mod.resolve_device("cuda:2")


@pytest.mark.parametrize("rank", [0, 1, 3])
def test_under_torchrun_each_process_owns_cuda_local_rank(fake_cuda, monkeypatch: pytest.MonkeyPatch,
                                                           rank: int) -> None:
    fake_cuda(count=4)
    monkeypatch.setenv("LOCAL_RANK", str(rank))
    assert device_mod.resolve_device("auto") == torch.device("cuda", rank)
    assert device_mod.resolve_device("cuda") == torch.device("cuda", rank)
    assert device_mod.resolve_device(f"cuda:{rank}") == torch.device("cuda", rank)
    with pytest.raises(ConfigError, match=f"LOCAL_RANK={rank}"):
        device_mod.resolve_device(f"cuda:{(rank + 1) % 4}")


def test_torchrun_on_cpu_stays_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert device_mod.resolve_device("auto") == torch.device("cpu")


def test_precision_module_reexports_resolve_device() -> None:
    assert precision.resolve_device is device_mod.resolve_device


# ---------------------------------------------------------------------------- precision per capability

@pytest.mark.parametrize(("capability", "bf16", "expected"), [
    ((9, 0), True, "bf16"),  # H100 / H200
    ((8, 0), True, "bf16"),  # A100
    ((8, 6), True, "bf16"),  # RTX 30xx, A10
    ((7, 5), True, "fp16"),  # T4: torch may report emulated bf16; fp16 tensor cores are the fast path
    ((7, 0), False, "fp16"),  # V100
])
def test_auto_precision_on_cuda_follows_native_bf16(fake_cuda, capability, bf16, expected) -> None:
    fake_cuda(capability=capability, bf16=bf16)
    cuda = torch.device("cuda", 0)
    assert precision.resolve_precision("auto", cuda) == expected
    for explicit in ("bf16", "fp16", "tf32", "fp32"):
        assert precision.resolve_precision(explicit, cuda) == explicit


def test_native_bf16_check_works_without_the_emulation_argument(fake_cuda, monkeypatch) -> None:
    fake_cuda(capability=(8, 0))

    def old_signature() -> bool:  # torch < 2.3
        return True

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", old_signature)
    assert precision.cuda_has_native_bf16(torch.device("cuda", 0))


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch, native: bool, expected: str) -> None:
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: native)
    assert precision.resolve_precision("auto", torch.device("cpu")) == expected


def test_run_lstm_under_cpu_bf16_autocast_without_native_bf16_runs_fp32(monkeypatch) -> None:
    """oneDNN cannot build a bf16 LSTM on a CPU without bf16 kernels (AVX2 only): there
    :func:`precision.run_lstm` runs it in fp32, bit for bit the plain fp32 LSTM."""
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    torch.manual_seed(0)
    lstm, x = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True), torch.randn(3, 4, 6)
    plain, (h_plain, _) = lstm(x.bfloat16().float())  # what a bf16 input holds, in fp32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h_n, _) = precision.run_lstm(lstm, x.bfloat16())
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.bfloat16  # autocast is back on after it
    assert out.dtype == h_n.dtype == torch.float32
    assert torch.equal(out, plain) and torch.equal(h_n, h_plain)


def test_run_lstm_keeps_autocast_where_the_cpu_has_bf16(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    calls = []
    lstm = torch.nn.LSTM(6, 5, batch_first=True)
    monkeypatch.setattr(lstm, "forward", lambda x: calls.append((x.dtype, torch.is_autocast_enabled("cpu"))))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        precision.run_lstm(lstm, torch.randn(3, 4, 6))
    precision.run_lstm(lstm, torch.randn(3, 4, 6))
    assert calls == [(torch.float32, True), (torch.float32, False)]  # handed over as given, autocast left on


@pytest.mark.parametrize(("name", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16),
                                             ("tf32", torch.float32), ("fp32", torch.float32)])
def test_autocast_dtype_per_precision(name: str, dtype: torch.dtype) -> None:
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with precision.autocast(torch.device("cpu"), name):
        assert (a @ b).dtype == dtype


def test_grad_scaler_only_for_fp16() -> None:
    cpu = torch.device("cpu")
    assert precision.make_grad_scaler(cpu, "fp16").is_enabled()
    for name in ("bf16", "tf32", "fp32"):
        assert not precision.make_grad_scaler(cpu, name).is_enabled()


# ---------------------------------------------------------------------------- backend switches

@pytest.mark.parametrize("name", ["bf16", "fp16", "tf32", "fp32"])
def test_backend_settings_per_device(name: str) -> None:
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    on_gpu = device_mod.backend_settings(cuda, name)
    assert on_gpu.tf32 == (name != "fp32")  # fp32 stays IEEE fp32, comparable with the CPU
    assert on_gpu.cudnn_benchmark and not on_gpu.deterministic
    deterministic = device_mod.backend_settings(cuda, name, deterministic=True)
    assert not deterministic.cudnn_benchmark and deterministic.deterministic
    assert device_mod.backend_settings(cpu, name) == device_mod.BackendSettings(False, False, False)


def test_cuda_switches_are_set_and_cpu_is_left_alone(restore_backends, monkeypatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.backends.cudnn.benchmark = False
    device_mod.apply_backend_settings(torch.device("cpu"), device_mod.BackendSettings(True, True, False))
    assert not torch.backends.cudnn.benchmark  # CUDA switches are not touched for a CPU run
    cuda = torch.device("cuda", 0)
    device_mod.apply_backend_settings(cuda, device_mod.backend_settings(cuda, "bf16"))
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
    device_mod.apply_backend_settings(cuda, device_mod.backend_settings(cuda, "fp32", deterministic=True))
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert device_mod.os.environ["CUBLAS_WORKSPACE_CONFIG"] == device_mod.CUBLAS_DETERMINISTIC_WORKSPACE


def test_deterministic_training_on_cpu_is_unchanged(tmp_path, restore_backends) -> None:
    data = tiny_images()
    plain = loop.fit(tiny_config(), tmp_path / "plain", data=data, progress=False)
    strict = loop.fit(tiny_config(deterministic=True), tmp_path / "strict", data=data, progress=False)
    assert torch.are_deterministic_algorithms_enabled()
    assert plain == strict


def test_fused_adam_only_on_cuda() -> None:
    assert device_mod.optimizer_options(torch.device("cuda", 0)) == {"fused": True}
    assert device_mod.optimizer_options(torch.device("cpu")) == {}
    trainer = loop.build_trainer(tiny_config())
    assert not trainer.optimizer.defaults.get("fused") and not trainer.critic_optimizer.defaults.get("fused")


# ---------------------------------------------------------------------------- channels_last per device

def test_channels_last_per_device_and_precision() -> None:
    image = build_model("pixelcnn_vae", {k: v for k, v in TINY_PIXELCNN.items() if k != "name"})
    speech = build_model("dsae", {})
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert device_mod.use_channels_last(cpu, "bf16", image)
    assert not device_mod.use_channels_last(cpu, "fp32", image)
    assert not device_mod.use_channels_last(cpu, "fp16", image)
    assert device_mod.use_channels_last(cuda, "bf16", image) and device_mod.use_channels_last(cuda, "fp16", image)
    assert not device_mod.use_channels_last(cuda, "fp32", image)
    assert device_mod.use_channels_last(cuda, "fp32", image, setting=True)
    assert not device_mod.use_channels_last(cpu, "bf16", image, setting=False)
    for dev in (cpu, cuda):
        assert not device_mod.use_channels_last(dev, "bf16", speech, setting=True)


def test_channels_last_setting_reaches_the_trainer() -> None:
    assert loop.build_trainer(tiny_config(channels_last=True)).channels_last
    assert not loop.build_trainer(tiny_config(precision="bf16", channels_last=False)).channels_last


# ---------------------------------------------------------------------------- data on the device

def test_keep_on_device_policy(fake_cuda) -> None:
    cpu = torch.device("cpu")
    assert not keep_on_device(10, cpu) and keep_on_device(10, cpu, True) and not keep_on_device(10, cpu, False)
    fake_cuda(free_bytes=1000)
    cuda = torch.device("cuda", 0)
    assert keep_on_device(int(DEVICE_SHARE * 1000), cuda)
    assert not keep_on_device(int(DEVICE_SHARE * 1000) + 1, cuda)
    assert keep_on_device(10**12, cuda, True) and not keep_on_device(10, cuda, False)


def test_batch_source_gives_the_rows_in_order() -> None:
    x = torch.randint(0, 2, (50, 1, 8, 8), dtype=torch.uint8)
    rows = torch.randperm(50)[:16]
    for on_device in (False, True):
        batch = BatchSource(x, torch.device("cpu"), on_device).batch(rows)
        assert batch.dtype == torch.uint8 and torch.equal(batch, x[rows])


@pytest.mark.parametrize("objective", ["cmi", "beta"])
def test_data_on_device_trains_bit_identically(tmp_path, objective: str) -> None:
    data = tiny_images()
    host = loop.fit(tiny_config(objective, data_on_device=False), tmp_path / "host", data=data, progress=False)
    kept = loop.fit(tiny_config(objective, data_on_device=True), tmp_path / "kept", data=data, progress=False)
    assert host == kept
    a = loop.load_checkpoint(tmp_path / "host" / "checkpoints" / "last.pt")["model"]
    b = loop.load_checkpoint(tmp_path / "kept" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_new_train_fields_are_validated_and_hash_neutral() -> None:
    for key in ("compile_mode", "deterministic", "data_on_device", "channels_last"):
        assert ("train", key) in HASH_NEUTRAL_DEFAULTS
    base = tiny_config()
    assert run_id(base) == run_id(tiny_config(data_on_device="auto", channels_last="auto"))
    assert run_id(base) != run_id(tiny_config(deterministic=True))
    for bad in ({"data_on_device": "yes"}, {"channels_last": 2}, {"compile_mode": "fast"}, {"precision": "fp8"}):
        with pytest.raises(ConfigError):
            tiny_config(**bad)
    assert load_config("pixelcnn-paper", ["train.precision=fp16"]).train.precision == "fp16"


# ---------------------------------------------------------------------------- fp16 loss scaling (CPU autocast)

def test_fp16_overflow_skips_the_step_and_lowers_the_scale() -> None:
    trainer = loop.build_trainer(tiny_config("cmi", precision="fp16"))
    assert trainer.scaler.is_enabled() and trainer.critic_scaler.is_enabled()
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**127)  # scaled loss overflows to inf
    x = trainer.to_device(tiny_images().train_x[:16])
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    logged, problem = loop.train_step(trainer, x, 0)
    assert problem is None and "neg_elbo" in logged
    assert trainer.scaler.get_scale() == 2.0**126
    weights = [k for k in before if k.endswith("weight")]
    assert all(torch.equal(before[k], trainer.model.state_dict()[k]) for k in weights)  # the step was skipped
    logged, problem = loop.train_step(trainer, x, 1)
    assert problem is None


def test_fp16_run_saves_the_scaler_and_resumes_bit_identically(tmp_path, monkeypatch) -> None:
    config = tiny_config("cmi", precision="fp16", checkpoint_every_steps=1)
    straight, resumed = straight_and_resumed(config, tiny_images(), tmp_path, monkeypatch, stop_after=3)
    assert set(straight["grad_scalers"]) == {"model", "critic"}
    assert straight["grad_scalers"] == resumed["grad_scalers"]
    assert straight["grad_scalers"]["model"]["scale"] > 0
    for name, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][name]), name


def test_fp32_checkpoint_has_disabled_scalers(tmp_path) -> None:
    loop.fit(tiny_config(epochs=1), tmp_path, data=tiny_images(), progress=False)
    checkpoint = loop.load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert checkpoint["grad_scalers"] == {"model": {}, "critic": {}}
    assert json.loads((tmp_path / "results.json").read_text())["steps"] == 4


# ---------------------------------------------------------------------------- DDP with a group of one

def test_ddp_wraps_under_a_process_group_of_one(tmp_path, monkeypatch) -> None:
    import torch.distributed as dist

    from tests.reliability.runs import free_port

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    data = tiny_images()
    alone = loop.fit(tiny_config(), tmp_path / "alone", data=data, progress=False)
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        trainer = loop.build_trainer(tiny_config())
        assert trainer.ddp_model is not None
        grouped = loop.fit(tiny_config(), tmp_path / "ddp", data=data, progress=False)
    finally:
        dist.destroy_process_group()
    assert grouped == alone  # one process in DDP takes the steps of one process without it
