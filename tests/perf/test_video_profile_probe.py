"""The issue-29 profile probe :func:`benchmarks.video_profile.profile_step` splits a real video DSAE
CMI-VAE step into operator groups whose shares sum to one and times each module's forward; no timing is
asserted."""

from __future__ import annotations

import math

from benchmarks.video_profile import OPTIMIZER, profile_step


def test_profile_step_covers_the_step_and_finds_the_convolutions() -> None:
    groups, regions, convs, whole = profile_step("dsae-sprites-cpu", batch_size=2)
    assert whole > 0
    assert math.isclose(sum(groups.values()), 1.0, rel_tol=1e-9)
    assert all(0.0 <= share <= 1.0 for share in groups.values())
    assert {"convolutions, forward", "convolutions, backward", "batch norm", OPTIMIZER} <= set(groups), groups
    assert {"frame_encoder", "decoder", "dynamic_encoder", "critic"} <= set(regions), regions  # hooks fired
    assert all(0.0 < share < 1.0 for share in regions.values())
    assert any("(3, 32, 3, 3)" in line for line in convs), convs  # the decoder's last convolution, 32 -> 3 channels
