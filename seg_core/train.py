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
import math
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from . import distributed as dist_utils
from .augment import IGNORE_INDEX
from .checkpoint import clean_stale_temps, load_checkpoint, save_checkpoint, versions
from .classes import CLASS_NAMES, NUM_CLASSES
from .config import TrainConfig
from .data import split_pairs, validate_dataset
from .dataset import ArrayCache, SegmentationDataset, pad_collate, warm_cache
from .losses import class_weights_from_counts, create_loss
from .metrics import ConfusionMatrix, KaggleDiceMeter
from .models import ModelSpec, create_model, normalization
from .models.spec import OFFLINE_ENCODER
from .optim import build_optimizer, build_scheduler
from .preview import save_preview
from .runs import RunRegistry


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run cannot continue meaningfully."""


class StopRequested:
    """Set by SIGTERM/SIGINT; the loop checks it after every step."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' picks cuda > mps > cpu; an explicit device that is absent is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is visible; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(
            "device 'mps' was requested but Apple MPS is not available; use --device auto or cpu"
        )
    return torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)


def amp_dtype(device: torch.device, mode: str) -> torch.dtype | None:
    """Autocast dtype: only on CUDA (CPU autocast is slower than fp32 for these convnets)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


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


class RunReporter:
    """Sends a run's progress to the registry (rank 0 only) and to stdout.

    Step losses are buffered and flushed every `flush_s` seconds so a fast loop does not write
    to SQLite on every step.
    """

    def __init__(self, registry: RunRegistry | None, run_id: str, is_main: bool, flush_s: float = 2.0):
        self.registry, self.run_id, self.is_main, self.flush_s = registry, run_id, is_main, flush_s
        self._pending: list[tuple[int, int, str, str, float]] = []
        self._last_flush = time.monotonic()

    def log(self, message: str, level: str = "info") -> None:
        if not self.is_main:
            return
        print(f"[{level}] {message}", flush=True)
        if self.registry:
            self.registry.log(self.run_id, message, level)

    def metrics(self, rows: list[tuple[int, int, str, str, float]], flush: bool = True) -> None:
        if not self.is_main:
            return
        self._pending.extend(rows)
        if flush or time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        if self._pending and self.registry:
            self.registry.log_metrics(self.run_id, self._pending)
        self._pending = []
        self._last_flush = time.monotonic()


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
                if device.type == "cuda":
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


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


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


def _loader(
    dataset, batch_size: int, sampler, cfg: TrainConfig, device: torch.device, drop_last: bool = False
) -> DataLoader:
    workers = (
        cfg.num_workers
        if cfg.num_workers >= 0
        else (0 if device.type == "cpu" else min(8, os.cpu_count() or 1))
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        collate_fn=pad_collate,
        pin_memory=device.type == "cuda",
    )


# BatchNorm in their image-pooling branch needs at least 2 images per training batch.
NEEDS_BATCH_OF_TWO = ("deeplabv3", "deeplabv3plus", "pspnet")


def _payload(
    model: nn.Module,
    setup: _Setup,
    cfg: TrainConfig,
    run_id: str,
    state: LoopState,
    metrics: dict,
    resume_state: dict | None = None,
) -> dict:
    meta = {
        "arch": setup.spec.arch,
        "encoder": setup.spec.encoder,
        "weights": setup.spec.weights,
        "unet_base_width": setup.spec.unet_base_width,
        "num_classes": NUM_CLASSES,
        "class_names": list(CLASS_NAMES),
        "resolution": cfg.resolution,
        "mean": list(setup.mean),
        "std": list(setup.std),
        "config": cfg.to_dict(),
        "metrics": metrics,
        "versions": versions(),
        "epoch": state.epoch,
        "run_id": run_id,
        "saved_at": time.time(),
    }
    payload = {"state_dict": model.state_dict(), "meta": meta}
    if resume_state is not None:
        payload["train_state"] = resume_state
    return payload


def _resume_state(optimizer, scheduler, scaler, state: LoopState) -> dict:
    rng = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    loop = {k: v for k, v in vars(state).items()}
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "loop": loop,
        "rng": rng,
    }


def _restore(path: Path, model, optimizer, scheduler, scaler, device) -> LoopState:
    payload = load_checkpoint(path, map_location=device)
    if "train_state" not in payload:
        raise ValueError(f"{path}: has no training state to resume from")
    model.load_state_dict(payload["state_dict"])
    saved = payload["train_state"]
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["rng"]["torch"].cpu())
    random.setstate(saved["rng"]["python"])
    if "cuda" in saved["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng"]["cuda"]])
    return LoopState(**saved["loop"])


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
            registry.mark_running(run_id, os.getpid(), _describe_device(device))
        status = _fit(cfg, run_id, checkpoint_dir, resume, stop, device, group, reporter)
    except (ValueError, NonFiniteLossError) as exc:
        error = str(exc)
    except torch.OutOfMemoryError:
        error = "out of GPU memory even with a micro-batch of 2; lower --crop or --resolution"
    except Exception as exc:  # noqa: BLE001 - the run must end with a recorded reason, not vanish
        error = f"internal error: {type(exc).__name__}: {exc}"
        import traceback

        traceback.print_exc()
    finally:
        if error:
            reporter.log(error, "error")
        reporter.flush()
        if group.is_main and registry:
            registry.finish(run_id, status if error is None else "failed", error)
        dist_utils.shutdown(group)
    return status if error is None else "failed"


def _fit(
    cfg: TrainConfig,
    run_id: str,
    checkpoint_dir: Path,
    resume: bool,
    stop: StopRequested,
    device: torch.device,
    group: dist_utils.ProcessGroup,
    reporter: RunReporter,
) -> str:
    seed_everything(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick the fastest kernels
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(checkpoint_dir)
    spec = model_spec(cfg)
    setup = _prepare_data(cfg, spec, reporter, group)
    model = create_model(spec, load_weights=not resume).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        if group.distributed:
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
    sampler = DistributedSampler(
        setup.train_set, num_replicas=group.world_size, rank=group.rank, shuffle=True, seed=cfg.seed
    )
    if cfg.batch_size < 2 and spec.arch in NEEDS_BATCH_OF_TWO:
        raise ValueError(
            f"batch size 1 cannot train {spec.arch} (BatchNorm in its pooling branch needs 2+ images "
            "per batch); use --batch-size 2 or more"
        )
    if len(sampler) < cfg.batch_size:
        raise ValueError(
            f"batch size {cfg.batch_size} is larger than the {len(sampler)} training images per "
            "process; lower --batch-size or --val-ratio"
        )
    # Partial last batches are dropped: a batch of one breaks BatchNorm; the shuffle changes
    # every epoch, so every image is still seen.
    steps_per_epoch = len(sampler) // cfg.batch_size
    optimizer = build_optimizer(model_without_ddp, cfg)
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    amp = amp_dtype(device, cfg.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    state = LoopState()
    if resume:
        state = _restore(checkpoint_dir / "last.pt", model_without_ddp, optimizer, scheduler, scaler, device)
        reporter.log(f"resumed from last.pt at epoch {state.epoch + 1}, step {state.step_in_epoch}")
    val_loader = (
        _loader(setup.val_set, 1, dist_utils.ShardSampler(len(setup.val_set), group), cfg, device)
        if setup.val_set
        else None
    )
    if val_loader is None:
        reporter.log(
            "no validation split (val ratio 0 or a single pair): best.pt follows the latest epoch", "warning"
        )
    reporter.log(
        f"training {spec.arch}/{spec.encoder} on {_describe_device(device)}"
        f"{f' x{group.world_size} processes' if group.distributed else ''}, AMP {amp or 'off'}, "
        f"{cfg.epochs} epochs x {steps_per_epoch} steps"
    )

    total_steps = cfg.epochs * steps_per_epoch
    clock = {"start": time.perf_counter(), "start_step": state.global_step}

    def on_step(loss: float) -> None:
        done = state.global_step - clock["start_step"]
        elapsed = time.perf_counter() - clock["start"]
        eta = elapsed / max(done, 1) * (total_steps - state.global_step)
        reporter.metrics(
            [
                (state.global_step, state.epoch + 1, "train", "loss_step", loss),
                (state.global_step, state.epoch + 1, "train", "progress", state.global_step / total_steps),
                (state.global_step, state.epoch + 1, "train", "eta_s", eta),
            ],
            flush=False,
        )

    for epoch in range(state.epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        setup.train_set.set_epoch(epoch)
        skip = state.step_in_epoch * cfg.batch_size
        loader = _loader(
            setup.train_set,
            cfg.batch_size,
            dist_utils.SkipSampler(sampler, skip),
            cfg,
            device,
            drop_last=True,
        )
        stats = train_one_epoch(
            model,
            criterion,
            optimizer,
            scheduler,
            scaler,
            loader,
            steps_per_epoch,
            device,
            amp,
            cfg,
            state,
            stop,
            reporter,
            on_step,
        )
        if not stats.completed:
            if group.is_main:
                save_checkpoint(
                    _payload(
                        model_without_ddp,
                        setup,
                        cfg,
                        run_id,
                        state,
                        {},
                        _resume_state(optimizer, scheduler, scaler, state),
                    ),
                    checkpoint_dir / "last.pt",
                )
            reporter.log(
                f"{stop.signal_name or 'stop'} received: saved last.pt at epoch {epoch + 1}, "
                f"step {state.step_in_epoch}/{steps_per_epoch}; resume continues from there"
            )
            return "stopped"
        state.epoch, state.step_in_epoch = epoch + 1, 0
        metrics = _end_of_epoch(
            model,
            model_without_ddp,
            criterion,
            val_loader,
            device,
            amp,
            group,
            cfg,
            run_id,
            setup,
            state,
            stats,
            optimizer,
            scheduler,
            scaler,
            checkpoint_dir,
            reporter,
        )
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
        del metrics
    full = evaluate(
        model,
        criterion,
        _loader(
            setup.train_eval_set, 1, dist_utils.ShardSampler(len(setup.train_eval_set), group), cfg, device
        ),
        device,
        amp,
        group,
    )
    reporter.metrics(
        [
            (state.global_step, state.epoch, "train_full", "loss", full.loss),
            (state.global_step, state.epoch, "train_full", "dice", full.kaggle_dice),
        ]
    )
    reporter.log(
        f"done: best val Kaggle Dice {state.best_dice:.4f} at epoch {state.best_epoch}; "
        f"loss on the whole training split {full.loss:.4f}"
    )
    return "completed"


def _end_of_epoch(
    model,
    model_without_ddp,
    criterion,
    val_loader,
    device,
    amp,
    group,
    cfg,
    run_id,
    setup,
    state: LoopState,
    stats: EpochStats,
    optimizer,
    scheduler,
    scaler,
    checkpoint_dir: Path,
    reporter: RunReporter,
) -> dict:
    """Validate, log, checkpoint and preview after a completed epoch."""
    epoch, step = state.epoch, state.global_step
    rows = [
        (step, epoch, "train", "loss", stats.loss),
        (step, epoch, "train", "lr", optimizer.param_groups[0]["lr"]),
        (step, epoch, "train", "images_per_s", stats.images_per_s * group.world_size),
        (step, epoch, "train", "data_wait", stats.data_wait_fraction),
    ]
    metrics = {"train_loss": float(stats.loss)}
    if val_loader is not None:
        result = evaluate(model, criterion, val_loader, device, amp, group, want_preview=group.is_main)
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
        if group.is_main and result.preview is not None and setup.preview_image is not None:
            save_preview(checkpoint_dir / "preview.png", setup.preview_image, *result.preview)
    else:
        improved = True
        state.best_epoch = epoch
    state.history.append({"epoch": epoch, **{k: float(v) for k, v in metrics.items()}})
    reporter.metrics(rows)
    if group.is_main:
        save_checkpoint(
            _payload(
                model_without_ddp,
                setup,
                cfg,
                run_id,
                state,
                metrics,
                _resume_state(optimizer, scheduler, scaler, state),
            ),
            checkpoint_dir / "last.pt",
        )
        if improved:
            save_checkpoint(
                _payload(model_without_ddp, setup, cfg, run_id, state, metrics), checkpoint_dir / "best.pt"
            )
        if reporter.registry:
            reporter.registry.set_epochs_done(run_id, epoch)
            if val_loader is not None and improved:
                reporter.registry.set_best(run_id, state.best_dice, epoch)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    reporter.log(
        f"epoch {epoch}/{cfg.epochs}: {summary}, {stats.images_per_s:.2f} img/s, "
        f"data wait {stats.data_wait_fraction:.1%}{' (new best)' if improved else ''}"
    )
    return metrics
