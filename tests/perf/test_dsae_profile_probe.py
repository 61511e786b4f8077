"""The issue-16 profile probe :func:`benchmarks.dsae_profile.profile_shares` splits a real DSAE
CMI-VAE step into operator groups whose shares sum to one; no timing is asserted."""

from __future__ import annotations

import math

from benchmarks.dsae_profile import OTHER, profile_shares


def test_profile_shares_cover_the_step_and_find_the_lstm_kernels() -> None:
    shares = profile_shares(batch_size=8, steps=1)
    assert math.isclose(sum(shares.values()), 1.0, rel_tol=1e-9)
    assert all(0.0 <= share <= 1.0 for share in shares.values())
    assert OTHER in shares and "matrix products" in shares
    assert any(group.startswith("LSTM") for group in shares), shares  # the model's nn.LSTMs were profiled
