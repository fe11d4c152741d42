"""The student study's four runs (Table 1) as settings over `TrainConfig`'s defaults: presets for
the Train form and the runs `seg_core study` queues (`training.study.study_configs`)."""

from __future__ import annotations

from typing import Any

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
