"""The student study in one call: its four runs (Table 1), then their comparison.

U-Net + SGD, U-Net + Adam (lr 5e-4, 20 epochs each), DeepLabV3+ on ResNet50 without and with
rot90/flip augmentation (lr 1e-3, 30 and 60 epochs); cross-entropy throughout, fixed epochs (no
early stop), the study's 0.15 validation split. ImageNet weights for ResNet50 are used where
they can be had; offline they cannot, and the runs say so in their name and log.
"""

from __future__ import annotations

from pathlib import Path

from .config import STUDY_PRESETS, TrainConfig
from .models import ModelSpec, create_model
from .runs import RunRegistry
from .runtime import StopRequested
from .train import fit


def imagenet_weights_available(encoder: str) -> bool:
    """True when smp can fetch (or has cached) ImageNet weights for `encoder`; fails fast offline."""
    try:
        create_model(ModelSpec(arch="deeplabv3plus", encoder=encoder, weights="imagenet"))
    except (RuntimeError, ValueError, OSError):
        return False
    return True


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
        if epochs:
            values["epochs"] = epochs
        if values["weights"] == "imagenet" and not imagenet:
            values["weights"] = "none"
            values["name"] += " [no ImageNet weights offline: from scratch]"
        configs.append(TrainConfig.from_dict(values))
    return configs


def run_study(
    data: str | Path,
    epochs: int | None = None,
    resolution: int = 512,
    crop: int = 256,
    batch_size: int = 4,
    registry: RunRegistry | None = None,
) -> list[dict]:
    """Queue the four runs, train them one after another, return the Table 1 rows."""
    registry = registry or RunRegistry()
    configs = study_configs(data, epochs, resolution, crop, batch_size)
    if any("no ImageNet" in c.name for c in configs):
        print(
            "ImageNet weights for ResNet50 cannot be downloaded here: DeepLabV3+ runs start from scratch, "
            "unlike the study's.",
            flush=True,
        )
    runs = [registry.create_run(cfg.to_dict(), name=cfg.name) for cfg in configs]
    stop = StopRequested()
    stop.install()
    for cfg, run in zip(configs, runs, strict=True):
        if stop.requested:
            registry.finish(run.id, "stopped", "study stopped before this run started")
            continue
        print(f"study run {run.id}: {cfg.name}", flush=True)
        fit(cfg, run.id, registry, run.checkpoint_dir, stop=stop)
    return registry.summary_table([r.id for r in runs])
