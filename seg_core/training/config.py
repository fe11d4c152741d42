"""Training settings: one frozen dataclass, saved with every run and checkpoint.

Nothing here imports torch, so the app can build forms and validate settings cheaply.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seg_core.datasets.augment import AUGMENT_PRESETS
from seg_core.schemes.classes import NUM_CLASSES

if TYPE_CHECKING:
    from seg_core.models.spec import ModelSpec

if TYPE_CHECKING:
    from seg_core.models.spec import ModelSpec

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "cosine", "poly", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
AMP_MODES = ("auto", "off", "bf16", "fp16")
# The loss names, in one place: the factory (`training.losses.create_loss`) and the forms read them.
LOSSES = ("ce", "weighted_ce", "dice", "ce_dice", "focal", "lovasz")


@dataclass(frozen=True)
class TrainConfig:
    data: str = ""  # dataset folder (Harvey or images/+masks/ layout)
    arch: str = "fpn"  # most accurate pretrained option measured, 1.5x DeepLabV3+'s CPU time (BENCHMARKS.md)
    encoder: str = "tu-efficientnet_lite0"  # 3.4 M params, real ImageNet weights available offline
    weights: str = "auto"  # auto: offline ImageNet for EfficientNet-Lite0, else random init
    unet_base_width: int = 64  # classic U-Net only: 64 = the paper, 32 is 4x cheaper
    loss: str = "ce_dice"  # CE for calibration + Dice for the score of record
    class_weight_cap: float = 10.0  # upper bound on weighted-CE weights (rare classes)
    optimizer: str = "adamw"
    lr: float = 1e-3  # the study's DeepLabV3+ rate; good for AdamW too
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD only
    schedule: str = "cosine"
    warmup_epochs: int = 1  # linear warm-up protects pretrained weights early on
    epochs: int = 30
    batch_size: int = 4  # fits CPU RAM at 512 px crops; OOM halves it on GPU
    accumulation: int = 1  # optimiser step every N batches
    clip_grad_norm: float = 1.0  # 0 disables; guards against rare exploding steps
    crop: int = 512  # random square training crops (px); 0 = whole image
    resolution: int = 1024  # working resolution: long side in px (Harvey teams: 256..1024)
    # The photos' GSD at their original size, cm/px; 0 = the dataset's gsd.json, else unknown.
    # Recorded as the model's working GSD (x long side / resolution) for the orthomosaic path.
    gsd_cm: float = 0.0
    augment: str = "seed"  # the study's rot90 + flips
    val_ratio: float = 0.15  # the study's split
    seed: int = 0
    early_stop_patience: int = 10  # epochs without val-Dice gain before stopping; 0 = never
    # Validate and save last.pt/best.pt every N epochs (and after the last one, and on a stop): a
    # few photos make 2-step epochs, where the per-epoch saves cost more than the training.
    # Early-stop patience then counts validations. A kill loses at most N epochs of work.
    checkpoint_every: int = 1
    device: str = "auto"  # cuda > mps > cpu
    amp: str = "auto"  # bf16 (or fp16) autocast on CUDA only
    num_workers: int = -1  # -1: auto (0 on CPU, where workers steal compute)
    name: str = ""
    # Fine-tuning (seg_core.training.finetune): start from a whole checkpoint, not only an encoder.
    init_from: str = ""  # parent checkpoint path; "" = train from `weights`
    parent_run_id: str = ""  # filled from the parent when training starts (lineage)
    parent_weights_sha256: str = ""  # the parent's weights checksum: a changed parent is refused
    # Semi-supervised (seg_core.training.semi): photos without masks learnt from confident pseudo-labels.
    unlabelled: str = ""  # folder of photos, or a dataset (its photos without a mask); "" = off
    # A pixel's pseudo-label counts when the model gives its class this probability. FixMatch and
    # UniMatch use 0.95 with 10-21 classes; 25 classes spread a fine-tune's probability wider, so
    # 0.9, set before measuring (BENCHMARKS.md, "Unlabelled photos and partial labels").
    pseudo_label_threshold: float = 0.9
    unlabelled_per_batch: int = 2  # unlabelled views per batch: 1:1 with the fine-tune's batch of 2

    def __post_init__(self) -> None:
        self._check_types()
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("schedule", self.schedule, SCHEDULES)
        _one_of("device", self.device, DEVICES)
        _one_of("amp", self.amp, AMP_MODES)
        _one_of("augment", self.augment, AUGMENT_PRESETS)
        _one_of("loss", self.loss, LOSSES)
        _at_least("epochs", self.epochs, 1)
        _at_least("batch_size", self.batch_size, 1)
        _at_least("accumulation", self.accumulation, 1)
        _at_least("crop", self.crop, 0)
        _at_least("resolution", self.resolution, 32)
        _at_least("warmup_epochs", self.warmup_epochs, 0)
        _at_least("early_stop_patience", self.early_stop_patience, 0)
        _at_least("checkpoint_every", self.checkpoint_every, 1)
        _at_least("unet_base_width", self.unet_base_width, 1)
        _at_least("unlabelled_per_batch", self.unlabelled_per_batch, 1)
        if not 0.0 < self.pseudo_label_threshold <= 1.0:
            raise ValueError(f"pseudo_label_threshold {self.pseudo_label_threshold} must be in (0, 1]")
        if not self.lr > 0:
            raise ValueError(f"lr {self.lr} must be positive")
        if not 0.0 <= self.val_ratio < 1.0:
            raise ValueError(f"val_ratio {self.val_ratio} must be in [0, 1)")
        if self.gsd_cm and not 0.1 <= self.gsd_cm <= 10_000:
            raise ValueError(f"gsd_cm {self.gsd_cm} must be 0 (from the dataset) or 0.1..10000 cm/px")
        if self.crop and self.crop % 32:
            raise ValueError(f"crop {self.crop} must be a multiple of 32 (or 0 for whole images)")

    def _check_types(self) -> None:
        """Each setting has its default's type (a JSON config can hold anything); a whole number
        is accepted for a decimal setting and stored as float."""
        for f in fields(self):
            value, kind = getattr(self, f.name), type(f.default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
            elif not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ValueError(f"{f.name} {value!r} must be {_TYPE_WORDS[kind]}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, refusing unknown keys by name (typos must not pass silently)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the config file ({exc})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: the config file must hold a JSON object")
        return cls.from_dict(values)

    def with_updates(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


def model_spec(cfg: TrainConfig) -> ModelSpec:
    """The network a config asks for; weights 'auto' = the offline ImageNet weights where they
    exist (EfficientNet-Lite0), random init elsewhere ('imagenet' needs a network: ask for it).

    Raises:
        ValueError: an unknown architecture, encoder or weights choice (from `ModelSpec`).
    """
    from seg_core.models.spec import OFFLINE_ENCODER, ModelSpec  # imports torch: only when asked

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


_TYPE_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of: {', '.join(allowed)}")


def _at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ValueError(f"{name} {value} must be at least {minimum}")


# The student study's four runs (Table 1), as presets for the app and `seg_core study`.
_STUDY_UNET: dict[str, Any] = {
    "arch": "unet",
    "encoder": "none",
    "weights": "none",
    "lr": 5e-4,
    "loss": "ce",
    "augment": "none",
    "epochs": 20,
    "schedule": "none",
}
_STUDY_DEEPLAB: dict[str, Any] = {
    "arch": "deeplabv3plus",
    "encoder": "resnet50",
    "weights": "imagenet",
    "optimizer": "adam",
    "lr": 1e-3,
    "loss": "ce",
    "schedule": "none",
}
STUDY_PRESETS: dict[str, dict[str, Any]] = {
    "U-Net + SGD": {**_STUDY_UNET, "optimizer": "sgd"},
    "U-Net + Adam": {**_STUDY_UNET, "optimizer": "adam"},
    "DeepLabV3+ (no augmentation)": {**_STUDY_DEEPLAB, "augment": "none", "epochs": 30},
    "DeepLabV3+ (augmentation)": {**_STUDY_DEEPLAB, "augment": "seed", "epochs": 60},
}
