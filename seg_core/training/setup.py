"""Everything a run builds before its first step: data, model, loss, optimiser, schedule, scaler
(restored from last.pt on resume)."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from seg_core.core.atomic import clean_stale_temps
from seg_core.core.runtime import amp_dtype, seed_everything
from seg_core.datasets.dataset import ArrayCache, SegmentationDataset, warm_cache
from seg_core.datasets.discovery import split_pairs
from seg_core.datasets.loader import worker_count
from seg_core.datasets.sampling import RareClassCrops, class_pixel_counts
from seg_core.imagery.gsd import DATASET_GSD_FILE, read_dataset_gsd, working_gsd_record
from seg_core.labelling import labelset
from seg_core.models import ModelSpec, create_model, normalization
from seg_core.models.spec import OFFLINE_ENCODER
from seg_core.runs.metric_names import PREPARE_PROGRESS
from seg_core.runs.reporter import RunReporter
from seg_core.schemes.scheme import DEFAULT_SCHEME, IGNORE_INDEX, LabelScheme, builtin
from seg_core.training import distributed as dist_utils
from seg_core.training import finetune
from seg_core.training.config import TrainConfig
from seg_core.training.losses import class_weights_from_counts, create_loss
from seg_core.training.optim import build_optimizer, build_scheduler
from seg_core.training.partial import use_partial_labels
from seg_core.training.preflight import check_also_data, check_dataset
from seg_core.training.state import DataSetup, TrainingRun
from seg_core.training.step import CHANNELS_LAST_DEVICES

# BatchNorm in their image-pooling branch needs at least 2 images per training batch.
NEEDS_BATCH_OF_TWO = ("deeplabv3", "deeplabv3plus", "pspnet")


def model_spec(cfg: TrainConfig, num_classes: int | None = None) -> ModelSpec:
    """The network a config asks for; weights 'auto' = the offline ImageNet weights where they
    exist (EfficientNet-Lite0), random init elsewhere ('imagenet' needs a network: ask for it).
    `num_classes`: the dataset's label scheme's (training passes it); checks made before the
    dataset is read use the default scheme's.

    Raises:
        ValueError: an unknown architecture, encoder or weights choice (from `ModelSpec`).
    """
    weights = cfg.weights
    if weights == "auto":
        weights = "imagenet-offline" if cfg.encoder == OFFLINE_ENCODER and cfg.arch != "unet" else "none"
    return ModelSpec(
        arch=cfg.arch,
        encoder=cfg.encoder,
        weights=weights,
        num_classes=num_classes or builtin(DEFAULT_SCHEME).num_classes,
        unet_base_width=cfg.unet_base_width,
    )


def prepare_data(
    cfg: TrainConfig,
    spec: ModelSpec,
    reporter: RunReporter,
    group: dist_utils.ProcessGroup,
    label_record: Path | None = None,
    resume: bool = False,
) -> DataSetup:
    """Validate and split the dataset, decode it into the cache, build the three datasets. The
    network gets one output per class of the dataset's label scheme (`setup.spec`).

    The pairs are those of the run's label set (`labelling.labelset.for_run`: the masks review
    allows, frozen, recorded as `label_record`; a resumed run reads its record back).
    Every rank decodes its share of the photos (rank r: photos r, r+N, ...), then all wait for
    the slowest, so a first run over many photos is N times shorter than on rank 0 alone.
    """
    report = check_dataset(cfg)  # the same check and sentence as before a run exists
    scheme = report.scheme
    spec = dataclasses.replace(spec, num_classes=scheme.num_classes)
    reporter.log(f"label scheme: {report.scheme_note}")
    if report.problems:
        reporter.log(
            f"{len(report.problems)} file(s) skipped by validation, e.g. {report.problems[0].message}",
            "warning",
        )
    label_set = labelset.for_run(
        report.root,
        report.pairs,
        cfg.include_unreviewed,
        label_record,
        resume=resume,
        is_main=group.is_main,
        barrier=torch.distributed.barrier if group.distributed else None,
    )
    reporter.log(f"{label_set.summary()} ({'frozen copies' if label_set.frozen else 'in place'})")
    report.pairs = own_pairs = label_set.pairs()
    extra, remaps = check_also_data(cfg, scheme)
    if extra is not None:
        how = f"read as {scheme.name} through {cfg.mapping}" if remaps else f"also {scheme.name}"
        reporter.log(f"also training on {extra.root}: {len(extra.pairs)} pairs ({how})")
        report.pairs = report.pairs + extra.pairs
    train_pairs, val_pairs = split_pairs(report.pairs, cfg.val_ratio, cfg.seed)
    reporter.log(f"dataset {report.root}: {len(train_pairs)} training and {len(val_pairs)} validation pairs")
    cache = ArrayCache(cfg.resolution)
    started = time.perf_counter()
    warm_cache(
        report.pairs[group.rank :: group.world_size],
        cache,
        progress=lambda done, total: reporter.metrics(
            [PREPARE_PROGRESS.row(0, 0, done / total)], flush=done == total
        ),
    )
    if group.distributed:
        torch.distributed.barrier()
    reporter.log(
        f"photos decoded at {cfg.resolution} px long side in {time.perf_counter() - started:.1f} s "
        "(cached for later epochs and runs)"
    )
    mean, std = normalization(spec)
    crop = cfg.crop or None
    ignore = scheme.ignore_index
    train_set = SegmentationDataset(
        train_pairs,
        cache,
        mean,
        std,
        crop=crop,
        augment=cfg.augment,
        seed=cfg.seed,
        ignore_index=ignore,
        remaps=remaps,
    )
    train_set.centre_crops_on(rare_class_crops(cfg, train_set, scheme, reporter))
    val_set = (
        SegmentationDataset(val_pairs, cache, mean, std, ignore_index=ignore, remaps=remaps)
        if val_pairs
        else None
    )
    train_eval_set = SegmentationDataset(train_pairs, cache, mean, std, ignore_index=ignore, remaps=remaps)
    preview_image = np.asarray(cache.image(val_pairs[0].image)) if val_pairs else None
    working = training_gsd(cfg, report.root, [p.image for p in train_pairs])
    if working is not None:
        reporter.log(
            f"working GSD {working['median_cm']:.2f} cm/px (photos {working['min_cm']:.2f}..{working['max_cm']:.2f} "
            f"at {cfg.resolution} px; {working['source']})"
        )
    return DataSetup(
        spec,
        mean,
        std,
        train_set,
        val_set,
        train_eval_set,
        preview_image,
        working,
        scheme,
        label_set.id,
        own_pairs,
    )


def training_gsd(cfg: TrainConfig, root: Path, images: list[Path]) -> dict | None:
    """The working GSD the model learns at (`gsd.working_gsd_record`), from `--gsd-cm` or the
    dataset's gsd.json; None when neither states the photos' GSD.

    Raises:
        ValueError: a malformed gsd.json (the message names it).
    """
    if cfg.gsd_cm:
        source_cm, source = [cfg.gsd_cm] * len(images), f"--gsd-cm {cfg.gsd_cm:g}"
    else:
        sidecar = read_dataset_gsd(root)
        if sidecar is None:
            return None
        source_cm = [sidecar.for_image(Path(p).stem) for p in images]
        source = f"{DATASET_GSD_FILE}" + (f": {sidecar.source}" if sidecar.source else "")
    long_sides = []
    for path in images:  # headers only: a 12 MP TIFF's size costs microseconds
        with Image.open(path) as image:
            long_sides.append(max(image.size))
    return working_gsd_record(source_cm, long_sides, cfg.resolution, source)


def _pixel_counts(train_set: SegmentationDataset, scheme: LabelScheme) -> np.ndarray:
    """(photos, classes) labelled-pixel counts of the training split."""
    readers = [lambda i=i: train_set.arrays(i)[1] for i in range(len(train_set))]
    return class_pixel_counts(readers, scheme.num_classes)


def class_weights(
    cfg: TrainConfig, train_set: SegmentationDataset, scheme: LabelScheme
) -> torch.Tensor | None:
    """Weighted CE only: median-frequency weights from the training split's pixel counts."""
    if cfg.loss != "weighted_ce":
        return None
    return class_weights_from_counts(_pixel_counts(train_set, scheme).sum(axis=0), cap=cfg.class_weight_cap)


