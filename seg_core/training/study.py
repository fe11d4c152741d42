"""The student study's four runs (Table 1) as training configs.

U-Net + SGD, U-Net + Adam (lr 5e-4, 20 epochs each), DeepLabV3+ on ResNet50 without and with
rot90/flip augmentation (lr 1e-3, 30 and 60 epochs); cross-entropy throughout, fixed epochs (no
early stop), the study's 0.15 validation split. ImageNet weights for ResNet50 are used where
they can be had; offline they cannot, and the runs say so in their name and log.

Queuing them, following them and reading Table 1 back is `services.study.run_study` (the CLI's
`study`); the app's "Queue the whole study" starts them through `services.runs` too.
"""

from __future__ import annotations

from pathlib import Path

from seg_core.models.weights import hub_weights_obtainable
from seg_core.training.config import TrainConfig
from seg_core.training.presets import STUDY_PRESETS

NO_IMAGENET_NOTICE = (
    "ImageNet weights for ResNet50 cannot be downloaded here (no network): the two DeepLabV3+ runs "
    "start from random weights, unlike the study's, and their names say so."
)


def imagenet_weights_available(encoder: str) -> bool:
    """True when smp can fetch (or has cached) ImageNet weights for `encoder`; milliseconds offline."""
    return hub_weights_obtainable(encoder)


def study_configs(
    data: str | Path,
    epochs: int | None = None,
    resolution: int = 512,
    crop: int = 256,
    batch_size: int = 4,
    imagenet: bool | None = None,
) -> list[TrainConfig]:
    """The four study runs as configs; `imagenet=None` probes whether the weights can be had."""
    if imagenet is None:
        imagenet = imagenet_weights_available("resnet50")
    configs = []
    for label, preset in STUDY_PRESETS.items():
        values = {
            **preset,
            "data": str(Path(data).resolve()),
            "resolution": resolution,
            "crop": crop,
            "batch_size": batch_size,
            "early_stop_patience": 0,
            "warmup_epochs": 0,
            "val_ratio": 0.15,
            "name": f"study: {label}",
        }
        if epochs is not None:  # 0 is refused by TrainConfig, never taken as "not given"
            values["epochs"] = epochs
        if values["weights"] == "imagenet" and not imagenet:
            values["weights"] = "none"
            values["name"] += " [no ImageNet weights offline: from scratch]"
        configs.append(TrainConfig.from_dict(values))
    return configs
