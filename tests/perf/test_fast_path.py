"""The fast training path computes what the plain fp32 reference computes.

The fast path of the PixelCNN-VAE (cropped ``(k//2+1) x k`` masked kernels, channels_last
decoder, bf16 autocast) is compared with :class:`benchmarks.reference.ReferencePixelCNNDecoder`
(full ``k x k`` kernels times the mask, fp32, channels-first) on fixed inputs and noise:
the losses and every gradient of one CMI-VAE step (critic loss and VAE loss, paper Eq. 14).

Tolerances, and why:

- Layout alone (fp32): the cropped kernel only drops taps that multiply zeros, so the
  two agree to fp32 summation order: 1e-4 relative (measured: below 1e-6 on an AVX512 CPU).
  channels_last itself changes oneDNN's summation order, and on some CPUs that moves the
  cancellation-heavy gradients of decoder layers 0-2 by ~1e-3 (measured 1.2e-3 on an AVX2-only
  CPU, for the *reference* decoder in channels_last as much as for the fast path; the cropped
  kernels in the contiguous layout agree exactly there). So each gradient may differ by at most
  ``1e-4`` or ``1.5 x`` the reference's own channels_last error, whichever is larger.
- bf16 autocast: every convolution and linear layer rounds its inputs and weights to bf16
  (8 significant bits, relative rounding 2^-9), accumulating in fp32. The loss agrees to
  1e-3 relative (measured ~3e-5). Gradients do not agree to a fixed few rounding units:
  at initialization the gradient that reaches layers 1-6 through s and the CMI critic,
  and the critic's own weight gradients, come out of sums with heavy cancellation (batch
  norm, mean pooling), and bf16 moves them by 10-30% (measured). That error belongs to bf16
  autocast, not to the fast path: the *reference* decoder under the same autocast is off
  by as much. So each gradient of the fast path may differ from fp32 by at most
  ``1.5 x`` the reference's own bf16 error ``+ 0.02``; a layout or masking bug gives errors
  of order 1, and shows most in the layers after the injection, whose bf16 error is 0.2-12%.
  Gradients that are zero in exact arithmetic (the bias of a convolution followed by batch
  norm) are skipped: their relative error is meaningless.
- DSAE (bf16 vs fp32 of the same model): LSTMs and MLPs with fp32 gates; loss to 1e-3
  relative, every gradient to 0.15 relative (measured at most 0.065 at initialization).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from benchmarks.reference import ReferencePixelCNNDecoder
from cmivae.config import load_config
from cmivae.infra.precision import autocast
from cmivae.models.layers import causal_mask
from cmivae.objectives import Objective
from cmivae.training.loop import Trainer, build_trainer

CPU = torch.device("cpu")
BATCH = 8


def _loss_and_grads(model: nn.Module, objective: Objective, x: torch.Tensor, precision: str
                    ) -> tuple[float, float, dict[str, torch.Tensor]]:
    """Critic loss, VAE loss and the gradients of one CMI-VAE step (as ``train_step`` does it)."""
    model.zero_grad(set_to_none=True)
    objective.zero_grad(set_to_none=True)
    torch.manual_seed(2)  # the same z noise and prior draws for every path
    with autocast(CPU, precision):
        out = model(x)
        critic_terms = objective.critic_loss(out)
    critic_terms.total.backward()
    with autocast(CPU, precision):
        terms = objective.loss(out, x)
    terms.total.backward()
    grads = {name: p.grad.detach().float().clone() for name, p in model.named_parameters()}
    grads.update({f"critic.{name}": p.grad.detach().float().clone() for name, p in objective.critic.named_parameters()})
    return float(critic_terms.total.detach()), float(terms.total.detach()), grads


def _seeded_trainer(precision: str) -> Trainer:
    """The pixelcnn-paper trainer every path starts from (seed 0: the same weights each call)."""
    torch.manual_seed(0)
    return build_trainer(load_config("pixelcnn-paper", [f"train.precision={precision}"]))


def _reference_of(model: nn.Module) -> nn.Module:
    """``model`` with its decoder as the full-kernel fp32 reference, channels-first."""
    reference = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    reference.decoder = ReferencePixelCNNDecoder.from_decoder(model.decoder)
    assert reference.decoder.layers[1].weight.shape[2:] == (7, 7)  # full kernels
    return reference


def _batch(model: nn.Module) -> torch.Tensor:
    """The fixed binary input ``(BATCH, C, H, W)``."""
    return (torch.rand(BATCH, *model.config.image_shape, generator=torch.Generator().manual_seed(1)) < 0.3).float()


def _pixelcnn_paths(precision: str) -> tuple[dict, dict, dict, nn.Module]:
    """(fast, reference in fp32, reference under ``precision``) results and the fast model."""
    trainer = _seeded_trainer(precision)
    model, objective = trainer.model, trainer.objective
    if not trainer.channels_last:  # fp32: put the fast layout under test all the same
        model.decoder.to(memory_format=torch.channels_last)
    reference = _reference_of(model)
    reference_objective = copy.deepcopy(objective)
    x = _batch(model)
    x_fast = x.contiguous(memory_format=torch.channels_last)
    fast = _loss_and_grads(model, objective, x_fast, precision)
    ref_fp32 = _loss_and_grads(reference, reference_objective, x, "fp32")
    ref_same = _loss_and_grads(reference, reference_objective, x, precision)
    return ({"critic": fast[0], "loss": fast[1], "grads": fast[2]},
            {"critic": ref_fp32[0], "loss": ref_fp32[1], "grads": ref_fp32[2]},
            {"critic": ref_same[0], "loss": ref_same[1], "grads": ref_same[2]}, model)


def _as_cropped(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A full ``(O, I, k, k)`` kernel gradient cut to the cropped ``(O, I, k//2+1, k)`` layout."""
    return grad[:, :, :like.shape[2]] if grad.shape != like.shape else grad


