"""The training loop, top to bottom: `evaluate`, `train_one_epoch`, `fit`.

One code path for CPU, CUDA and MPS and for 1..N processes (torchrun + DDP). Everything a run
produces goes to the run registry as it happens (per-step loss, per-epoch metrics, ETA), and to
`checkpoints/<run>/` (`last.pt` every epoch, `best.pt` on a new best val Dice, `preview.png`).

Faults: CUDA out-of-memory halves the micro-batch and keeps the effective batch (gradient
accumulation inside the batch); a NaN/inf loss fails the run with the reason; SIGTERM/SIGINT
finish the current step, save `last.pt` (with the position inside the epoch) and mark the run
stopped; a SIGKILL leaves the previous `last.pt` intact and the registry shows 'interrupted'.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import math
import os
import random
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from seg_core.core.runtime import (
    StopRequested,
    amp_dtype,
    autocast,
    describe_device,
    seed_everything,
    select_device,
)
from seg_core.data.augment import IGNORE_INDEX
from seg_core.data.classes import CLASS_NAMES, NUM_CLASSES
from seg_core.data.dataset import ArrayCache, SegmentationDataset, pad_collate, warm_cache
from seg_core.data.discovery import split_pairs, validate_dataset
from seg_core.evaluation.metrics import ConfusionMatrix, KaggleDiceMeter
from seg_core.models import ModelSpec, create_model, normalization
from seg_core.models.checkpoint import clean_stale_temps, load_checkpoint, save_checkpoint, versions
from seg_core.models.spec import OFFLINE_ENCODER
from seg_core.runs.registry import RunRegistry
from seg_core.runs.reporter import RunReporter
from seg_core.training import distributed as dist_utils
from seg_core.training import finetune
from seg_core.training.config import TrainConfig
from seg_core.training.losses import class_weights_from_counts, create_loss
from seg_core.training.optim import build_optimizer, build_scheduler
from seg_core.training.preview import save_preview


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run cannot continue meaningfully."""


def model_spec(cfg: TrainConfig) -> ModelSpec:
    """The network a config asks for; weights 'auto' = the offline ImageNet weights where they
    exist (EfficientNet-Lite0), random init elsewhere ('imagenet' needs a network: ask for it)."""
    weights = cfg.weights
    if weights == "auto":
        weights = "imagenet-offline" if cfg.encoder == OFFLINE_ENCODER and cfg.arch != "unet" else "none"
    return ModelSpec(
        arch=cfg.arch,
        encoder=cfg.encoder,
        weights=weights,
        num_classes=NUM_CLASSES,
        unet_base_width=cfg.unet_base_width,
    )


@dataclass
class EpochStats:
    loss: float = math.nan
    images: int = 0
    seconds: float = 0.0
    data_wait: float = 0.0
    steps: int = 0
    completed: bool = True

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0

    @property
    def data_wait_fraction(self) -> float:
        return self.data_wait / self.seconds if self.seconds else 0.0


