"""The named values training settings accept, and how the Train form names them.

Torch-free: `training.config` declares the settings with these, and the loss factory
(`training.losses.create_loss`) reads `LOSSES`.
"""

from __future__ import annotations

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "cosine", "poly", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
AMP_MODES = ("auto", "off", "bf16", "fp16")
LOSSES = ("ce", "weighted_ce", "dice", "ce_dice", "focal", "lovasz")
# Named weights; any other value is a weights file's path.
NAMED_WEIGHTS = ("auto", "none", "imagenet-offline", "imagenet")
# A fine-tune's start check: asked for ("on", "off") or its recorded outcome ("parent", "imagenet",
# "starter": `TrainConfig.starter`'s weights).
START_CHECKS = ("off", "on", "parent", "imagenet", "starter")

WEIGHTS_LABELS = {
    "auto": "auto (offline ImageNet where available)",
    "none": "none (random init)",
    "imagenet-offline": "ImageNet, offline (EfficientNet-Lite0 only)",
    "imagenet": "ImageNet (downloads)",
}
LOSS_LABELS = {
    "ce": "Cross-entropy",
    "weighted_ce": "Weighted cross-entropy",
    "dice": "Dice",
    "ce_dice": "Cross-entropy + Dice",
    "focal": "Focal",
    "lovasz": "Lovász-softmax",
}
OPTIMIZER_LABELS = {"sgd": "SGD with momentum", "adam": "Adam", "adamw": "AdamW"}
SCHEDULE_LABELS = {
    "none": "constant",
    "cosine": "cosine decay",
    "poly": "polynomial decay",
    "onecycle": "one-cycle",
}
AUGMENT_LABELS = {
    "none": "none (crop only)",
    "seed": "rot90 + flips (the study's)",
    "strong": "strong (+ scale, colour, blur, shadows)",
}
