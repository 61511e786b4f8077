"""``python -m benchmarks`` runs and prints ratios (never asserts on wall time)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def test_quick_ceilings_print_ratios() -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "ceilings", "--threads", "1"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(r"\| ceilings \| bf16 / fp32 \| \d+\.\d+x \|", result.stdout), result.stdout
    assert "machine:" in result.stdout and "GFLOP/s" in result.stdout


def test_every_suite_runs_at_its_smallest_size(tmp_path: Path) -> None:
    """Every registered suite, --quick (its smallest size): none may crash after timing (issue 31, item 18)."""
    from benchmarks.suites import BENCHMARKS

    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--threads", "1", "--json", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {row["benchmark"] for row in rows if row["measurement"] == "peak memory"} == set(BENCHMARKS)
    steps = [row for row in rows if row["benchmark"] == "steps" and "cmi" in row["measurement"]]
    assert steps and all("of the bf16 matmul rate" in row["note"] for row in steps if "pixelcnn" in row["measurement"])
    assert any(row["benchmark"] == "dsae ceiling" and row["measurement"] == "useful GFLOP per step" for row in rows)


def test_device_option_writes_json_and_peak_memory(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "ceilings", "--threads", "1",
                             "--device", "cpu", "--json", str(out)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {"ceilings"} == {row["benchmark"] for row in rows}
    assert any(row["measurement"] == "peak memory" and row["value"].endswith("MiB") for row in rows)
    assert "per CPU-second" in rows[0]["note"]  # on the CPU, CPU-seconds on one thread as before


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_device_without_a_gpu_is_a_clear_error() -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--device", "cuda", "--only", "ceilings"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --device cuda but no CUDA device is visible")


def test_useful_flops_count_the_unmasked_taps() -> None:
    from benchmarks.flops import pixelcnn_vae_step_flops, unmasked_taps
    from cmivae.models.layers import causal_mask
    from cmivae.models.pixelcnn_vae import PixelCNNVAEConfig

    for k in (1, 3, 5, 7, 9):
        for mask_type in ("A", "B"):
            assert unmasked_taps(k, mask_type) == int(causal_mask(k, mask_type, rows=k).sum())
    config = PixelCNNVAEConfig()
    flops = pixelcnn_vae_step_flops(config, batch_size=1, with_critic=False)
    # Forward of the masked stack of appendix B, one image: 24 + 4 x 25 x 64 taps of 7x7, 13 x 64 + 3 x 13 x 68 of
    # 5x5, 4 x 5 x 68 of 3x3, each tap a multiply-add (2 FLOPs) per output channel (64) and pixel (784).
    forward = 2 * 784 * 64 * (24 + 4 * 25 * 64 + 13 * 64 + 3 * 13 * 68 + 4 * 5 * 68)
    first_layer_input_grad = 2 * 784 * 64 * 24
    dense = 2 * 32 * 4 * 784 * 3 + 2 * 784 * 64 * 3  # z -> maps, 1x1 output convolution
    assert flops.useful["decoder"] == 3 * forward - first_layer_input_grad + dense
    assert flops.decoder_executed_cropped > flops.useful["decoder"]
    assert flops.decoder_executed_full > flops.decoder_executed_cropped


def test_gpu_check_step_cap_and_summary(tmp_path: Path) -> None:
    from benchmarks.gpu_check import FALLBACK_IMAGES_PER_SECOND, step_cap, summary

    bench = tmp_path / "bench.json"
    assert step_cap(bench, 64.0, runs=1) == int(FALLBACK_IMAGES_PER_SECOND)  # no benchmark: the cautious rate
    rows = [{"benchmark": "steps", "measurement": "pixelcnn-paper cmi, images/s", "value": "6400.0", "note": ""},
            {"benchmark": "sampling", "measurement": "cached, 1000 images, s", "value": "3.5", "note": "fp32"}]
    bench.write_text(json.dumps({"rows": rows}))
    assert step_cap(bench, 10.0, runs=1) == 1000
    assert step_cap(bench, 10.0, runs=2) < 1000  # two runs share the GPU
    run = tmp_path / "runs" / "cmi"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "step": 750, "epoch_complete": True,
                                                   "images_per_second": 6100.0}) + "\n")
    (run / "results.json").write_text(json.dumps({"elbo": -250.0, "kl_z": 20.0}))
    (run / "eval.json").write_text(json.dumps({"eval_seconds": 41.0, "mcas": 0.7}))
    (run / "evaluate.log").write_text("[evaluate] sampled 1000 images in 1.2s\n")
    text = summary(tmp_path)
    assert "| cmi | 1 (True) | 750 | 6100 | -250.00 | 20.00 | 41.0 | 1.2 |" in text
    assert "| >= 5000 images/s | 6400.0 | reached |" in text
    assert "| < 2 s | 3.5 | NOT reached |" in text
    assert "| < 60 s | 41.0 | reached |" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_gpu_check_without_a_gpu_fails_clearly(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    result = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no CUDA GPU is visible to PyTorch")
    assert "--dry-run" in result.stderr and not (tmp_path / "out").exists()


def test_preset_step_compares_two_values_of_one_key() -> None:
    tiny = ["--set", "model.channels=8", "--set", "model.kernel_sizes=[3, 3]", "--set", "model.inject_after=1",
            "--set", "train.batch_size=8"]
    result = subprocess.run([sys.executable, "-m", "benchmarks.preset_step", "pixelcnn-cpu", "beta", "--vary",
                             "model.block=plain,residual", "--rounds", "1", *tiny], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.search(r"model\.block: plain / residual CPU time: \d+\.\d\dx", result.stdout), result.stdout
    assert "pixelcnn-cpu beta model.block=residual:" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "benchmarks.preset_step", "pixelcnn-cpu", "--vary", "model.block"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--vary takes KEY=A,B" in bad.stderr


def test_budget_peak_prints_the_estimate_beside_a_measured_step() -> None:
    """``python -m benchmarks.budget_peak``: cmivae.budget's estimate, the peak memory of real steps and (video
    DSAE) the FLOPs torch counts beside benchmarks.flops' count; nothing about their values is asserted."""
    command = [sys.executable, "-m", "benchmarks.budget_peak", "dsae-sprites-cpu", "--set", "train.batch_size=2",
               "--steps", "1"]
    result = subprocess.run([*command, "--flops"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "dsae-sprites-cpu train.batch_size=2: estimate ~" in result.stdout
    assert re.search(r"estimate / measured = \d+\.\d\d", result.stdout), result.stdout
    assert re.search(r"flop_counter \d+\.\d\d GFLOP, benchmarks\.flops \(useful\) \d+\.\d\d GFLOP", result.stdout)
    bad = subprocess.run([*command[:3], "pixelcnn-cpu", "--flops"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "leave --flops out" in bad.stderr


def test_video_dsae_flops_count_every_frame_layer() -> None:
    """The frame encoder and decoder of a small video DSAE, counted by hand: 16x16 frames, convolutions 3 -> 4
    (stride 1) -> 8 (stride 2, 8x8), 3x3 kernels, frame features 16, z 4 + s 3, B T = 2 x 8 frames."""
    from benchmarks.flops import dsae_step_flops, video_dsae_step_flops
    from cmivae.models.video_dsae import VideoDSAEConfig

    config = VideoDSAEConfig(frame_size=16, conv_channels=(4, 8), kernel_size=3, frame_features=(16,), z_dim=4,
                             s_dim=3, hidden_dim=8, rnn_dim=8, prior_dim=8)
    flops = video_dsae_step_flops(config, batch_size=2, with_critic=False)
    n = 2 * 8
    encoder = (2 * n * 256 * 4 * 3 * 9 * 2  # first convolution: forward + weight gradient (frames need none)
               + 2 * n * 64 * 8 * 4 * 9 * 3  # stride-2 convolution: forward + input and weight gradients
               + 2 * n * 512 * 16 * 3)  # flattened 8 x 8 x 8 maps -> 16 features
    decoder = (2 * n * 7 * 16 * 3 + 2 * n * 16 * 512 * 3  # [z, s_t] -> 16 -> 8 x 8 x 8 maps
               + 2 * n * 64 * 8 * 4 * 9 * 3  # conv-transpose 8x8 -> 16x16, 8 -> 4 channels
               + 2 * n * 256 * 4 * 3 * 9 * 3)  # 4 -> 3 channels at 16x16
    assert flops.useful["frame encoder"] == encoder and flops.useful["frame decoder"] == decoder
    recurrent = dsae_step_flops(config.recurrent(), 2)
    assert flops.useful["encoder"] == recurrent.useful["encoder"] and "critic" not in flops.useful
    assert video_dsae_step_flops(config, batch_size=2).useful["critic"] == recurrent.useful["critic"]
