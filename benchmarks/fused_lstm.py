"""Issue 16 probe: a single-layer bidirectional LSTM with a hand-written backward and fused
gate kernels, timed against ``nn.LSTM`` (oneDNN's RNN) in isolation.

``python -m benchmarks.fused_lstm``: both bidirectional LSTMs of the paper's DSAE (appendix
G.1: H = 256 per direction; q(z | x) reads F = 201 bins, q(s | x, z) reads F + D_z = 265), at
B = 256, T = 20, forward + backward under bf16 autocast on the calling threads, CPU seconds
per call (medians over interleaved rounds), and the fp32 / bf16 differences of the outputs
and gradients from ``nn.LSTM``'s. A negative result kept so it can be rerun: it is not used
by the model (see BENCHMARKS.md, "DSAE training step against the bf16 ceiling").

:func:`fused_bilstm` computes the forward pass of ``nn.LSTM(input_size, hidden_size,
batch_first=True, bidirectional=True)`` (one layer, no dropout, no projection, zero initial
state) from that module's own parameters (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0`` and the ``*_reverse`` ones, PyTorch's gate order i, f, g, o).
The products are few and large: one input projection per direction for all T steps, one
recurrent product per step forward and one per step backward, and each weight gradient as
one product over all ``T * B`` rows. Everything else, the gate nonlinearities and the cell
update, forward and backward, is one kernel per step, fused by ``torch.compile`` (inductor;
the first call compiles). Gates and the cell state are kept in fp32; under autocast the
products run in the autocast dtype, as ``nn.LSTM``'s do.

Axis names: ``B`` batch, ``T`` time steps, ``F`` input features, ``H`` hidden size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from benchmarks.timing import interleaved


def cell_forward(x_gates: torch.Tensor, recurrent: torch.Tensor, c: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step after its products.

    Args:
        x_gates: ``(B, 4H)`` input projection of this step, both biases included.
        recurrent: ``(B, 4H)`` the product ``h_{t-1} @ W_hh^T``.
        c: ``(B, H)`` fp32 cell state c_{t-1}.

    Returns:
        h_t ``(B, H)`` in the products' dtype (the next step's matmul input) and c_t ``(B, H)`` in fp32.
    """
    gates = x_gates.float() + recurrent.float()  # (B, 4H) in fp32
    i, f, g, o = gates.chunk(4, dim=-1)  # (B, 4H) -> 4 x (B, H)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c_new)
    return h.to(recurrent.dtype), c_new