def _relative_errors(grads: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> dict[str, float]:
    """``|g - g_ref| / |g_ref|`` per parameter, skipping gradients that are zero in exact
    arithmetic: norm below 1e-5 of the largest gradient of the same network (VAE or critic);
    these are the biases of the critic's convolutions followed by batch norm (~1e-6 or less)."""
    largest = {critic: max(g.norm() for n, g in reference.items() if n.startswith("critic.") == critic)
               for critic in (False, True)}
    errors = {}
    for name, ref in reference.items():
        grad = grads[name]
        ref = _as_cropped(ref, grad)
        if ref.norm() > 1e-5 * largest[name.startswith("critic.")]:
            errors[name] = float((grad - ref).norm() / ref.norm())
    return errors


def _reference_channels_last_errors(contiguous: dict[str, torch.Tensor]) -> dict[str, float]:
    """Relative gradient errors of the *reference* decoder run in channels_last against its
    ``contiguous`` fp32 gradients (``_pixelcnn_paths("fp32")``'s reference, the same weights):
    what the layout alone changes in oneDNN's summation order on this CPU."""
    trainer = _seeded_trainer("fp32")
    reference = _reference_of(trainer.model).to(memory_format=torch.channels_last)
    x = _batch(trainer.model).contiguous(memory_format=torch.channels_last)
    return _relative_errors(_loss_and_grads(reference, trainer.objective, x, "fp32")[2], contiguous)


def test_cropped_channels_last_layout_equals_the_reference_in_fp32() -> None:
    fast, ref, _, model = _pixelcnn_paths("fp32")
    assert fast["loss"] == pytest.approx(ref["loss"], rel=1e-5)
    assert fast["critic"] == pytest.approx(ref["critic"], rel=1e-5)
    errors = _relative_errors(fast["grads"], ref["grads"])
    assert len(errors) >= len(fast["grads"]) - 2  # only the two pre-batch-norm critic biases skipped
    layout = _reference_channels_last_errors(ref["grads"])
    too_far = {name: (f"{err:.2e}", f"{layout.get(name, 0.0):.2e}") for name, err in errors.items()
               if err > max(1e-4, 1.5 * layout.get(name, 0.0))}
    assert not too_far, f"relative gradient errors (fast path, reference's own channels_last error): {too_far}"
    for i, layer in enumerate(model.decoder.layers):  # masked taps get no gradient in either layout
        full = ref["grads"][f"decoder.layers.{i}.weight"]
        outside = 1 - causal_mask(layer.kernel_size, layer.mask_type, rows=layer.kernel_size)
        assert torch.equal(full * outside, torch.zeros_like(full))
        assert torch.equal(fast["grads"][f"decoder.layers.{i}.weight"] * (1 - layer.mask),
                           torch.zeros_like(layer.weight))


def test_bf16_fast_path_matches_the_reference_within_bf16_error() -> None:
    fast, ref, ref_bf16, _ = _pixelcnn_paths("bf16")
    assert fast["loss"] == pytest.approx(ref["loss"], rel=1e-3)
    assert fast["critic"] == pytest.approx(ref["critic"], rel=1e-2)
    fast_errors = _relative_errors(fast["grads"], ref["grads"])
    bf16_errors = _relative_errors(ref_bf16["grads"], ref["grads"])
    too_far = {name: (round(err, 4), round(bf16_errors[name], 4)) for name, err in fast_errors.items()
               if err > 1.5 * bf16_errors[name] + 0.02}
    assert not too_far, f"fast-path gradient errors beyond the reference's own bf16 error: {too_far}"
    # After the z injection the bf16 error is small, so a layout bug there could not hide.
    assert fast_errors["decoder.out.weight"] < 0.02 and fast_errors["decoder.layers.12.weight"] < 0.05


def test_dsae_bf16_matches_fp32() -> None:
    torch.manual_seed(0)
    trainer = build_trainer(load_config("dsae-paper", ["train.precision=bf16"]))
    x = torch.randn(BATCH, trainer.model.config.num_steps, trainer.model.config.x_dim,
                    generator=torch.Generator().manual_seed(1))
    critic_bf16, loss_bf16, grads_bf16 = _loss_and_grads(trainer.model, trainer.objective, x, "bf16")
    critic_fp32, loss_fp32, grads_fp32 = _loss_and_grads(trainer.model, trainer.objective, x, "fp32")
    assert loss_bf16 == pytest.approx(loss_fp32, rel=1e-3)
    assert critic_bf16 == pytest.approx(critic_fp32, rel=1e-2)
    errors = _relative_errors(grads_bf16, grads_fp32)
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] < 0.15, f"{worst}: relative gradient error {errors[worst]:.3f}"