def rare_class_crops(
    cfg: TrainConfig, train_set: SegmentationDataset, scheme: LabelScheme, reporter: RunReporter
) -> RareClassCrops | None:
    """Where the training crops centred on rare classes come from, when the run asks for them."""
    if not cfg.rare_crop_share:
        return None
    if not cfg.crop:
        reporter.log("rare-class crops need crops (--crop): whole images are used", "warning")
        return None
    crops = RareClassCrops(_pixel_counts(train_set, scheme), cfg.rare_crop_share)
    drawn = ", ".join(f"{scheme.classes[c].name} {p:.0%}" for c, p in crops.most_drawn()) or "none"
    reporter.log(f"rare-class crops: {cfg.rare_crop_share:.0%} of crops centred on a class, mostly {drawn}")
    return crops


def _check_batch_size(cfg: TrainConfig, spec: ModelSpec, train_images: int, world_size: int) -> int:
    """Batches per epoch per process; refuses batch sizes the split or the architecture cannot take."""
    if cfg.batch_size < 2 and spec.arch in NEEDS_BATCH_OF_TWO:
        raise ValueError(
            f"batch size 1 cannot train {spec.arch} (BatchNorm in its pooling branch needs 2+ images "
            "per batch); use --batch-size 2 or more"
        )
    per_process = math.ceil(train_images / world_size)
    if per_process < cfg.batch_size:
        raise ValueError(
            f"batch size {cfg.batch_size} is larger than the {per_process} training images per "
            "process; lower --batch-size or --val-ratio"
        )
    # Partial last batches are dropped: a batch of one breaks BatchNorm; the shuffle changes
    # every epoch, so every image is still seen.
    return per_process // cfg.batch_size


