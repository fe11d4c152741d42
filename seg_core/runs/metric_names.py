"""The metrics a training run records, named once: the loop writes them, the registry, the
monitor and the pages read them by these constants, never by bare strings.

A registry row is (step, epoch, split, name, value); `Metric.row` builds one. `Metric.key` is the
"split/name" the monitor's series use (`MetricHistory.epoch_series()[VAL_DICE.key]`).
`Metric.summary` is the metric's key in an epoch's summary dict: the log line, the history and a
checkpoint's `meta["metrics"]` (e.g. "val_dice"), for the metrics that have one.
"""

from __future__ import annotations

from dataclasses import dataclass

TRAIN, VAL, TRAIN_FULL, PREPARE = "train", "val", "train_full", "prepare"


@dataclass(frozen=True)
class Metric:
    split: str
    name: str
    summary: str = ""

    @property
    def key(self) -> str:
        return f"{self.split}/{self.name}"

    def row(self, step: int, epoch: int, value: float) -> tuple[int, int, str, str, float]:
        """The registry row of this metric's value at (`step`, `epoch`)."""
        return (step, epoch, self.split, self.name, value)


# Once per step (or per decoded photo while preparing): never part of the epoch curves.
LOSS_STEP = Metric(TRAIN, "loss_step")
PROGRESS = Metric(TRAIN, "progress")  # 0..1 of all training steps
ETA_S = Metric(TRAIN, "eta_s")  # seconds of training left
PREPARE_PROGRESS = Metric(PREPARE, "progress")  # 0..1 of the photos decoded into the cache
STEP_METRICS = (LOSS_STEP, PROGRESS, ETA_S)

# Once per epoch.
TRAIN_LOSS = Metric(TRAIN, "loss", "train_loss")
LEARNING_RATE = Metric(TRAIN, "lr")
IMAGES_PER_S = Metric(TRAIN, "images_per_s")  # all processes together
DATA_WAIT = Metric(TRAIN, "data_wait")  # share of the epoch spent waiting for batches
EPOCH_S = Metric(TRAIN, "epoch_s")  # training seconds of the epoch, every attempt together

# Once per validation (every `checkpoint_every` epochs).
VAL_LOSS = Metric(VAL, "loss", "val_loss")
VAL_DICE = Metric(VAL, "dice", "val_dice")  # Kaggle Dice: the score of record, picks best.pt
VAL_MIOU = Metric(VAL, "miou", "val_miou")
VAL_PIXEL_ACCURACY = Metric(VAL, "pixel_acc", "val_pixel_accuracy")

# Once, at the end: the final model on the whole training split.
TRAIN_FULL_LOSS = Metric(TRAIN_FULL, "loss")
TRAIN_FULL_DICE = Metric(TRAIN_FULL, "dice")
