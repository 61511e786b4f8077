"""Shared test settings: small thread count (2-core machine), deterministic seeds."""

import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("CMIVAE_TEST_THREADS", "1")))
# `cmivae train/evaluate/sweep --threads auto` (the default) defer to OMP_NUM_THREADS: the CLI tests, run in
# this process, keep the thread count above instead of measuring the machine's load each time
os.environ["OMP_NUM_THREADS"] = str(torch.get_num_threads())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.cuda`` tests, with the reason, where no GPU is visible."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none visible here); scripts/gpu_check.sh runs these on one")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def fashion_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The real Fashion-MNIST, fetched once per session (``make test`` installs it)."""
    from cmivae.data.images.fetch import fetch_dataset

    data_dir = os.environ.get("CMIVAE_DATA") or str(tmp_path_factory.mktemp("data"))
    fetch_dataset("fashion-mnist", data_dir, quiet=True, allow_download=False)
    return data_dir
