"""objective.critic_input: what the CMI critic sees (the whole map, one position, a patch, or x),
checked against direct indexing, the refusals of combinations that make no sense, the shared
positions of a critic step, the x critic's z-only gradient, and hash neutrality of the defaults."""

from __future__ import annotations

import pytest
import torch

from cmivae.infra.errors import ConfigError
from cmivae.objectives.critic_inputs import CRITIC_INPUTS, CriticView
from cmivae.registry import build_model, build_objective, load_resolved
from cmivae.runs.legacy import HASH_NEUTRAL_DEFAULTS, run_id
from tests.helpers import TINY_PIXELCNN
from tests.objectives.test_critic_paths import _below_s, _nonzero, _regularizer_grads

IMAGE_S, IMAGE_X = (3, 5, 6), (1, 5, 6)  # (C, H, W)
SEQUENCE_S, SEQUENCE_X = (7, 2), (7, 4)  # (T, D_s), (T, F)


def test_position_is_the_channel_vector_at_row_major_index() -> None:
    view = CriticView("position", IMAGE_S, IMAGE_X)
    s = torch.randn(4, *IMAGE_S)
    index = torch.tensor([0, 7, 29, 13])
    picked = view.select(s, None, index)
    assert view.shape == (3,) and view.positions == 30 and picked.shape == (4, 3)
    for b, i in enumerate(index.tolist()):
        assert torch.equal(picked[b], s[b, :, i // 6, i % 6])


def test_patch_is_the_k_by_k_block_at_its_top_left_corner() -> None:
    view = CriticView("patch", IMAGE_S, IMAGE_X, patch=2)
    s = torch.randn(3, *IMAGE_S)
    index = torch.tensor([0, 6, 19])  # corners on a 4 x 5 grid of top-left positions
    picked = view.select(s, None, index)
    assert view.shape == (12,) and view.positions == 20
    for b, i in enumerate(index.tolist()):
        top, left = divmod(i, 5)
        assert torch.equal(picked[b], s[b, :, top:top + 2, left:left + 2].reshape(-1))


def test_sequence_position_is_a_step_and_patch_a_window_of_steps() -> None:
    s = torch.randn(2, *SEQUENCE_S)
    position, window = CriticView("position", SEQUENCE_S, SEQUENCE_X), CriticView("patch", SEQUENCE_S, SEQUENCE_X, 3)
    assert position.positions == 7 and window.positions == 5 and window.shape == (6,)
    assert torch.equal(position.select(s, None, torch.tensor([6, 2])), torch.stack([s[0, 6], s[1, 2]]))
    assert torch.equal(window.select(s, None, torch.tensor([4, 1])), torch.stack([s[0, 4:7].reshape(-1),
                                                                                  s[1, 1:4].reshape(-1)]))


def test_map_and_x_pass_through() -> None:
    s, x = torch.randn(2, *IMAGE_S), (torch.rand(2, *IMAGE_X) > 0.5).to(torch.uint8)
    assert CriticView("map", IMAGE_S, IMAGE_X).select(s, x, None) is s
    seen = CriticView("x", IMAGE_S, IMAGE_X).select(s, x, None)
    assert seen.dtype == torch.float32 and torch.equal(seen, x.float())
    assert CriticView("x", IMAGE_S, IMAGE_X).draw(2, s.device) is None
    with pytest.raises(ValueError, match="needs the batch x"):
        CriticView("x", IMAGE_S, IMAGE_X).select(s, None, None)


def load(*overrides: str):
    return load_resolved("pixelcnn-cpu", list(overrides))


@pytest.mark.parametrize(("overrides", "message"), [
    (["objective.critic_input=pixels"], "critic_input must be map, position, patch or x"),
    (["objective.critic_input=x", "objective.critic_path=s"], "no s-path"),
    (["objective.critic_patch=5"], "applies to objective.critic_input=patch only"),
    (["objective.critic_input=patch", "objective.critic_patch=29"], "use at most 28"),
    (["objective.critic_input=patch", "objective.critic_patch=0"], "positive integer"),
    (["objective.name=beta", "objective.critic_input=position"], "applies to the cmi and mws objectives only"),
    (["objective.name=mmd", "objective.critic_input=patch"], "applies to the cmi and mws objectives only"),
    (["objective.name=mws", "objective.critic_input=x"], "not an s for objective mws"),
])
def test_combinations_that_make_no_sense_are_refused_in_one_line(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load(*overrides)
    assert "\n" not in str(info.value)


def test_defaults_leave_run_ids_unchanged_and_a_choice_changes_them() -> None:
    default = run_id(load().config)
    for key, value in (("critic_input", "map"), ("critic_patch", 3), ("mws_s_width", 1.0)):
        assert HASH_NEUTRAL_DEFAULTS[("objective", key)] == value
        assert run_id(load(f"objective.{key}={value}").config) == default
    assert run_id(load("objective.critic_input=position").config) != default
    assert load("objective.critic_input=position").objective.critic_input == "position"


def _setup(critic_input: str, path: str = "both"):
    torch.manual_seed(0)
    model = build_model("pixelcnn_vae", {k: v for k, v in TINY_PIXELCNN.items() if k != "name"})
    objective = build_objective("cmi", model, gamma=0.5, critic_hidden_dim=16, critic_input=critic_input,
                                critic_path=path)
    objective.eval()
    return model, objective, (torch.rand(6, 1, 8, 8) > 0.5).float()


@pytest.mark.parametrize("path", ["both", "z"])
def test_the_x_critic_reaches_the_encoder_only(path: str) -> None:
    model, objective, x = _setup("x", path)
    grads = _regularizer_grads(model, objective, x)
    assert all(_nonzero(g) for n, g in grads.items() if n.startswith("encoder.") and n.endswith("weight"))
    assert not any(_nonzero(g) for n, g in grads.items() if not n.startswith("encoder.")), "x has no s-path"
    assert any(_below_s(n) for n in grads)


@pytest.mark.parametrize("critic_input", [k for k in CRITIC_INPUTS if k in ("position", "patch")])
def test_a_critic_step_scores_positives_and_negatives_at_the_same_positions(critic_input: str, monkeypatch) -> None:
    model, objective, x = _setup(critic_input)
    seen: list[torch.Tensor] = []
    original = objective.critic.embed

    def spy(s: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        seen.append(index)
        return original(s, index)

    monkeypatch.setattr(objective.critic, "embed", spy)
    objective.critic_loss(model(x), x)
    assert len(seen) == 1 and seen[0].shape == (6,), "one embedding (one draw of positions) for both halves"
    torch.manual_seed(3)
    first = objective.view.draw(6, x.device)
    torch.manual_seed(3)
    assert torch.equal(first, objective.view.draw(6, x.device)), "positions follow the seeded generator"
