"""The training loop, top to bottom: `evaluate`, `train_one_epoch`, `fit`.

One code path for CPU, CUDA and MPS and for 1..N processes (torchrun + DDP). Everything a run
produces goes to the run registry as it happens (per-step loss, per-epoch metrics, ETA), and to
`checkpoints/<run>/` (`last.pt` every epoch, or every `checkpoint_every` epochs, `best.pt` on a new
best val Dice, `preview.png`).
The pieces live next door: `setup` builds a run, `state` holds it (and saves and restores it),
`step` does one batch, `reporting` writes what a step and an epoch record (metrics named in
`seg_core.runs.metric_names`), `seg_core.datasets.loader` feeds it.

Faults: CUDA out-of-memory halves the micro-batch and keeps the effective batch (gradient
accumulation inside the batch; fatal with a clear message under DDP); a NaN/inf loss fails the
run with the reason; SIGTERM/SIGINT finish the current step, save `last.pt` (with the position
inside the epoch) and mark the run stopped; a SIGKILL leaves the previous `last.pt` intact and
the registry shows 'interrupted'.
"""

from __future__ import annotations

import errno
import gc
import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from seg_core.analytics.familiarity import uncertainty_reference
from seg_core.analytics.uncertainty import UNCERTAIN_BELOW, PhotoUncertainty
from seg_core.core.runtime import StopRequested, autocast, describe_device, select_device
from seg_core.datasets.loader import make_loader
from seg_core.evaluation.metrics import ConfusionMatrix, KaggleDiceMeter
from seg_core.runs import metric_names
from seg_core.runs.registry import RunRegistry
from seg_core.runs.reporter import RunReporter
from seg_core.schemes.scheme import IGNORE_INDEX
from seg_core.training import distributed as dist_utils
from seg_core.training import semi
from seg_core.training.config import TrainConfig
from seg_core.training.preflight import estimate_step, gigabytes
from seg_core.training.preview import save_preview
from seg_core.training.reference import store_training_reference
from seg_core.training.reporting import StepReport, log_epoch
from seg_core.training.setup import build_run, model_spec
from seg_core.training.state import EpochStats, LoopState, TrainingRun
from seg_core.training.step import DistributedOutOfMemoryError, NonFiniteLossError, optimizer_step, train_step

__all__ = [
    "EpochStats",
    "EvalResult",
    "LoopState",
    "StopRequested",
    "TrainingRun",
    "evaluate",
    "fit",
    "model_spec",
    "train_one_epoch",
]


@dataclass
class EvalResult:
    loss: float
    kaggle_dice: float
    miou: float
    pixel_accuracy: float
    scores: object = None
    preview: tuple[np.ndarray, np.ndarray] | None = None  # (truth, prediction) of the first image
    # Per-photo uncertainty (this rank's photos), for the checkpoint's familiarity reference.
    uncertainty: list[PhotoUncertainty] = field(default_factory=list)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    criterion: nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp: torch.dtype | None,
    group: dist_utils.ProcessGroup,
    want_preview: bool = False,
    want_uncertainty: bool = False,
    *,
    num_classes: int,
) -> EvalResult:
    """Loss, Kaggle Dice and confusion-matrix scores over a whole split (counts, not averages), for
    the `num_classes` classes of the dataset's label scheme."""
    model.eval()
    matrix = ConfusionMatrix(num_classes, device=device)
    dice = KaggleDiceMeter(num_classes, device=device)
    loss_sum = torch.zeros(2, dtype=torch.float64, device=device)  # (sum of loss * images, images)
    preview = None
    uncertainty: list[PhotoUncertainty] = []
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
        if want_uncertainty:
            uncertainty += _photo_uncertainty(logits)
        if want_preview and preview is None:
            preview = (masks[0].cpu().numpy().astype(np.uint8), pred[0].cpu().numpy().astype(np.uint8))
    matrix.reduce_from_all_processes()
    dice.reduce_from_all_processes()
    dist_utils.all_reduce_sum(loss_sum, group)
    scores = matrix.compute()
    loss = float(loss_sum[0] / loss_sum[1]) if loss_sum[1] > 0 else math.nan
    return EvalResult(
        loss,
        float(dice.value),
        float(scores.miou),
        float(scores.pixel_accuracy),
        scores,
        preview,
        uncertainty,
    )


