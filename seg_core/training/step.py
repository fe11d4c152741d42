"""One training step: forward and backward of a batch in micro-batches, retried with smaller
micro-batches after a CUDA out-of-memory error, and the optimiser step that ends an
accumulation window.

The step returns its loss as a device tensor: the loop reads it once per step, together with
the stop flag (one host sync, one collective under DDP), instead of once per micro-batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from seg_core.core.runtime import autocast
from seg_core.training.state import TrainingRun

# channels_last: tensor cores on CUDA, oneDNN's fast path on CPU (a 4x512x512 training step of the
# default model: 4.68 s vs 5.29 s on 2 cores). MPS support for it is uneven, so MPS stays NCHW.
CHANNELS_LAST_DEVICES = ("cuda", "cpu")
# Below 2 images, BatchNorm statistics break down (and some architectures fail outright).
SMALLEST_MICRO_BATCH = 2


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run cannot continue meaningfully."""


class DistributedOutOfMemoryError(RuntimeError):
    """CUDA ran out of memory in multi-process training, where a retry on one rank alone would
    leave the others waiting in collectives it no longer matches."""


def micro_batches(
    images: torch.Tensor, masks: torch.Tensor, size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(images), size):
        yield images[start : start + size], masks[start : start + size]


def train_step(
    run: TrainingRun, images: torch.Tensor, masks: torch.Tensor, ends_window: bool
) -> torch.Tensor:
    """Forward and backward one batch; returns its mean loss (a 0-dim float tensor on the device).

    Args:
        ends_window: this batch ends an accumulation window: only then does DDP all-reduce the
            gradients (every other backward runs under `no_sync`).

    On CUDA out-of-memory the micro-batch is halved (down to 2) and the batch redone; the
    gradients are put back to what they were before the batch, so the earlier batches of an
    accumulation window keep theirs. The smaller micro-batch is kept for the rest of the run.

    Raises:
        torch.OutOfMemoryError: still out of memory with a micro-batch of 2.
        DistributedOutOfMemoryError: out of memory in a multi-process run.
    """
    params = [p for p in run.model_without_ddp.parameters() if p.requires_grad]
    mid_window = run.cfg.accumulation > 1 and run.state.step_in_epoch % run.cfg.accumulation != 0
    before = [None if p.grad is None else p.grad.detach().clone() for p in params] if mid_window else None
    while True:
        micro = run.state.micro_batch or len(images)
        try:
            return _forward_backward(run, images, masks, micro, ends_window)
        except torch.OutOfMemoryError:
            pass  # handled below: leaving the except block frees the traceback, and with it
            # the failed attempt's activations, before the cache is emptied for the retry
        _recover_from_out_of_memory(run, params, before, micro, len(images))


def _forward_backward(
    run: TrainingRun, images: torch.Tensor, masks: torch.Tensor, micro: int, ends_window: bool
) -> torch.Tensor:
    total = torch.zeros((), dtype=torch.float32, device=run.device)
    parts = list(micro_batches(images, masks, micro))
    for i, (x, y) in enumerate(parts):
        x = x.to(run.device, non_blocking=True)
        y = y.to(run.device, non_blocking=True)
        if run.device.type in CHANNELS_LAST_DEVICES:
            x = x.contiguous(memory_format=torch.channels_last)
        syncs = ends_window and i == len(parts) - 1
        no_sync = (
            run.model.no_sync() if not syncs and hasattr(run.model, "no_sync") else contextlib.nullcontext()
        )
        with no_sync:
            with autocast(run.device, run.amp):
                loss = run.criterion(run.model(x), y)
            share = len(x) / len(images)
            run.scaler.scale(loss * (share / run.cfg.accumulation)).backward()
        total += loss.detach().float() * share
    return total


def _recover_from_out_of_memory(
    run: TrainingRun,
    params: list[torch.nn.Parameter],
    before: list[torch.Tensor | None] | None,
    micro: int,
    batch: int,
) -> None:
    if run.group.distributed:
        raise DistributedOutOfMemoryError(
            f"out of GPU memory on rank {run.group.rank} with a micro-batch of {micro}: multi-GPU "
            "training cannot shrink one rank's micro-batch alone; lower --batch-size, --crop or "
            "--resolution"
        )
    if before is None:
        run.optimizer.zero_grad(set_to_none=True)
    else:  # a copy: the retry's backward accumulates into .grad in place
        for param, grad in zip(params, before, strict=True):
            param.grad = None if grad is None else grad.clone()
    free_cached_memory(run.device)
    if micro <= SMALLEST_MICRO_BATCH:
        raise torch.OutOfMemoryError(f"CUDA out of memory with a micro-batch of {micro}")
    run.state.micro_batch = micro // 2
    run.reporter.log(
        f"out of GPU memory with micro-batch {micro}: continuing with micro-batch "
        f"{run.state.micro_batch} and {math.ceil(batch / run.state.micro_batch)} accumulation "
        "steps per batch (same effective batch)",
        "warning",
    )


def free_cached_memory(device: torch.device) -> None:
    """Hand the allocator's cached blocks back, so a retry with smaller micro-batches starts from a
    clean slate (callers drop their references to the failed attempt's tensors first)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def optimizer_step(run: TrainingRun) -> None:
    """Clip, step (through the scaler), clear the gradients and advance the schedule."""
    if run.cfg.clip_grad_norm > 0:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.model_without_ddp.parameters(), run.cfg.clip_grad_norm)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.optimizer.zero_grad(set_to_none=True)
    run.scheduler.step()