def cell_backward(x_gates: torch.Tensor, recurrent: torch.Tensor, c_prev: torch.Tensor, c: torch.Tensor,
                  dh_out: torch.Tensor, dh_next: torch.Tensor, dc: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward of :func:`cell_forward`, recomputing the gates from the saved products.

    Args:
        x_gates, recurrent: ``(B, 4H)`` as given to the forward step.
        c_prev, c: ``(B, H)`` fp32 cell states c_{t-1} and c_t.
        dh_out: ``(B, H)`` gradient of the layer's output h_t.
        dh_next: ``(B, H)`` gradient reaching h_t through step t + 1 (``dgates_{t+1} @ W_hh``).
        dc: ``(B, H)`` fp32 gradient reaching c_t through step t + 1.

    Returns:
        dgates ``(B, 4H)`` in the products' dtype and the fp32 gradient of c_{t-1}, ``(B, H)``.
    """
    gates = x_gates.float() + recurrent.float()  # (B, 4H) in fp32
    i, f, g, o = gates.chunk(4, dim=-1)  # (B, 4H) -> 4 x (B, H)
    si, sf, tg, so = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    tc = torch.tanh(c)
    dh = dh_out.float() + dh_next.float()
    dc = dc + dh * so * (1 - tc * tc)
    d_i = dc * tg * si * (1 - si)
    d_f = dc * c_prev * sf * (1 - sf)
    d_g = dc * si * (1 - tg * tg)
    d_o = dh * tc * so * (1 - so)
    dgates = torch.cat([d_i, d_f, d_g, d_o], dim=-1)  # 4 x (B, H) -> (B, 4H)
    return dgates.to(recurrent.dtype), dc * sf


class _Kernels:
    """The step kernels, compiled on first use (``compile=False`` keeps them eager)."""

    def __init__(self) -> None:
        self._compiled: dict[str, Callable[..., Any]] = {}

    def get(self, name: str, compiled: bool) -> Callable[..., Any]:
        fn = {"forward": cell_forward, "backward": cell_backward}[name]
        if not compiled:
            return fn
        if name not in self._compiled:
            self._compiled[name] = torch.compile(fn, fullgraph=True)
        return self._compiled[name]


KERNELS = _Kernels()


def _run_direction(x_gates: torch.Tensor, w_hh: torch.Tensor, reverse: bool, compiled: bool
                   ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """The recurrence of one direction over precomputed input gates ``(T, B, 4H)``.

    Returns, in processing order (step 0 first for the forward direction, step T - 1 first for
    the reverse one): the h fed to each step (``T`` x ``(B, H)``, h_0 = 0 first), the recurrent
    products (``T`` x ``(B, 4H)``) and the cell states (``T + 1`` x ``(B, H)`` fp32, c_0 = 0 first).
    """
    cell = KERNELS.get("forward", compiled)
    steps, batch, _ = x_gates.shape
    hidden = w_hh.shape[1]
    h = x_gates.new_zeros(batch, hidden)
    cs = [x_gates.new_zeros(batch, hidden, dtype=torch.float32)]
    hs, recurrents = [], []
    w_hh_t = w_hh.t()  # (4H, H) -> (H, 4H)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        hs.append(h)
        recurrent = h @ w_hh_t  # (B, H) @ (H, 4H) -> (B, 4H)
        h, c = cell(x_gates[t], recurrent, cs[-1])
        recurrents.append(recurrent)
        cs.append(c)
    hs.append(h)
    return hs, recurrents, cs


class _BiLSTMFunction(torch.autograd.Function):
    """Forward and hand-written backward of the fused bidirectional LSTM (see the module doc)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, compiled: bool, w_ih: torch.Tensor, w_hh: torch.Tensor,
                b_ih: torch.Tensor, b_hh: torch.Tensor, w_ih_r: torch.Tensor, w_hh_r: torch.Tensor,
                b_ih_r: torch.Tensor, b_hh_r: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, steps, features = x.shape
        x_tb = x.transpose(0, 1).reshape(steps * batch, features)  # (B, T, F) -> (T, B, F) -> (T*B, F)
        outputs, h_n, c_n, saved = [], [], [], []
        for w_ih_d, w_hh_d, b_ih_d, b_hh_d, reverse in ((w_ih, w_hh, b_ih, b_hh, False),
                                                       (w_ih_r, w_hh_r, b_ih_r, b_hh_r, True)):
            bias = (b_ih_d.float() + b_hh_d.float()).to(x.dtype)  # (4H,)
            x_gates = torch.addmm(bias, x_tb, w_ih_d.t())  # (T*B, F) @ (F, 4H) -> (T*B, 4H)
            x_gates = x_gates.view(steps, batch, -1)  # (T*B, 4H) -> (T, B, 4H)
            hs, recurrents, cs = _run_direction(x_gates, w_hh_d, reverse, compiled)
            out = hs[1:][::-1] if reverse else hs[1:]  # T x (B, H) in time order
            outputs.append(torch.stack(out, dim=1))  # T x (B, H) -> (B, T, H)
            h_n.append(hs[-1])
            c_n.append(cs[-1])
            saved.append((x_gates, hs[:-1], recurrents, cs))
        ctx.compiled, ctx.shape, ctx.saved = compiled, (batch, steps, features), saved
        ctx.save_for_backward(x_tb, w_ih, w_hh, w_ih_r, w_hh_r)
        y = torch.cat(outputs, dim=-1)  # 2 x (B, T, H) -> (B, T, 2H)
        return y, torch.stack(h_n), torch.stack(c_n).to(x.dtype)  # (B, T, 2H), (2, B, H), (2, B, H)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor, dh_n: torch.Tensor, dc_n: torch.Tensor) -> tuple[Any, ...]:
        x_tb, w_ih, w_hh, w_ih_r, w_hh_r = ctx.saved_tensors
        batch, steps, features = ctx.shape
        cell = KERNELS.get("backward", ctx.compiled)
        dtype = x_tb.dtype
        hidden = w_hh.shape[1]
        dx_tb = None
        grads: list[torch.Tensor] = []
        for d, (w_ih_d, w_hh_d) in enumerate(((w_ih, w_hh), (w_ih_r, w_hh_r))):
            x_gates, hs, recurrents, cs = ctx.saved[d]
            reverse = d == 1
            # (B, T, 2H) -> (B, T, H) -> (T, B, H), in processing order
            dy_d = dy[..., d * hidden:(d + 1) * hidden].transpose(0, 1).to(dtype).contiguous()
            order = list(range(steps - 1, -1, -1) if reverse else range(steps))
            dh_next, dc = dh_n[d].to(dtype), dc_n[d].float()
            dgates: list[torch.Tensor] = [None] * steps  # type: ignore[list-item]
            for k in range(steps - 1, -1, -1):  # processing order, backwards
                t = order[k]
                dgates[k], dc = cell(x_gates[t], recurrents[k], cs[k], cs[k + 1], dy_d[t], dh_next, dc)
                if k > 0:
                    dh_next = dgates[k] @ w_hh_d  # (B, 4H) @ (4H, H) -> (B, H)
            d_hh = torch.stack(dgates).view(steps * batch, -1)  # T x (B, 4H) -> (T*B, 4H), processing order
            h_prev = torch.stack(hs).view(steps * batch, hidden)  # T x (B, H) -> (T*B, H), processing order
            dw_hh = d_hh.t() @ h_prev  # (4H, T*B) @ (T*B, H) -> (4H, H)
            # the input gates' gradient in time order, rows matching x_tb's
            d_in = d_hh if not reverse else torch.stack(dgates[::-1]).view(steps * batch, -1)  # (T*B, 4H)
            dw_ih = d_in.t() @ x_tb  # (4H, T*B) @ (T*B, F) -> (4H, F)
            db = d_in.float().sum(dim=0)  # (T*B, 4H) -> (4H,)
            dx_tb = d_in @ w_ih_d if dx_tb is None else torch.addmm(dx_tb, d_in, w_ih_d)  # (T*B, F)
            grads += [dw_ih, dw_hh, db, db]
        dx = dx_tb.view(steps, batch, features).transpose(0, 1)  # (T*B, F) -> (T, B, F) -> (B, T, F)
        return (dx, None, *grads)


def fused_bilstm(lstm: nn.LSTM, x: torch.Tensor, compiled: bool = True
                 ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``lstm(x)`` for a one-layer, batch-first, bidirectional ``nn.LSTM`` and zero initial
    state, computed by :class:`_BiLSTMFunction` from the same parameters.

    Args:
        lstm: the module whose parameters are used (its own kernel is not called).
        x: ``(B, T, F)``.
        compiled: fuse the step kernels with ``torch.compile``; ``False`` runs them eagerly
            (same arithmetic, used by tests to avoid compiling).

    Returns:
        As ``nn.LSTM``: output ``(B, T, 2H)`` and ``(h_n, c_n)``, each ``(2, B, H)``; under
        autocast in the autocast dtype, else in x's dtype.
    """
    if lstm.num_layers != 1 or not lstm.bidirectional or not lstm.batch_first or lstm.proj_size \
            or not lstm.bias or x.dim() != 3:
        raise ValueError("fused_bilstm supports one-layer, batch-first, bidirectional nn.LSTMs with biases "
                         f"and no projection, on (B, T, F) inputs; got {lstm} and x of shape {tuple(x.shape)}")
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    params = [getattr(lstm, name) for name in names] + [getattr(lstm, name + "_reverse") for name in names]
    with torch.autocast(device, enabled=False):
        weights = [p.to(dtype) if p.dim() == 2 else p for p in params]  # biases are summed in fp32
        y, h_n, c_n = _BiLSTMFunction.apply(x.to(dtype), compiled, *weights)
    return y, (h_n, c_n)


def _fwd_bwd(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, grads_out: list[torch.Tensor],
             bf16: bool) -> tuple[torch.Tensor, ...]:
    """One forward + backward of ``fn`` (an LSTM call) on x, with fixed upstream gradients for
    the output ``(B, T, 2H)``, h_n and c_n ``(2, B, H)``; returns the three outputs."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        y, (h_n, c_n) = fn(x)
    loss = sum((out.float() * g).sum() for out, g in zip((y, h_n, c_n), grads_out, strict=True))
    loss.backward()
    return y, h_n, c_n


def _take_grads(lstm: nn.LSTM, x: torch.Tensor) -> list[torch.Tensor]:
    """The parameter gradients and x's, cleared for the next call."""
    grads = [p.grad.clone() for p in lstm.parameters()] + [x.grad.clone()]
    for p in lstm.parameters():
        p.grad = None
    x.grad = None
    return grads


def compare(features: int, hidden: int, batch: int, steps: int, rounds: int) -> list[str]:
    """Time and check ``nn.LSTM`` against :func:`fused_bilstm` (compiled and eager) for one shape."""
    torch.manual_seed(0)
    lstm = nn.LSTM(features, hidden, batch_first=True, bidirectional=True)
    x = torch.randn(batch, steps, features, requires_grad=True)
    grads_out = [torch.randn(batch, steps, 2 * hidden), torch.randn(2, batch, hidden), torch.randn(2, batch, hidden)]
    variants: dict[str, Callable[[torch.Tensor], Any]] = {
        "onednn": lstm, "fused": lambda v: fused_bilstm(lstm, v),
        "fused, eager kernels": lambda v: fused_bilstm(lstm, v, compiled=False)}
    lines = [f"F={features}, H={hidden}, B={batch}, T={steps}:"]
    wall, cpu = time.perf_counter(), time.process_time()
    for bf16 in (True, False):
        _fwd_bwd(variants["fused"], x, grads_out, bf16)
        _take_grads(lstm, x)
    lines.append(f"  first fused calls (compiling bf16 and fp32 kernels, or loading them from inductor's cache): "
                 f"{time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} CPU-s")
    for bf16 in (False, True):
        reference = _fwd_bwd(lstm, x, grads_out, bf16)
        reference_grads = _take_grads(lstm, x)
        for name in ("fused", "fused, eager kernels"):
            outputs = _fwd_bwd(variants[name], x, grads_out, bf16)
            grads = _take_grads(lstm, x)
            d_out = max((a.float() - b.float()).abs().max().item() for a, b in zip(outputs, reference, strict=True))
            d_grad = max(((a - b).abs().max() / b.abs().max()).item()
                         for a, b in zip(grads, reference_grads, strict=True))
            lines.append(f"  {name}, {'bf16' if bf16 else 'fp32'}: max |output diff| {d_out:.1e}, "
                         f"max gradient diff / max |gradient| {d_grad:.1e}")

    def timed(fn: Callable[[torch.Tensor], Any]) -> Callable[[], None]:
        def call() -> None:
            _fwd_bwd(fn, x, grads_out, bf16=True)
            _take_grads(lstm, x)
        return call

    t = interleaved({name: timed(fn) for name, fn in variants.items()}, rounds=rounds)
    flops = 3 * 2 * 2 * batch * steps * (features + hidden) * 4 * hidden  # both directions, backward = 2x forward
    base = t["onednn"].median_cpu
    for name, timing in t.items():
        lines.append(f"  {name}: {timing.median_cpu:.3f} CPU-s per forward + backward (bf16), "
                     f"{flops / timing.median_cpu / 1e9:.1f} GFLOP/s, {base / timing.median_cpu:.2f}x oneDNN")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fused_lstm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args(argv)
    print(f"threads: {torch.get_num_threads()}, torch {torch.__version__}", flush=True)
    for features in (201, 201 + 64):  # q(z | x) reads the 201 bins, q(s | x, z) also z (D = 64)
        print("\n".join(compare(features, 256, args.batch, 20, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