@dataclass
class EvalResult:
    loss: float
    kaggle_dice: float
    miou: float
    pixel_accuracy: float
    scores: object = None
    preview: tuple[np.ndarray, np.ndarray] | None = None  # (truth, prediction) of the first image


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


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    criterion: nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp: torch.dtype | None,
    group: dist_utils.ProcessGroup,
    want_preview: bool = False,
) -> EvalResult:
    """Loss, Kaggle Dice and confusion-matrix scores over a whole split (counts, not averages)."""
    model.eval()
    matrix = ConfusionMatrix(NUM_CLASSES, device=device)
    dice = KaggleDiceMeter(NUM_CLASSES, device=device)
    loss_sum = torch.zeros(2, dtype=torch.float64, device=device)  # (sum of loss * images, images)
    preview = None
    for images, masks in loader:
        images = images.to(device, non_blocking=True)
        masks = masks.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(images)
        loss_sum += torch.stack(
            [
                criterion(logits.float(), masks).double() * len(images),
                torch.tensor(float(len(images)), dtype=torch.float64, device=device),
            ]
        )
        pred = logits.argmax(1)
        pred = torch.where(masks == IGNORE_INDEX, torch.full_like(pred, IGNORE_INDEX), pred)
        matrix.update(pred, masks)
        dice.update(pred, masks)
        if want_preview and preview is None:
            preview = (masks[0].cpu().numpy().astype(np.uint8), pred[0].cpu().numpy().astype(np.uint8))
    matrix.reduce_from_all_processes()
    dice.reduce_from_all_processes()
    dist_utils.all_reduce_sum(loss_sum, group)
    scores = matrix.compute()
    loss = float(loss_sum[0] / loss_sum[1]) if loss_sum[1] > 0 else math.nan
    return EvalResult(
        loss, float(dice.value), float(scores.miou), float(scores.pixel_accuracy), scores, preview
    )


def _micro_batches(images: torch.Tensor, masks: torch.Tensor, size: int):
    for start in range(0, len(images), size):
        yield images[start : start + size], masks[start : start + size]


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    scaler: torch.amp.GradScaler,
    loader: DataLoader,
    steps_per_epoch: int,
    device: torch.device,
    amp: torch.dtype | None,
    cfg: TrainConfig,
    state: LoopState,
    stop: StopRequested,
    reporter: RunReporter,
    on_step: Callable[[float], None],
) -> EpochStats:
    """One pass over `loader` (the rest of the epoch when resuming mid-epoch).

    Returns mean loss, throughput and the time spent waiting for data; `completed` is False
    when a stop request ended the epoch early.
    """
    model.train()
    stats = EpochStats()
    loss_total = 0.0
    start = time.perf_counter()
    waited_since = start
    for images, masks in loader:
        stats.data_wait += time.perf_counter() - waited_since
        batch_loss = _train_step(
            model, criterion, optimizer, scaler, images, masks, device, amp, cfg, state, reporter
        )
        state.step_in_epoch += 1
        state.global_step += 1
        if state.step_in_epoch % cfg.accumulation == 0 or state.step_in_epoch == steps_per_epoch:
            _optimizer_step(model, optimizer, scaler, cfg)
            scheduler.step()
        loss_total += batch_loss
        stats.steps += 1
        stats.images += len(images)
        on_step(batch_loss)
        waited_since = time.perf_counter()
        if stop.requested and state.step_in_epoch < steps_per_epoch:
            stats.completed = False
            break
    stats.seconds = time.perf_counter() - start
    stats.loss = loss_total / stats.steps if stats.steps else math.nan
    return stats


def _train_step(
    model, criterion, optimizer, scaler, images, masks, device, amp, cfg, state, reporter: RunReporter
) -> float:
    """Forward/backward one batch in micro-batches; on CUDA OOM halve the micro-batch and retry."""
    while True:
        micro = state.micro_batch or len(images)
        try:
            batch_loss = 0.0
            parts = list(_micro_batches(images, masks, micro))
            for i, (x, y) in enumerate(parts):
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
                if device.type in CHANNELS_LAST_DEVICES:
                    x = x.contiguous(memory_format=torch.channels_last)
                last = i == len(parts) - 1
                no_sync = (
                    model.no_sync() if (not last and hasattr(model, "no_sync")) else contextlib.nullcontext()
                )
                with no_sync, autocast(device, amp):
                    loss = criterion(model(x), y)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise NonFiniteLossError(
                        f"the loss became {value} at step {state.global_step + 1} (epoch {state.epoch + 1}); "
                        "try a lower learning rate (--lr) or --amp off"
                    )
                share = len(x) / len(images) / cfg.accumulation
                scaler.scale(loss * share).backward()
                batch_loss += value * len(x) / len(images)
            return batch_loss
        except torch.OutOfMemoryError:
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if micro <= 2:  # below 2, BatchNorm statistics break down (and some archs fail outright)
                raise
            state.micro_batch = micro // 2
            reporter.log(
                f"out of GPU memory with micro-batch {micro}: continuing with micro-batch "
                f"{state.micro_batch} and {math.ceil(len(images) / state.micro_batch)} accumulation "
                "steps per batch (same effective batch)",
                "warning",
            )


