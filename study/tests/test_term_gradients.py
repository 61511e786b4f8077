"""study/scripts/term_gradients.py: the s-path gradient diagnostic quoted in study/FINDINGS.md."""

from __future__ import annotations

import math
from pathlib import Path

from cmivae.training import loop
from study.scripts import term_gradients
from tests.helpers import tiny_config, tiny_images


def test_a_cmi_run_gets_both_gradients_and_a_beta_run_only_reconstruction(tmp_path: Path) -> None:
    data = tiny_images()
    for name in ("cmi", "beta"):
        loop.fit(tiny_config(name, gamma=0.9, epochs=1), tmp_path / name, data=data, progress=False)
    cmi = term_gradients.measure(tmp_path / "cmi", batches=1, batch_size=8, images=data.train_x)
    assert cmi["recon_layers"] > 0 and cmi["critic_layers"] > 0 and cmi["critic_s"] > 0
    assert math.isclose(cmi["ratio_layers"], cmi["critic_layers"] / cmi["recon_layers"], rel_tol=1e-6)
    assert -1.0 <= cmi["cos_layers"] <= 1.0 and -1.0 <= cmi["cos_s"] <= 1.0
    beta = term_gradients.measure(tmp_path / "beta", batches=2, batch_size=8, images=data.train_x)
    assert beta["recon_layers"] > 0 and "critic_layers" not in beta


def test_the_same_seed_measures_the_same_batches(tmp_path: Path) -> None:
    data = tiny_images()
    loop.fit(tiny_config("cmi", gamma=0.9, epochs=1), tmp_path, data=data, progress=False)
    first = term_gradients.measure(tmp_path, batches=2, batch_size=8, images=data.train_x)
    again = term_gradients.measure(tmp_path, batches=2, batch_size=8, images=data.train_x)
    assert first == again
