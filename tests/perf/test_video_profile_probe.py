"""The issue-29 profile probe :func:`benchmarks.video_profile.profile_step` splits a real video DSAE
CMI-VAE step into operator groups whose shares sum to one and times each module's forward; no timing is
asserted."""

from __future__ import annotations

import math

from benchmarks.video_profile import OPTIMIZER, conv_layers, profile_step


def test_profile_step_covers_the_step_and_finds_the_convolutions() -> None:
    groups, regions, convs, whole = profile_step("dsae-sprites-cpu", batch_size=2)
    assert whole > 0
    assert math.isclose(sum(groups.values()), 1.0, rel_tol=1e-9)
    assert all(0.0 <= share <= 1.0 for share in groups.values())
    assert {"convolutions, forward", "convolutions, backward", "batch norm", OPTIMIZER} <= set(groups), groups
    assert {"frame_encoder", "decoder", "dynamic_encoder", "critic"} <= set(regions), regions  # hooks fired
    assert all(0.0 < share < 1.0 for share in regions.values())
    last = ("(16, 32, 32, 32), (32, 3, 3, 3)", "(16, 32, 32, 32), (3, 32, 3, 3)")  # forward: 32 -> 3 channels
    assert any(shapes in line for line in convs for shapes in last), convs  # the decoder's last convolution


def test_conv_layers_times_every_frame_convolution_with_its_useful_flops() -> None:
    from benchmarks.flops import video_dsae_step_flops
    from cmivae.config import load_config
    from cmivae.registry import build_model

    lines, stack_cpu, stack_flops = conv_layers("dsae-sprites-cpu", batch_size=1, rounds=1)
    assert len(lines) == 6 and stack_cpu > 0, lines  # three convolutions, two conv-transposes, the last one
    config = build_model("video_dsae", load_config("dsae-sprites-cpu").model.params).config
    frames = config.num_steps  # batch_size = 1
    counts = video_dsae_step_flops(config, 1).useful
    maps = config.conv_channels[-1] * config.final_size ** 2  # K H' W', the flattened last maps
    encoder = [maps, *config.frame_features]
    decoder = [config.z_dim + config.s_dim, *reversed(config.frame_features), maps]
    fully_connected = sum(2.0 * frames * 3 * a * b for widths in (encoder, decoder)  # forward + two gradients
                          for a, b in zip(widths[:-1], widths[1:], strict=True))
    expected = counts["frame encoder"] + counts["frame decoder"] - fully_connected
    assert abs(stack_flops * 1e9 - expected) <= 1e-9 * expected, (stack_flops, expected)  # the same FLOP count
