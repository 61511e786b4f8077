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