def _optimizer_step(model: nn.Module, optimizer, scaler, cfg: TrainConfig) -> None:
    if cfg.clip_grad_norm > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


# --------------------------------------------------------------------------- the whole run


@dataclass
class _Setup:
    """Everything `fit` builds before the first epoch."""

    spec: ModelSpec
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_set: SegmentationDataset
    val_set: SegmentationDataset | None
    train_eval_set: SegmentationDataset
    preview_image: np.ndarray | None


def _prepare_data(
    cfg: TrainConfig, spec: ModelSpec, reporter: RunReporter, group: dist_utils.ProcessGroup
) -> _Setup:
    report = validate_dataset(cfg.data)
    if not report.pairs:
        reasons = "; ".join(p.message for p in report.problems[:3]) or "the folders are empty"
        raise ValueError(
            f"{cfg.data}: no usable image/mask pairs ({reasons}); "
            f"`python -m seg_core validate {cfg.data}` lists every problem"
        )
    if report.problems:
        reporter.log(
            f"{len(report.problems)} file(s) skipped by validation, e.g. {report.problems[0].message}",
            "warning",
        )
    train_pairs, val_pairs = split_pairs(report.pairs, cfg.val_ratio, cfg.seed)
    reporter.log(f"dataset {report.root}: {len(train_pairs)} training and {len(val_pairs)} validation pairs")
    cache = ArrayCache(cfg.resolution)
    if group.is_main:
        started = time.perf_counter()
        warm_cache(
            report.pairs,
            cache,
            progress=lambda done, total: reporter.metrics(
                [(0, 0, "prepare", "progress", done / total)], flush=done == total
            ),
        )
        reporter.log(
            f"photos decoded at {cfg.resolution} px long side in {time.perf_counter() - started:.1f} s "
            "(cached for later epochs and runs)"
        )
    if group.distributed:
        torch.distributed.barrier()
    mean, std = normalization(spec)
    crop = cfg.crop or None
    train_set = SegmentationDataset(
        train_pairs, cache, mean, std, crop=crop, augment=cfg.augment, seed=cfg.seed
    )
    val_set = SegmentationDataset(val_pairs, cache, mean, std) if val_pairs else None
    train_eval_set = SegmentationDataset(train_pairs, cache, mean, std)
    preview_image = np.asarray(cache.image(val_pairs[0].image)) if val_pairs else None
    return _Setup(spec, mean, std, train_set, val_set, train_eval_set, preview_image)


