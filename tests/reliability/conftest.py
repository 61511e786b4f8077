"""Fixtures of the reliability tests: a tiny run's YAML config on the real Fashion-MNIST."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.runs import tiny_raw_config


@pytest.fixture
def write_config(tmp_path: Path, fashion_mnist_dir: str) -> Callable[..., Path]:
    """``write_config(objective="mi", num_train=128, **train) -> Path`` of a YAML file in ``tmp_path``."""

    def write(objective: str = "mi", num_train: int = 128, **train: Any) -> Path:
        path = tmp_path / f"{objective}-{num_train}.yaml"
        path.write_text(yaml.safe_dump(tiny_raw_config(fashion_mnist_dir, objective, num_train, **train)))
        return path

    return write
