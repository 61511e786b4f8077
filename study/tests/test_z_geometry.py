"""study/scripts/z_geometry.py: z's geometry and the probe answers across L2 strength and label count."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cmivae.training import loop
from study.scripts import z_geometry
from tests.helpers import tiny_config, tiny_images


def test_geometry_counts_active_units_and_the_directions_the_variance_spreads_over() -> None:
    rng = np.random.default_rng(0)
    z = np.zeros((2000, 5))
    z[:, :2] = rng.normal(size=(2000, 2))  # two equal active directions, three dead ones
    g = z_geometry.geometry(z)
    assert g["au"] == 2.0 and math.isclose(g["pr"], 2.0, rel_tol=0.05)
    assert math.isclose(g["scale"], 2 / 5, rel_tol=0.05)


def test_a_trained_run_gets_every_probe_and_the_default_one_is_the_evals(tmp_path: Path) -> None:
    data = tiny_images()
    loop.fit(tiny_config("beta", gamma=0.9, epochs=1), tmp_path, data=data, progress=False)
    values = z_geometry.measure(tmp_path, splits=data, per_class=8)
    for C in z_geometry.STRENGTHS:
        assert 0.0 <= values[f"lr_C{C:g}"] <= 1.0 and 0.0 <= values[f"lrstd_C{C:g}"] <= 1.0
    assert 0.0 <= values["svm"] <= 1.0 and 0.0 <= values["svm_all"] <= 1.0 and 0.0 <= values["lrstd_all"] <= 1.0
    assert 0 <= values["au"] <= 4 and values["pr"] >= 1.0 - 1e-6  # the tiny config's z has 4 dimensions
    assert values == z_geometry.measure(tmp_path, splits=data, per_class=8)  # deterministic