def build_run(
    cfg: TrainConfig,
    run_id: str,
    checkpoint_dir: Path,
    resume: bool,
    device: torch.device,
    group: dist_utils.ProcessGroup,
    reporter: RunReporter,
) -> TrainingRun:
    """The run's live objects, restored from last.pt on resume."""
    seed_everything(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick the fastest kernels
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if group.is_main:
        clean_stale_temps(checkpoint_dir)
    record = checkpoint_dir / labelset.RUN_RECORD
    setup = prepare_data(cfg, model_spec(cfg), reporter, group, record, resume)
    spec, scheme = setup.spec, setup.scheme
    cfg = cfg.with_updates(label_set=setup.label_set)  # in every checkpoint's meta["config"]
    model = create_model(spec, load_weights=not resume).to(device)
    # A fine-tune starts from its parent (a new head when the parent speaks another label scheme).
    cfg = finetune.init_from_parent(
        model, cfg, resume, reporter.log, scheme, checkpoint_dir, pairs=setup.pairs
    )
    if device.type in CHANNELS_LAST_DEVICES:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda" and group.distributed:
        model = dist_utils.convert_sync_batchnorm(model)
    model_without_ddp = model
    if group.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    weights = class_weights(cfg, setup.train_set, scheme)
    criterion = create_loss(
        cfg.loss,
        scheme.num_classes,
        class_weights=weights,
        ignore_index=IGNORE_INDEX,
        hard_share=cfg.ohem_share,
    )
    criterion = use_partial_labels(  # else unchanged
        cfg.data, cfg.loss, setup, criterion, reporter.log, cfg.ohem_share
    )
    batches_per_epoch = _check_batch_size(cfg, spec, len(setup.train_set), group.world_size)
    optimizer = build_optimizer(model_without_ddp, cfg)
    scheduler = build_scheduler(optimizer, cfg, batches_per_epoch)
    amp = amp_dtype(device, cfg.amp)
    run = TrainingRun(
        cfg=cfg,
        run_id=run_id,
        checkpoint_dir=checkpoint_dir,
        device=device,
        amp=amp,
        group=group,
        reporter=reporter,
        setup=setup,
        model=model,
        model_without_ddp=model_without_ddp,
        criterion=criterion.to(device),
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(device.type, enabled=amp == torch.float16),
        workers=worker_count(cfg.num_workers, device, dist_utils.processes_per_machine()),
    )
    if resume:
        run.restore()
        reporter.log(f"resumed from last.pt at epoch {run.state.epoch + 1}, step {run.state.step_in_epoch}")
    return run