def _class_weights(cfg: TrainConfig, train_set: SegmentationDataset) -> torch.Tensor | None:
    """Weighted CE only: median-frequency weights from the training split's pixel counts."""
    if cfg.loss != "weighted_ce":
        return None
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    for pair in train_set.pairs:
        counts += np.bincount(train_set.cache.pair(pair)[1].reshape(-1), minlength=256)[:NUM_CLASSES]
    return class_weights_from_counts(counts, cap=cfg.class_weight_cap)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _worker_leaves_stop_to_the_trainer(_worker_id: int) -> None:
    """Stop signals the trainer's whole process group. PyTorch's workers die of a SIGTERM that
    does not come from their parent, and the trainer then fails with "DataLoader worker ... is
    killed by signal" instead of finishing the step and saving last.pt; so workers ignore
    SIGTERM/SIGINT and the trainer shuts them down as it ends (they also exit when it is gone).
    They are born with those signals blocked (StopSafeLoader): one sent before this point stays
    pending, and ignoring a pending signal discards it."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class StopSafeLoader(DataLoader):
    """A DataLoader whose workers cannot be killed by a stop signal that arrives while they start.

    Workers are forked when iteration begins (every epoch). Between the fork and their
    worker_init_fn a SIGTERM to the group killed them (seen in CI: the stopped run failed with
    "DataLoader worker ... exited unexpectedly"). Blocking the stop signals around the fork makes
    the workers inherit the block; the trainer gets a signal that came meanwhile as soon as the
    block is lifted, so its stop request is not lost.
    """

    def __iter__(self):
        if not self.num_workers or not hasattr(signal, "pthread_sigmask"):
            return super().__iter__()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            return super().__iter__()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _loader(
    dataset, batch_size: int, sampler, cfg: TrainConfig, device: torch.device, drop_last: bool = False
) -> DataLoader:
    workers = (
        cfg.num_workers
        if cfg.num_workers >= 0
        else (0 if device.type == "cpu" else min(8, os.cpu_count() or 1))
    )
    return StopSafeLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        collate_fn=pad_collate,
        pin_memory=device.type == "cuda",
        worker_init_fn=_worker_leaves_stop_to_the_trainer if workers else None,
    )


# channels_last: tensor cores on CUDA, oneDNN's fast path on CPU (a 4x512x512 training step of the
# default model: 4.68 s vs 5.29 s on 2 cores). MPS support for it is uneven, so MPS stays NCHW.
CHANNELS_LAST_DEVICES = ("cuda", "cpu")

# BatchNorm in their image-pooling branch needs at least 2 images per training batch.
NEEDS_BATCH_OF_TWO = ("deeplabv3", "deeplabv3plus", "pspnet")


@dataclass
class _Run:
    """The live objects of one training run, passed around instead of long argument lists."""

    cfg: TrainConfig
    run_id: str
    checkpoint_dir: Path
    device: torch.device
    amp: torch.dtype | None
    group: dist_utils.ProcessGroup
    reporter: RunReporter
    setup: _Setup
    model: nn.Module  # DDP-wrapped when distributed
    model_without_ddp: nn.Module  # what checkpoints hold
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    state: LoopState

    def payload(self, metrics: dict, resumable: bool) -> dict:
        spec = self.setup.spec
        meta = {
            "arch": spec.arch,
            "encoder": spec.encoder,
            "weights": spec.weights,
            "unet_base_width": spec.unet_base_width,
            "num_classes": NUM_CLASSES,
            "class_names": list(CLASS_NAMES),
            "resolution": self.cfg.resolution,
            "mean": list(self.setup.mean),
            "std": list(self.setup.std),
            "config": self.cfg.to_dict(),
            "metrics": metrics,
            "versions": versions(),
            "epoch": self.state.epoch,
            "run_id": self.run_id,
            "saved_at": time.time(),
        }
        payload = {"state_dict": self.model_without_ddp.state_dict(), "meta": meta}
        if resumable:
            payload["train_state"] = self._resume_state()
        return payload

    def _resume_state(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "loop": dict(vars(self.state)),
            "rng": rng,
        }

    def save(self, name: str, metrics: dict, resumable: bool) -> None:
        """Rank 0 writes `<checkpoint_dir>/<name>` atomically."""
        if self.group.is_main:
            save_checkpoint(self.payload(metrics, resumable), self.checkpoint_dir / name)

    def restore(self) -> None:
        """Continue from last.pt: weights, optimiser, scheduler, scaler, loop position, RNG."""
        path = self.checkpoint_dir / "last.pt"
        payload = load_checkpoint(path, map_location=self.device)
        if "train_state" not in payload:
            raise ValueError(f"{path}: has no training state to resume from")
        self.model_without_ddp.load_state_dict(payload["state_dict"])
        saved = payload["train_state"]
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        random.setstate(saved["rng"]["python"])
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng"]["cuda"]])
        self.state = LoopState(**saved["loop"])

    def evaluation_model(self) -> nn.Module:
        """The bare model with rank 0's BatchNorm statistics: evaluation needs no DDP, whose
        forward would add a collective on some ranks only when they hold different image counts."""
        dist_utils.broadcast_buffers(self.model_without_ddp, self.group)
        return self.model_without_ddp

    def shard_loader(self, dataset: SegmentationDataset) -> DataLoader:
        """Whole images, one per batch, split across ranks without padding (for evaluation)."""
        return _loader(dataset, 1, dist_utils.ShardSampler(len(dataset), self.group), self.cfg, self.device)


def fit(
    cfg: TrainConfig,
    run_id: str,
    registry: RunRegistry | None,
    checkpoint_dir: Path,
    resume: bool = False,
    stop: StopRequested | None = None,
) -> str:
    """Train one run to the end (or to a stop request); returns the final status.

    Every outcome is recorded: 'completed', 'stopped' (SIGTERM/SIGINT, last.pt saved), or
    'failed' with the reason (bad data, NaN loss, unexpected error).
    """
    stop = stop or StopRequested()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(cfg.device, local_rank)
    group = dist_utils.init_from_env(device.type)
    reporter = RunReporter(registry, run_id, group.is_main)
    status, error = "failed", None
    try:
        if group.is_main and registry:
            registry.mark_running(run_id, os.getpid(), describe_device(device))
        # No name keeps the run (and its DDP model) alive past _train: see the gc.collect below.
        status = _train(_build_run(cfg, run_id, checkpoint_dir, resume, device, group, reporter), stop)
    except (ValueError, NonFiniteLossError) as exc:
        error = str(exc)
    except torch.OutOfMemoryError:
        error = "out of GPU memory even with a micro-batch of 2; lower --crop or --resolution"
    except OSError as exc:
        error = _os_error_reason(exc, checkpoint_dir)
    except Exception as exc:  # noqa: BLE001 - the run must end with a recorded reason, not vanish
        error = f"internal error: {type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        if error:
            reporter.log(error, "error")
        reporter.flush()
        if group.is_main and registry:
            registry.finish(run_id, status if error is None else "failed", error)
        if group.distributed:
            # Free the DDP model, which holds the process group, while the interpreter is fully
            # alive: a gloo group torn down during interpreter exit can abort the process
            # (pytorch/pytorch#179291); one 2-process test run ended that way.
            gc.collect()
        dist_utils.shutdown(group)
    return status if error is None else "failed"


def _os_error_reason(exc: OSError, checkpoint_dir: Path) -> str:
    """A full disk is the user's to fix, not an internal error; the atomic saves kept the previous
    last.pt, so the run can be resumed once there is room."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the disk ({exc}); free some space (checkpoints: {checkpoint_dir}), "
            "then resume the run from its last saved epoch"
        )
    traceback.print_exc()
    return f"internal error: {type(exc).__name__}: {exc}"