def _photo_uncertainty(logits: torch.Tensor) -> list[PhotoUncertainty]:
    """Per-photo uncertainty figures of a batch, as `photo_uncertainty` computes them on a
    prediction (mean of 1 - top probability, share under UNCERTAIN_BELOW), over all pixels."""
    top = logits.float().softmax(1).amax(1)  # B x H x W
    means = (1.0 - top).mean((1, 2)).tolist()
    shares = (top < UNCERTAIN_BELOW).float().mean((1, 2)).tolist()
    return [PhotoUncertainty(m, s, None, 0.0) for m, s in zip(means, shares, strict=True)]


def train_one_epoch(
    run: TrainingRun,
    loader: DataLoader,
    steps_per_epoch: int,
    stop: StopRequested,
    on_step: Callable[[float], None],
) -> EpochStats:
    """One pass over `loader` (the rest of the epoch when resuming mid-epoch).

    Returns the epoch's mean loss, throughput and time spent waiting for data, over every step
    of the epoch (a resumed epoch adds to the sums its interrupted attempt saved); `completed`
    is False when a stop request ended the epoch early, and the sums are then kept in
    `run.state.partial_epoch` for the resume.
    """
    run.model.train()
    state = run.state
    stats = EpochStats(**state.partial_epoch)
    state.partial_epoch = {}
    start = waited_since = time.perf_counter()
    for images, masks in loader:
        stats.data_wait += time.perf_counter() - waited_since
        ends_window = (state.step_in_epoch + 1) % run.cfg.accumulation == 0 or (
            state.step_in_epoch + 1 == steps_per_epoch
        )
        loss, stop_requested = dist_utils.agree_on_step(
            train_step(run, images, masks, ends_window), stop.requested, run.group
        )
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"the loss became {loss} at step {state.global_step + 1} (epoch {state.epoch + 1}); "
                "try a lower learning rate (--lr) or --amp off"
            )
        state.step_in_epoch += 1
        state.global_step += 1
        if ends_window:
            optimizer_step(run)
        stats.loss_sum += loss
        stats.steps += 1
        stats.images += len(images)
        on_step(loss)
        waited_since = time.perf_counter()
        if stop_requested and state.step_in_epoch < steps_per_epoch:
            stats.completed = False
            break
    stats.seconds += time.perf_counter() - start
    if not stats.completed:
        state.partial_epoch = stats.partial()
    return stats


# --------------------------------------------------------------------------- the whole run


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
    group = dist_utils.init_from_env(device)
    reporter = RunReporter(registry, run_id, group.is_main)
    status, error = "failed", None
    try:
        if group.is_main and registry:
            registry.mark_running(run_id, os.getpid(), describe_device(device))
        # No name keeps the run (and its DDP model) alive past _run_epochs: see the gc.collect below.
        status = _run_epochs(build_run(cfg, run_id, checkpoint_dir, resume, device, group, reporter), stop)
    except (ValueError, NonFiniteLossError, DistributedOutOfMemoryError) as exc:
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


