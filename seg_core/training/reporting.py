"""What a training run reports as it goes: each step's loss, progress and ETA, and each epoch's
training rows and log line, to the run registry through the run's reporter. The metrics are
named once, in `seg_core.runs.metric_names`; the loop (`training.loop`) decides when.
"""

from __future__ import annotations

from collections.abc import Sequence

from seg_core.core.progress import EtaClock
from seg_core.runs import metric_names
from seg_core.training.state import EpochStats, TrainingRun


class StepReport:
    """Called with each step's loss: its row, the progress over all `total_steps`, and the ETA
    (rows buffered; the reporter flushes them every few seconds)."""

    def __init__(self, run: TrainingRun, total_steps: int):
        self.run, self.total_steps = run, total_steps
        self.clock = EtaClock(
            start_done=run.state.global_step
        )  # a resumed run's earlier steps took no time here

    def __call__(self, loss: float) -> None:
        step, epoch = self.run.state.global_step, self.run.state.epoch + 1
        eta = self.clock.seconds(step, self.total_steps) or 0.0
        rows = [
            metric_names.LOSS_STEP.row(step, epoch, loss),
            metric_names.PROGRESS.row(step, epoch, step / self.total_steps),
            metric_names.ETA_S.row(step, epoch, eta),
        ]
        self.run.reporter.metrics(rows, flush=False)


def train_rows(run: TrainingRun, stats: EpochStats) -> list[tuple]:
    """The epoch's training rows: loss, learning rate, throughput (all processes), data wait, and
    the training seconds of every attempt of the epoch together."""
    epoch, step, world = run.state.epoch, run.state.global_step, run.group.world_size
    return [
        metric_names.TRAIN_LOSS.row(step, epoch, stats.loss),
        metric_names.LEARNING_RATE.row(step, epoch, run.optimizer.param_groups[0]["lr"]),
        metric_names.IMAGES_PER_S.row(step, epoch, stats.images_per_s * world),
        metric_names.DATA_WAIT.row(step, epoch, stats.data_wait_fraction),
        metric_names.EPOCH_S.row(step, epoch, stats.seconds),
    ]


def log_epoch(
    run: TrainingRun, stats: EpochStats, metrics: dict, improved: bool, rows: Sequence[tuple] = ()
) -> None:
    """An epoch's summary (`metrics`, by `Metric.summary` keys) to the run's history, its rows
    and `rows` (validation) to the registry, and one log line (checkpointed epoch or not)."""
    run.state.history.append({"epoch": run.state.epoch, **{k: float(v) for k, v in metrics.items()}})
    run.reporter.metrics(train_rows(run, stats) + list(rows))
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    run.reporter.log(
        f"epoch {run.state.epoch}/{run.cfg.epochs}: {summary}, {stats.images_per_s:.2f} img/s, "
        f"data wait {stats.data_wait_fraction:.1%}{' (new best)' if improved else ''}"
    )