def _build_run(
    cfg: TrainConfig,
    run_id: str,
    checkpoint_dir: Path,
    resume: bool,
    device: torch.device,
    group: dist_utils.ProcessGroup,
    reporter: RunReporter,
) -> _Run:
    """Data, model, loss, optimiser, schedule and scaler for a run (restored from last.pt on resume)."""
    seed_everything(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick the fastest kernels
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(checkpoint_dir)
    spec = model_spec(cfg)
    setup = _prepare_data(cfg, spec, reporter, group)
    model = create_model(spec, load_weights=not resume).to(device)
    cfg = finetune.init_from_parent(model, cfg, resume, reporter.log)
    if device.type in CHANNELS_LAST_DEVICES:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda" and group.distributed:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model_without_ddp = model
    if group.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    weights = _class_weights(cfg, setup.train_set)
    criterion = create_loss(cfg.loss, NUM_CLASSES, class_weights=weights, ignore_index=IGNORE_INDEX).to(
        device
    )
    if cfg.batch_size < 2 and spec.arch in NEEDS_BATCH_OF_TWO:
        raise ValueError(
            f"batch size 1 cannot train {spec.arch} (BatchNorm in its pooling branch needs 2+ images "
            "per batch); use --batch-size 2 or more"
        )
    per_process = math.ceil(len(setup.train_set) / group.world_size)
    if per_process < cfg.batch_size:
        raise ValueError(
            f"batch size {cfg.batch_size} is larger than the {per_process} training images per "
            "process; lower --batch-size or --val-ratio"
        )
    # Partial last batches are dropped: a batch of one breaks BatchNorm; the shuffle changes
    # every epoch, so every image is still seen.
    optimizer = build_optimizer(model_without_ddp, cfg)
    scheduler = build_scheduler(optimizer, cfg, per_process // cfg.batch_size)
    amp = amp_dtype(device, cfg.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    run = _Run(
        cfg,
        run_id,
        checkpoint_dir,
        device,
        amp,
        group,
        reporter,
        setup,
        model,
        model_without_ddp,
        criterion,
        optimizer,
        scheduler,
        scaler,
        LoopState(),
    )
    if resume:
        run.restore()
        reporter.log(f"resumed from last.pt at epoch {run.state.epoch + 1}, step {run.state.step_in_epoch}")
    return run


def _train(run: _Run, stop: StopRequested) -> str:
    """The epoch loop: train, validate, checkpoint; then the loss over the whole training split."""
    cfg, state, reporter = run.cfg, run.state, run.reporter
    stop = dist_utils.AgreedStop(stop, run.group, run.device)
    sampler = DistributedSampler(
        run.setup.train_set,
        num_replicas=run.group.world_size,
        rank=run.group.rank,
        shuffle=True,
        seed=cfg.seed,
    )
    steps_per_epoch = len(sampler) // cfg.batch_size
    val_loader = run.shard_loader(run.setup.val_set) if run.setup.val_set else None
    if val_loader is None:
        reporter.log(
            "no validation split (val ratio 0 or a single pair): best.pt follows the latest epoch", "warning"
        )
    spec = run.setup.spec
    processes = f" x{run.group.world_size} processes" if run.group.distributed else ""
    reporter.log(
        f"training {spec.arch}/{spec.encoder} on {describe_device(run.device)}{processes}, "
        f"AMP {run.amp or 'off'}, {cfg.epochs} epochs x {steps_per_epoch} steps"
    )
    total_steps = cfg.epochs * steps_per_epoch
    clock = {"start": time.perf_counter(), "start_step": state.global_step}

    def on_step(loss: float) -> None:
        done = state.global_step - clock["start_step"]
        eta = (time.perf_counter() - clock["start"]) / max(done, 1) * (total_steps - state.global_step)
        step, epoch = state.global_step, state.epoch + 1
        reporter.metrics(
            [
                (step, epoch, "train", "loss_step", loss),
                (step, epoch, "train", "progress", step / total_steps),
                (step, epoch, "train", "eta_s", eta),
            ],
            flush=False,
        )

    for epoch in range(state.epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        run.setup.train_set.set_epoch(epoch)
        skip = dist_utils.SkipSampler(sampler, state.step_in_epoch * cfg.batch_size)
        loader = _loader(run.setup.train_set, cfg.batch_size, skip, cfg, run.device, drop_last=True)
        stats = train_one_epoch(
            run.model,
            run.criterion,
            run.optimizer,
            run.scheduler,
            run.scaler,
            loader,
            steps_per_epoch,
            run.device,
            run.amp,
            cfg,
            state,
            stop,
            reporter,
            on_step,
        )
        if not stats.completed:
            run.save("last.pt", {}, resumable=True)
            reporter.log(
                f"{stop.signal_name or 'stop'} received: saved last.pt at epoch {epoch + 1}, "
                f"step {state.step_in_epoch}/{steps_per_epoch}; resume continues from there"
            )
            return "stopped"
        state.epoch, state.step_in_epoch = epoch + 1, 0
        _end_of_epoch(run, val_loader, stats)
        if stop.requested:
            reporter.log(
                f"{stop.signal_name or 'stop'} received: stopped after epoch {epoch + 1} (last.pt saved)"
            )
            return "stopped"
        if cfg.early_stop_patience and state.epochs_without_gain >= cfg.early_stop_patience:
            reporter.log(
                f"early stop: no val Dice gain for {state.epochs_without_gain} epochs "
                f"(best {state.best_dice:.4f} at epoch {state.best_epoch})"
            )
            break
    full = evaluate(
        run.evaluation_model(),
        run.criterion,
        run.shard_loader(run.setup.train_eval_set),
        run.device,
        run.amp,
        run.group,
    )
    reporter.metrics(
        [
            (state.global_step, state.epoch, "train_full", "loss", full.loss),
            (state.global_step, state.epoch, "train_full", "dice", full.kaggle_dice),
        ]
    )
    best = (
        f"best val Kaggle Dice {state.best_dice:.4f} at epoch {state.best_epoch}"
        if val_loader is not None
        else "no validation split"
    )
    reporter.log(f"done: {best}; loss on the whole training split {full.loss:.4f}")
    return "completed"


def _end_of_epoch(run: _Run, val_loader: DataLoader | None, stats: EpochStats) -> None:
    """Validate, log, checkpoint and preview after a completed epoch."""
    state, group = run.state, run.group
    epoch, step = state.epoch, state.global_step
    rows = [
        (step, epoch, "train", "loss", stats.loss),
        (step, epoch, "train", "lr", run.optimizer.param_groups[0]["lr"]),
        (step, epoch, "train", "images_per_s", stats.images_per_s * group.world_size),
        (step, epoch, "train", "data_wait", stats.data_wait_fraction),
    ]
    metrics = {"train_loss": float(stats.loss)}
    improved = True
    if val_loader is not None:
        result = evaluate(
            run.evaluation_model(),
            run.criterion,
            val_loader,
            run.device,
            run.amp,
            group,
            want_preview=group.is_main,
        )
        rows += [
            (step, epoch, "val", "loss", result.loss),
            (step, epoch, "val", "dice", result.kaggle_dice),
            (step, epoch, "val", "miou", result.miou),
            (step, epoch, "val", "pixel_acc", result.pixel_accuracy),
        ]
        metrics.update(
            val_loss=result.loss,
            val_dice=result.kaggle_dice,
            val_miou=result.miou,
            val_pixel_accuracy=result.pixel_accuracy,
        )
        improved = result.kaggle_dice > state.best_dice
        if improved:
            state.best_dice, state.best_epoch, state.epochs_without_gain = result.kaggle_dice, epoch, 0
        else:
            state.epochs_without_gain += 1
        if group.is_main and result.preview is not None and run.setup.preview_image is not None:
            save_preview(run.checkpoint_dir / "preview.png", run.setup.preview_image, *result.preview)
    else:
        state.best_epoch = epoch
    state.history.append({"epoch": epoch, **{k: float(v) for k, v in metrics.items()}})
    run.reporter.metrics(rows)
    run.save("last.pt", metrics, resumable=True)
    if improved:
        run.save("best.pt", metrics, resumable=False)
    registry = run.reporter.registry
    if group.is_main and registry:
        registry.set_epochs_done(run.run_id, epoch)
        if val_loader is not None and improved:
            registry.set_best(run.run_id, state.best_dice, epoch)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    run.reporter.log(
        f"epoch {epoch}/{run.cfg.epochs}: {summary}, {stats.images_per_s:.2f} img/s, "
        f"data wait {stats.data_wait_fraction:.1%}{' (new best)' if improved else ''}"
    )