def _run_epochs(run: TrainingRun, stop: StopRequested) -> str:
    """The epoch loop: train, validate, checkpoint; then the loss over the whole training split."""
    cfg, state, reporter = run.cfg, run.state, run.reporter
    agreed_stop = dist_utils.AgreedStop(stop, run.group, run.device)
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
    step = estimate_step(cfg, spec, run.setup.train_set.pairs)
    if step is not None:  # what to look at first when the system kills a run
        reporter.log(
            f"memory: a step of {step.inputs} likely peaks at {gigabytes(step.need)} (the preflight's "
            f"estimate); {step.where}"
        )
    total_steps = cfg.epochs * steps_per_epoch
    batch_hooks = semi.batch_hooks(run)  # unlabelled photos; the parent's anchor of partial labels
    on_step = StepReport(run, total_steps)

    for epoch in range(state.epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        run.setup.train_set.set_epoch(epoch)
        skip = dist_utils.SkipSampler(sampler, state.step_in_epoch * cfg.batch_size)
        loader = make_loader(
            run.setup.train_set, cfg.batch_size, skip, run.workers, run.device, drop_last=True, seed=cfg.seed
        )
        for hook in batch_hooks:
            loader = hook.batches(loader)
        stats = train_one_epoch(run, loader, steps_per_epoch, stop, on_step)
        if not stats.completed:
            run.save("last.pt", {}, resumable=True)
            reporter.log(
                f"{agreed_stop.signal_name or 'stop'} received: saved last.pt at epoch {epoch + 1}, "
                f"step {state.step_in_epoch}/{steps_per_epoch}; resume continues from there"
            )
            return "stopped"
        state.epoch, state.step_in_epoch = epoch + 1, 0
        stop_requested = agreed_stop.requested  # a collective: read once per epoch on every rank
        if stop_requested or state.epoch % cfg.checkpoint_every == 0 or state.epoch == cfg.epochs:
            _end_of_epoch(run, val_loader, stats)
        else:
            log_epoch(run, stats, {metric_names.TRAIN_LOSS.summary: float(stats.loss)}, improved=False)
        if stop_requested:
            reporter.log(
                f"{agreed_stop.signal_name or 'stop'} received: stopped after epoch {epoch + 1} (last.pt saved)"
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
        num_classes=run.setup.scheme.num_classes,
        want_uncertainty=val_loader is None,
    )
    if val_loader is None:  # best.pt is the final model: its reference from the training photos
        store_training_reference(run, full.uncertainty)
    at = (state.global_step, state.epoch)
    reporter.metrics(
        [
            metric_names.TRAIN_FULL_LOSS.row(*at, full.loss),
            metric_names.TRAIN_FULL_DICE.row(*at, full.kaggle_dice),
        ]
    )
    best = (
        f"best val Kaggle Dice {state.best_dice:.4f} at epoch {state.best_epoch}"
        if val_loader is not None
        else "no validation split"
    )
    reporter.log(f"done: {best}; loss on the whole training split {full.loss:.4f}")
    return "completed"


def _end_of_epoch(run: TrainingRun, val_loader: DataLoader | None, stats: EpochStats) -> None:
    """Validate, log, checkpoint and preview after a completed epoch (every `checkpoint_every`)."""
    state, group = run.state, run.group
    epoch, step = state.epoch, state.global_step
    rows = []
    metrics = {metric_names.TRAIN_LOSS.summary: float(stats.loss)}
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
            want_uncertainty=True,
            num_classes=run.setup.scheme.num_classes,
        )
        values = {
            metric_names.VAL_LOSS: result.loss,
            metric_names.VAL_DICE: result.kaggle_dice,
            metric_names.VAL_MIOU: result.miou,
            metric_names.VAL_PIXEL_ACCURACY: result.pixel_accuracy,
        }
        rows += [metric.row(step, epoch, value) for metric, value in values.items()]
        metrics.update({metric.summary: value for metric, value in values.items()})
        improved = result.kaggle_dice > state.best_dice
        if improved:
            state.best_dice, state.best_epoch, state.epochs_without_gain = result.kaggle_dice, epoch, 0
            if result.uncertainty:  # rank 0's validation photos: the reference the checkpoint carries
                state.uncertainty_reference = uncertainty_reference(result.uncertainty)
        else:
            state.epochs_without_gain += 1
        if group.is_main and result.preview is not None and run.setup.preview_image is not None:
            save_preview(
                run.checkpoint_dir / "preview.png", run.setup.preview_image, *result.preview, run.setup.scheme
            )
    else:
        state.best_epoch = epoch
    # Before the saves (last.pt holds the history); "new best" only where a score says so.
    log_epoch(run, stats, metrics, improved and val_loader is not None, rows)
    run.save("last.pt", metrics, resumable=True)
    if improved:
        run.save("best.pt", metrics, resumable=False)
    registry = run.reporter.registry
    if group.is_main and registry:
        registry.set_epochs_done(run.run_id, epoch)
        if val_loader is not None and improved:
            registry.set_best(run.run_id, state.best_dice, epoch)
