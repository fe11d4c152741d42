"""DataLoaders for a training process: workers that a stop signal cannot kill, and batches that
never draw from the global random generator.

Stop (SIGTERM/SIGINT) is sent to the trainer's whole process group. PyTorch's loader workers die
of a SIGTERM that does not come from their parent, and the trainer then fails with "DataLoader
worker ... is killed by signal" instead of finishing the step and saving last.pt; so workers
ignore the stop signals and the trainer shuts them down as it ends (they also exit when it is
gone).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from seg_core.datasets.dataset import pad_collate

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Workers per process when the count is "auto" on an accelerator: enough to keep a GPU fed from
# the disk cache (decoding is done once, up front), few enough not to oversubscribe the cores
# when several ranks share one machine.
MAX_AUTO_WORKERS = 8


def _worker_leaves_stop_to_the_trainer(_worker_id: int) -> None:
    """Ignore the stop signals in a worker, then lift the block it was born with (see
    `StopSafeLoader`): a signal sent before this point stays pending, and ignoring a pending
    signal discards it."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class StopSafeLoader(DataLoader):
    """A DataLoader whose workers cannot be killed by a stop signal that arrives while they start.

    Workers are forked when iteration begins. Between the fork and their worker_init_fn a
    SIGTERM to the group killed them (seen in CI: the stopped run failed with "DataLoader worker
    ... exited unexpectedly"). Blocking the stop signals around the fork makes the workers
    inherit the block; the trainer gets a signal that came meanwhile as soon as the block is
    lifted, so its stop request is not lost.
    """

    def __iter__(self):
        if not self.num_workers or not hasattr(signal, "pthread_sigmask"):
            return super().__iter__()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            return super().__iter__()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def worker_count(requested: int, device: torch.device, processes_per_machine: int = 1) -> int:
    """Loader workers per process: `requested`, or for -1 (auto) none on CPU (workers steal the
    cores the model computes on) and the machine's cores shared among its processes elsewhere."""
    if requested >= 0:
        return requested
    if device.type == "cpu":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_AUTO_WORKERS, cores // max(1, processes_per_machine) - 1))


def make_loader(
    dataset: Dataset | Sequence,
    batch_size: int,
    sampler: Sampler[int] | None,
    workers: int,
    device: torch.device,
    drop_last: bool = False,
    seed: int = 0,
) -> StopSafeLoader:
    """A stop-safe loader of padded batches.

    Args:
        workers: worker processes (0: load in the trainer); they persist across iterations.
        seed: seeds the loader's own generator. PyTorch otherwise draws each iteration's worker
            base seed from the global generator, which also drives dropout: a resumed run
            would then see other dropout masks than an uninterrupted one.
    """
    return StopSafeLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        collate_fn=pad_collate,
        # Pinning runs on the current CUDA device: the trainer sets it to its rank's own GPU
        # (`torch.cuda.set_device`) before any loader exists.
        pin_memory=device.type == "cuda",
        worker_init_fn=_worker_leaves_stop_to_the_trainer if workers else None,
        generator=torch.Generator().manual_seed(seed),
    )
