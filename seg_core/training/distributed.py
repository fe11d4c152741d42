"""The few torch.distributed helpers the training loop needs, one code path for 1..N processes.

`torchrun --nproc_per_node=N -m seg_core train ...` sets RANK/WORLD_SIZE/LOCAL_RANK; without
them everything runs as a single process of rank 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


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


def init_from_env(device_type: str) -> ProcessGroup:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU), if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return ProcessGroup()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


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
    same number of times (the loop reads it once after every step and once after every epoch).
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
