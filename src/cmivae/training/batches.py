"""How training batches reach the device: the whole training set kept there, or gathered
on the host and copied per batch.

The binarized image sets are small (48,000 x 1 x 28 x 28 uint8 = 36 MB), so on a GPU
they are copied to the device once and every batch is an index into that copy: no
host->device transfer per step. Data kept on the host (``train.data_on_device=false``, or
``auto`` when the set would take more than :data:`DEVICE_SHARE` of the GPU's free memory,
e.g. a large speech corpus in float32) is gathered into one of two pinned host buffers
and copied with ``non_blocking=True``, so the copy overlaps the previous step's kernels.

Either way a batch holds the same examples in the same order (the rows ``order`` selects),
so the data path changes no number: on the CPU, where "the device" is the host,
``data_on_device=true`` trains bit-identically to ``false`` (tests/training/test_device.py).
"""

from __future__ import annotations

import torch

# Keep the training set on the GPU when it takes at most this share of the free memory.
DEVICE_SHARE = 0.25


def keep_on_device(num_bytes: int, device: torch.device, setting: bool | str = "auto") -> bool:
    """Whether a training set of ``num_bytes`` is kept on ``device`` (``train.data_on_device``).

    ``auto``: yes on CUDA when it fits in :data:`DEVICE_SHARE` of the free memory; no on the
    CPU (the data is already there; both paths give the same batches).
    """
    if setting != "auto":
        return bool(setting)
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return num_bytes <= DEVICE_SHARE * free


class BatchSource:
    """The training examples ``x`` ``(N, ...)`` and :meth:`batch`, the rows of one batch on the device.

    Args:
        x: the training set (host tensor; uint8 images or float32 speech features).
        device: where training runs.
        on_device: copy ``x`` to ``device`` once (see :func:`keep_on_device`).
    """

    def __init__(self, x: torch.Tensor, device: torch.device, on_device: bool) -> None:
        self.device = device
        self.on_device = on_device
        self.x = x.to(device) if on_device else x
        self._pinned: list[torch.Tensor] = []  # two host buffers of one batch, used in turn (CUDA, host data)
        self._copied: list[torch.cuda.Event | None] = []  # each buffer's last copy to the device
        self._turn = 0

    def batch(self, rows: torch.Tensor) -> torch.Tensor:
        """``x[rows]`` on the device, ``(len(rows), ...)``; ``rows`` are int64 indices on the host."""
        if self.on_device:
            return self.x[rows.to(self.device, non_blocking=True)]
        if self.device.type != "cuda":
            return self.x[rows]
        return self._pinned_copy(rows)

    def _pinned_copy(self, rows: torch.Tensor) -> torch.Tensor:
        """Gather ``x[rows]`` into a pinned buffer and copy it asynchronously. A buffer is
        rewritten only after its previous copy has finished (its event)."""
        shape = (rows.shape[0], *self.x.shape[1:])
        if not self._pinned or tuple(self._pinned[0].shape) != shape:
            self._pinned = [torch.empty(shape, dtype=self.x.dtype).pin_memory() for _ in range(2)]
            self._copied = [None, None]
        turn, self._turn = self._turn, 1 - self._turn
        event = self._copied[turn]
        if event is not None:
            event.synchronize()
        buffer = self._pinned[turn]
        torch.index_select(self.x, 0, rows, out=buffer)  # (N, ...) -> (B, ...) on the host
        out = buffer.to(self.device, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record()
        self._copied[turn] = copied
        return out
