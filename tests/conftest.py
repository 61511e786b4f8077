"""Shared test settings: small thread count (2-core machine), deterministic seeds."""

import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("CMIVAE_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
