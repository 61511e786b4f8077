"""The issue-16 probe :func:`benchmarks.fused_lstm.fused_bilstm` computes what ``nn.LSTM`` does.

Its timings in BENCHMARKS.md are only worth rerunning if it is the same LSTM: outputs,
``(h_n, c_n)`` and every parameter and input gradient agree with ``nn.LSTM``'s in fp32 to
summation order (measured ~3e-6 relative at the paper's size). The eager step kernels are
checked here (the same arithmetic as the compiled ones, without compiling); no timing.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.fused_lstm import fused_bilstm


def test_fused_bilstm_matches_nn_lstm_in_fp32() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(7, 5, batch_first=True, bidirectional=True)
    x = torch.randn(3, 4, 7, requires_grad=True)  # (B, T, F)
    upstream = [torch.randn(3, 4, 10), torch.randn(2, 3, 5), torch.randn(2, 3, 5)]  # y, h_n, c_n

    def run(fn):  # -> outputs, then the parameter gradients and x's
        y, (h_n, c_n) = fn(x)
        sum((out * g).sum() for out, g in zip((y, h_n, c_n), upstream, strict=True)).backward()
        grads = [p.grad.clone() for p in lstm.parameters()] + [x.grad.clone()]
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        return [y, h_n, c_n], grads

    ref_out, ref_grads = run(lstm)
    out, grads = run(lambda v: fused_bilstm(lstm, v, compiled=False))
    for a, b in zip(out + grads, ref_out + ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
