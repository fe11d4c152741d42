"""The few torch.distributed helpers the training loop needs, one code path for 1..N processes.

`torchrun --nproc_per_node=N -m seg_core train ...` sets RANK/WORLD_SIZE/LOCAL_RANK; without
them everything runs as a single process of rank 0.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from seg_core.core.parent_watch import LauncherWatch

# How long a collective may wait for the slowest rank. NCCL's default (10 min) is shorter than a
# first run's photo decoding over a large dataset (~0.5 s per 12 MP photo, shared across ranks)
# and than a long validation pass; a genuinely hung job still ends within the hour.
COLLECTIVE_TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class ProcessGroup:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_from_env(device: torch.device | str) -> ProcessGroup:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU), if any.

    `device` is this process's device, or its type ("cuda" then means GPU LOCAL_RANK).

    On CUDA the process first makes its own GPU the current device and binds the group to it:
    otherwise every rank's first collective (and the loaders' pinning threads) would run on
    GPU 0, which NCCL refuses ("duplicate GPU") or hangs on.

    Each rank watches its launcher (`core.parent_watch`): if torchrun's agent is killed, the rank
    sends itself SIGTERM, which the loop turns into an agreed stop with last.pt saved, instead of
    training on for hours into collectives whose store has gone.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return ProcessGroup()
    LauncherWatch("train", on_gone=lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group(backend="nccl", device_id=device, timeout=COLLECTIVE_TIMEOUT)
        else:
            dist.init_process_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT)
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), local_rank)


def processes_per_machine() -> int:
    """How many training processes share this machine's cores (torchrun's LOCAL_WORLD_SIZE)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def convert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """BatchNorm layers that share their batch statistics across ranks.

    timm's converter, not torch's: `nn.SyncBatchNorm.convert_sync_batchnorm` turns timm's
    `BatchNormAct2d` (BatchNorm + activation in one module, all through EfficientNet-Lite0) into
    a plain SyncBatchNorm and silently drops its activation; timm's keeps it, and converts plain
    BatchNorms the same way torch does.
    """
    from timm.layers import convert_sync_batchnorm as timm_convert

    return timm_convert(model)


def shutdown(group: ProcessGroup) -> None:
    if group.distributed and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: Any, group: ProcessGroup) -> Any:
    """Rank 0's value on every rank (e.g. the run id rank 0 created)."""
    if not group.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree_on_step(loss: torch.Tensor, stop: bool, group: ProcessGroup) -> tuple[float, bool]:
    """The mean of the ranks' step losses and whether any rank wants to stop: one collective and
    one host sync per step. A NaN on any rank makes the mean NaN on every rank, so all of them
    fail the run at the same step instead of one leaving the others in a collective."""
    packed = torch.stack([loss.detach().float().reshape(()), loss.new_tensor(1.0 if stop else 0.0)])
    if group.distributed:
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    mean, stops = packed.tolist()
    return mean / group.world_size, stops > 0


def all_reduce_sum(tensor: torch.Tensor, group: ProcessGroup) -> torch.Tensor:
    if group.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, group: ProcessGroup, device: torch.device) -> bool:
    """True on every rank when `flag` is True on at least one (one small all-reduce)."""
    if not group.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class AgreedStop:
    """A stop request that every rank reads the same way at the same check.

    A signal reaches the ranks at slightly different moments (or only one of them, e.g. the pid
    the registry holds): a rank that stopped alone would leave the others waiting in the next
    step's all-reduce. Each read of `requested` is a collective, so every rank must read it the
    same number of times (the loop reads it once after every epoch; after every step it reads
    the raw flag and agrees on it with the step's loss, `agree_on_step`).
    """

    def __init__(self, stop: Any, group: ProcessGroup, device: torch.device):
        self._stop, self._group, self._device = stop, group, device

    @property
    def requested(self) -> bool:
        return any_rank(self._stop.requested, self._group, self._device)

    @property
    def signal_name(self) -> str:
        return self._stop.signal_name


def broadcast_buffers(module: torch.nn.Module, group: ProcessGroup) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank, so all ranks evaluate the
    model rank 0 saves. (DDP only syncs them inside a forward pass, and a rank with no
    validation image would skip that collective.)"""
    if group.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


class ShardSampler(Sampler[int]):
    """Evaluation sampler: rank r takes items r, r+N, ... with no padding or duplicates, so
    metrics summed across ranks count every image exactly once (DistributedSampler pads)."""

    def __init__(self, length: int, group: ProcessGroup):
        self.indices = list(range(group.rank, length, group.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SkipSampler(Sampler[int]):
    """Wraps an epoch's sampler and skips its first `skip` indices: resuming mid-epoch replays
    exactly the batches that had not run yet."""

    def __init__(self, base: Sampler[int] | Sequence[int], skip: int = 0):
        self.base, self.skip = base, skip

    def __iter__(self) -> Iterator[int]:
        for position, index in enumerate(self.base):
            if position >= self.skip:
                yield index

    def __len__(self) -> int:
        return max(0, len(self.base) - self.skip)
