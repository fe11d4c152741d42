"""The state of a training run: its live objects (`TrainingRun`), its progress (`LoopState`), and
what `last.pt` saves of them so that a resumed run continues exactly where it stopped.

Exact resume means: the same batches in the same order (the sampler's own seed, `SkipSampler`),
the same augmentation (seeded per sample), the same optimiser, schedule and scaler state, and
the same random numbers for everything the step draws (dropout, drop-path): the global torch,
CUDA (the device in use), NumPy and Python generators are saved and restored, and the loaders
draw from generators of their own, never from the global one.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from seg_core.datasets.dataset import SegmentationDataset
from seg_core.datasets.discovery import Pair
from seg_core.datasets.loader import make_loader
from seg_core.imagery.gsd import CHECKPOINT_GSD_KEY, CHECKPOINT_GSD_RECORD_KEY
from seg_core.models import ModelSpec
from seg_core.models.checkpoint import checkpoint_meta, load_checkpoint, save_checkpoint
from seg_core.runs.reporter import RunReporter
from seg_core.schemes.scheme import LabelScheme
from seg_core.training import distributed as dist_utils
from seg_core.training.config import TrainConfig


@dataclass
class EpochStats:
    """Sums over the steps of one epoch (all attempts of it, when it was resumed mid-way)."""

    loss_sum: float = 0.0
    steps: int = 0
    images: int = 0
    seconds: float = 0.0
    data_wait: float = 0.0
    completed: bool = True

    @property
    def loss(self) -> float:
        return self.loss_sum / self.steps if self.steps else math.nan

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0

    @property
    def data_wait_fraction(self) -> float:
        return self.data_wait / self.seconds if self.seconds else 0.0

    def partial(self) -> dict[str, float]:
        """What `LoopState.partial_epoch` keeps of an epoch a stop interrupted."""
        return {k: v for k, v in asdict(self).items() if k != "completed"}


@dataclass
class LoopState:
    """Mutable progress of a run; saved in last.pt so a resume continues exactly."""

    epoch: int = 0  # epochs fully completed
    step_in_epoch: int = 0  # batches already done in the epoch being run (mid-epoch stop)
    global_step: int = 0
    best_dice: float = -1.0
    best_epoch: int = 0
    epochs_without_gain: int = 0
    micro_batch: int = 0  # current micro-batch (shrinks after CUDA OOM)
    history: list[dict] = field(default_factory=list)
    # EpochStats sums of the steps done before a mid-epoch stop, so the epoch's loss, time and
    # throughput cover the whole epoch after a resume (empty in files written before it existed).
    partial_epoch: dict[str, float] = field(default_factory=dict)
    # Per-photo uncertainty of the best epoch on the validation photos
    # (`seg_core.analytics.familiarity`); None without a validation split.
    uncertainty_reference: dict | None = None


@dataclass
class DataSetup:
    """The datasets of a run and the normalisation they apply."""

    spec: ModelSpec
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_set: SegmentationDataset
    val_set: SegmentationDataset | None
    train_eval_set: SegmentationDataset
    preview_image: np.ndarray | None
    working_gsd: dict | None = None  # gsd.working_gsd_record of the training photos, when known
    scheme: LabelScheme | None = None  # the dataset's label scheme: the network's classes
    label_set: str = ""  # the id of the label set the pairs come from (labelling.labelset)
    # That label set's pairs (the dataset's own, before any `also` data): what a fine-tune's start
    # check holds folds of, so it never learns from a mask the run itself may not train on.
    pairs: list[Pair] = field(default_factory=list)


@dataclass
class TrainingRun:
    """The live objects of one training run: what `train_one_epoch`, `evaluate` and `fit` are
    passed instead of long argument lists."""

    cfg: TrainConfig
    run_id: str
    checkpoint_dir: Path
    device: torch.device
    amp: torch.dtype | None
    group: dist_utils.ProcessGroup
    reporter: RunReporter
    setup: DataSetup
    model: nn.Module  # DDP-wrapped when distributed
    model_without_ddp: nn.Module  # what checkpoints hold
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    workers: int  # loader workers per process
    state: LoopState = field(default_factory=LoopState)

    # ----------------------------------------------------------------- checkpoints

    def payload(self, metrics: dict, resumable: bool) -> dict[str, Any]:
        meta = checkpoint_meta(
            self.setup.spec,
            self.cfg.resolution,
            self.setup.mean,
            self.setup.std,
            self.setup.scheme,
            config=self.cfg.to_dict(),
            metrics=metrics,
            epoch=self.state.epoch,
            run_id=self.run_id,
            saved_at=time.time(),
        )
        if self.state.uncertainty_reference is not None:
            meta["uncertainty_reference"] = self.state.uncertainty_reference
        if self.setup.working_gsd is not None:  # what the orthomosaic path resamples windows to
            meta[CHECKPOINT_GSD_KEY] = self.setup.working_gsd["median_cm"]
            meta[CHECKPOINT_GSD_RECORD_KEY] = self.setup.working_gsd
        payload: dict[str, Any] = {"state_dict": self.model_without_ddp.state_dict(), "meta": meta}
        if resumable:
            payload["train_state"] = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "loop": asdict(self.state),
                "rng": capture_rng(self.device),
            }
        return payload

    def save(self, name: str, metrics: dict, resumable: bool) -> None:
        """Rank 0 writes `<checkpoint_dir>/<name>` atomically."""
        if self.group.is_main:
            save_checkpoint(self.payload(metrics, resumable), self.checkpoint_dir / name)

    def restore(self) -> None:
        """Continue from last.pt: weights, optimiser, scheduler, scaler, loop position, RNG.

        Loaded on the CPU: the model copies its weights to the device, and the optimiser moves
        its moment tensors there but keeps AdamW's step counters on the CPU, as a fresh run
        does (counters on the GPU would cost two host syncs per parameter per step).
        """
        path = self.checkpoint_dir / "last.pt"
        payload = load_checkpoint(path, map_location="cpu")
        if "train_state" not in payload:
            raise ValueError(f"{path}: has no training state to resume from")
        self.model_without_ddp.load_state_dict(payload["state_dict"])
        saved = payload["train_state"]
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if saved["scaler"]:
            self.scaler.load_state_dict(saved["scaler"])
        elif self.scaler.is_enabled():
            # Saved by a run without fp16 (a disabled scaler saves {}): start a fresh scale,
            # as a new fp16 run does; the scaler finds its level within a few steps.
            self.reporter.log("last.pt has no fp16 loss-scaler state: the loss scale starts afresh")
        restore_rng(saved["rng"], self.device)
        self.state = LoopState(**saved["loop"])

    # ----------------------------------------------------------------- evaluation helpers

    def evaluation_model(self) -> nn.Module:
        """The bare model with rank 0's BatchNorm statistics: evaluation needs no DDP, whose
        forward would add a collective on some ranks only when they hold different image counts."""
        dist_utils.broadcast_buffers(self.model_without_ddp, self.group)
        return self.model_without_ddp

    def shard_loader(self, dataset: SegmentationDataset) -> DataLoader:
        """Whole images, one per batch, split across ranks without padding (for evaluation)."""
        sampler = dist_utils.ShardSampler(len(dataset), self.group)
        return make_loader(dataset, 1, sampler, self.workers, self.device, seed=self.cfg.seed)


def capture_rng(device: torch.device) -> dict[str, Any]:
    """Every global random state a training step can draw from, as tensors and plain values."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [
            str(kind),
            torch.from_numpy(keys.astype(np.int64)),
            int(position),
            int(has_gauss),
            float(gauss),
        ],
    }
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def restore_rng(rng: dict[str, Any], device: torch.device) -> None:
    """Restore what `capture_rng` saved. CUDA: the state of the device in use only, whatever the
    number of GPUs of the machine that saved it (files from before kept a list, one per GPU)."""
    torch.set_rng_state(rng["torch"].cpu())
    random.setstate(rng["python"])
    if "numpy" in rng:
        kind, keys, position, has_gauss, gauss = rng["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    saved = rng.get("cuda")
    if device.type != "cuda" or saved is None:
        return
    if isinstance(saved, list | tuple):
        index = device.index or 0
        if index >= len(saved):
            return  # saved on a machine with fewer GPUs: this device's stream starts from the seed
        saved = saved[index]
    torch.cuda.set_rng_state(saved.cpu(), device)
