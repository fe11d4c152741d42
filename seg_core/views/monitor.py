"""What the Train and Runs pages show about runs, as plain data: metric rows folded into per-epoch
and per-step series, the latest progress and ETA, a one-sentence status, table rows.

Everything here is a pure function of `MetricRow`s and `RunRecord`s (no database, no streamlit),
so a live view can fold only the rows that arrived since its last tick:

    history = MetricHistory()
    history.add(registry.metrics(run_id, after_id=history.last_id))   # every tick, cheap
    history.epoch_series()[VAL_DICE.key]                               # -> ([1, 2, ...], [0.41, ...])
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from seg_core.runs.metric_names import (
    ETA_S,
    LOSS_STEP,
    PREPARE,
    PREPARE_PROGRESS,
    PROGRESS,
    STEP_METRICS,
    TRAIN,
)
from seg_core.runs.registry import FINAL_STATUSES, PENDING_DEVICE, MetricRow, RunRecord

# Rows logged once per step (or while decoding photos), not per epoch: never part of epoch curves.
STEP_NAMES = tuple(metric.name for metric in STEP_METRICS)
PREPARE_SPLIT = PREPARE
# Step-loss points kept per run: enough for a smooth curve, bounded memory for 100k-step runs.
MAX_STEP_POINTS = 4000

STATUS_COLORS = {
    "queued": "gray",
    "running": "blue",
    "completed": "green",
    "stopped": "orange",
    "failed": "red",
    "interrupted": "orange",
}


@dataclass(frozen=True)
class Progress:
    """Where a run is: `phase` 'prepare' (decoding photos) or 'train', `fraction` 0..1 of that
    phase, `eta_s` seconds left in training (None while preparing or before the first step)."""

    phase: str
    fraction: float
    eta_s: float | None
    epoch: int


@dataclass
class MetricHistory:
    """The metric rows of one run read so far, folded as they arrive.

    Kept in the page's session state: each tick reads only rows with id > `last_id`. A value
    logged twice for the same epoch (a resumed run repeats its interrupted epoch) keeps the newer.
    """

    last_id: int = 0
    # "split/name" -> {epoch: value}, e.g. "val/dice" -> {1: 0.41, 2: 0.47}
    epochs: dict[str, dict[int, float]] = field(default_factory=dict)
    # (global step, training loss); thinned to every `step_stride`-th step past MAX_STEP_POINTS
    step_loss: list[tuple[int, float]] = field(default_factory=list)
    step_stride: int = 1
    progress: Progress | None = None
    _eta: tuple[int, float] | None = None  # (id, seconds) of the latest ETA row

    def add(self, rows: Iterable[MetricRow]) -> MetricHistory:
        """Fold `rows` (oldest first, ids increasing) into the history; returns self."""
        for row in rows:
            if row.id <= self.last_id:  # already folded (a tick that overlapped the previous one)
                continue
            self.last_id = row.id
            key = f"{row.split}/{row.name}"
            if key == PREPARE_PROGRESS.key:
                self.progress = Progress(PREPARE_SPLIT, _clip(row.value), None, row.epoch)
            elif key == PROGRESS.key:
                eta = self._eta[1] if self._eta else None
                self.progress = Progress(TRAIN, _clip(row.value), eta, row.epoch)
            elif key == ETA_S.key:
                self._eta = (row.id, row.value)
                if self.progress is not None and self.progress.phase == TRAIN:
                    self.progress = Progress(TRAIN, self.progress.fraction, row.value, self.progress.epoch)
            elif key == LOSS_STEP.key:
                self._add_step(row.step, row.value)
            elif row.name not in STEP_NAMES:
                self.epochs.setdefault(key, {})[row.epoch] = row.value
        return self

    def _add_step(self, step: int, loss: float) -> None:
        if self.step_loss and step <= self.step_loss[-1][0]:
            # A resume replays steps after its last checkpoint: drop the abandoned tail.
            while self.step_loss and self.step_loss[-1][0] >= step:
                self.step_loss.pop()
        if step % self.step_stride:
            return
        self.step_loss.append((step, loss))
        if len(self.step_loss) > MAX_STEP_POINTS:
            self.step_stride *= 2
            self.step_loss = [(s, v) for s, v in self.step_loss if s % self.step_stride == 0]

    def epoch_series(self) -> dict[str, tuple[list[int], list[float]]]:
        """{"split/name": (epochs ascending, values)} for every per-epoch metric."""
        return {
            key: (sorted(values), [values[e] for e in sorted(values)]) for key, values in self.epochs.items()
        }

    def step_series(self) -> tuple[list[int], list[float]]:
        """(global steps, training loss at that step)."""
        return [s for s, _ in self.step_loss], [v for _, v in self.step_loss]

    def latest(self, key: str) -> float | None:
        """The value of "split/name" at its latest epoch, or None if never logged."""
        values = self.epochs.get(key)
        return values[max(values)] if values else None


def epochs_done(run: RunRecord, history: MetricHistory) -> int:
    """Epochs finished: the registry's count moves at checkpoints (every few epochs for a
    fine-tune), the training loss is logged after every epoch."""
    logged = history.epochs.get("train/loss") or {0: 0.0}
    return max(run.epochs_done or 0, max(logged))


def has_validation(run: RunRecord) -> bool:
    """Whether the run holds photos back for validation (a fine-tune does not: val ratio 0)."""
    try:
        return float(run.config.get("val_ratio", 0.15)) > 0
    except (TypeError, ValueError):
        return True


def one_step_per_epoch(history: MetricHistory) -> bool:
    """Whether every epoch so far was a single step: its per-step loss is then its epoch loss."""
    steps, logged = history.step_series()[0], history.epochs.get("train/loss")
    return bool(steps and logged) and steps[-1] <= max(logged)


def epoch_series(rows: Sequence[MetricRow]) -> dict[str, tuple[list[int], list[float]]]:
    """Per-epoch metrics of a run, e.g. {"train/loss": ([1, 2], [1.9, 1.4]), "val/dice": ...}.

    Step-level rows (loss per step, progress, ETA) and the 'prepare' phase are left out.
    """
    return MetricHistory().add(rows).epoch_series()


def step_series(rows: Sequence[MetricRow]) -> tuple[list[int], list[float]]:
    """(global steps, training loss) from ('train', 'loss_step') rows."""
    return MetricHistory().add(rows).step_series()


def latest_progress(rows: Sequence[MetricRow]) -> Progress | None:
    """The newest progress of a run, or None before it reports any."""
    return MetricHistory().add(rows).progress


def format_duration(seconds: float | None) -> str:
    """Human wall time: '45 s', '12 min', '2 h 05 min', '–' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest:02d} s" if minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min"


def progress_text(progress: Progress | None, epochs_total: int) -> str:
    """The caption of a progress bar, e.g. '42% · epoch 3 of 10 · about 4 min left'."""
    if progress is None:
        return "Starting the training process…"
    if progress.phase == PREPARE_SPLIT:
        return f"Preparing photos (decoded and resized once, then cached): {progress.fraction:.0%}"
    eta = "" if progress.eta_s is None else f" · about {format_duration(progress.eta_s)} left"
    return f"{progress.fraction:.0%} · epoch {progress.epoch} of {epochs_total}{eta}"


@dataclass(frozen=True)
class StatusSummary:
    status: str
    label: str  # "Running", ...
    color: str  # a streamlit badge colour
    sentence: str  # what an analyst needs to know, one or two sentences
    final: bool  # the run will not change any more (until resumed)


def status_summary(
    run: RunRecord, queue_position: int | None = None, now: float | None = None
) -> StatusSummary:
    """One sentence about where a run stands, for a badge and a caption.

    Args:
        queue_position: 1-based place of a queued run in the training queue, when known.
        now: the clock (for tests); running durations count up to it.
    """
    now = time.time() if now is None else now
    total = run.config.get("epochs", "?")
    done = f"{run.epochs_done or 0} of {total} epochs"
    best = (
        "" if run.best_metric is None else f" Best val Dice {run.best_metric:.3f} (epoch {run.best_epoch})."
    )
    elapsed = None if run.started_at is None else (run.ended_at or now) - run.started_at
    status = run.status
    if status == "queued":
        where = f" (position {queue_position})" if queue_position else ""
        sentence = f"Waiting in the training queue{where}; it starts when the running job ends."
    elif status == "running":
        device = "" if run.device in (None, PENDING_DEVICE) else f" on {run.device}"
        sentence = f"Training{device}: {done} finished, running for {format_duration(elapsed)}.{best}"
    elif status == "completed":
        sentence = f"Completed {done} in {format_duration(elapsed)}.{best}"
    elif status == "stopped":
        reason = f" ({run.error})" if run.error else ""
        sentence = f"Stopped after {done}{reason}.{best} Resume it on Runs to continue from its last epoch."
    elif status == "failed":
        sentence = f"Failed after {done}: {run.error or 'no error message was recorded'}.{best}"
    else:  # interrupted
        sentence = (
            f"Interrupted after {done}: {run.error or 'the training process ended unexpectedly'}."
            f"{best} Resume it on Runs to continue from its last epoch."
        )
    return StatusSummary(
        status,
        status.capitalize(),
        STATUS_COLORS[status],
        sentence,
        status in FINAL_STATUSES,
    )


def current_run(runs: Sequence[RunRecord]) -> RunRecord | None:
    """The run a live view should follow: the running one, else the newest (runs newest first)."""
    running = [r for r in runs if r.status == "running"]
    return running[0] if running else (runs[0] if runs else None)


def queue_positions(runs: Sequence[RunRecord]) -> dict[str, int]:
    """{run id: 1-based place in the queue} for queued runs (oldest first, as jobs.dispatch picks)."""
    queued = sorted((r for r in runs if r.status == "queued"), key=lambda r: r.created_at)
    return {r.id: i for i, r in enumerate(queued, start=1)}


def model_label(config: dict) -> str:
    """'unet (width 32)' for the classic U-Net, else 'deeplabv3plus / resnet50'."""
    arch = config.get("arch", "?")
    if arch == "unet":
        return f"unet (width {config.get('unet_base_width', '?')})"
    return f"{arch} / {config.get('encoder', '?')}"


def parent_of(run: RunRecord) -> str | None:
    """The run id a fine-tuned run started from (its config's `parent_run_id`), else None."""
    return run.config.get("parent_run_id") or None


def children_of(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    """Parent run id -> the runs fine-tuned from it, oldest first."""
    children: dict[str, list[RunRecord]] = {}
    for run in sorted(runs, key=lambda r: r.created_at):
        parent = parent_of(run)
        if parent:
            children.setdefault(parent, []).append(run)
    return children


def lineage_sentence(run: RunRecord, runs: Sequence[RunRecord]) -> str | None:
    """ "Fine-tuned from A; fine-tuned into B, C." for the Runs page, None for a run with neither.
    A parent outside the registry (e.g. the shipped demo model's own run) is named by its id."""
    names = {r.id: f"{r.name} ({r.id})" for r in runs}
    parts = []
    parent = parent_of(run)
    if parent:
        source = run.config.get("init_from")
        known = names.get(parent) or f"run {parent}" + (f", checkpoint {source}" if source else "")
        parts.append(f"Fine-tuned from {known}")
    kids = children_of(runs).get(run.id, [])
    if kids:
        parts.append("fine-tuned into " + ", ".join(names[k.id] for k in kids))
    return "; ".join(parts) + "." if parts else None


def runs_table(runs: Sequence[RunRecord]) -> list[dict]:
    """One row per run for the Runs page table (newest first, as given). `parent`: the run it was
    fine-tuned from; `children`: how many runs were fine-tuned from it."""
    children = children_of(runs)
    return [
        {
            "name": run.name,
            "status": run.status,
            "model": model_label(run.config),
            "optimizer": run.config.get("optimizer"),
            "augmentation": run.config.get("augment"),
            "best_val_dice": run.best_metric,
            "epochs": f"{run.epochs_done or 0} / {run.config.get('epochs', '?')}",
            "started": None
            if run.started_at is None
            else time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)),
            "duration": format_duration(run.duration_s),
            "parent": parent_of(run),
            "children": len(children.get(run.id, [])) or None,
            "id": run.id,
        }
        for run in runs
    ]


# study_table.summary_table key -> column heading of the study's Table 1 (+ mIoU and wall time)
STUDY_COLUMNS = {
    "name": "Run",
    "optimizer": "Optimizer",
    "augmentation": "Augmentation",
    "final_train_loss": "Train loss",
    "val_loss": "Val loss",
    "train_full_loss": "Loss on entire training set",
    "best_val_dice": "Val Dice",
    "val_miou_at_best": "Val mIoU",
    "wall_time_s": "Wall time (s)",
    "status": "Status",
    "id": "Run id",
}


def study_table(summary_rows: Sequence[dict]) -> list[dict]:
    """`runs.study_table.summary_table` rows renamed to the study's Table 1 headings, numbers rounded."""
    table = []
    for row in summary_rows:
        shaped = {}
        for key, heading in STUDY_COLUMNS.items():
            value = row.get(key)
            if isinstance(value, float):
                value = (
                    round(value, 1)
                    if key == "wall_time_s"
                    else (None if math.isnan(value) else round(value, 4))
                )
            shaped[heading] = value
        table.append(shaped)
    return table


def comparison_series(
    histories: dict[str, MetricHistory], key: str
) -> dict[str, tuple[list[int], list[float]]]:
    """One (epochs, values) series of metric `key` ("val/dice") per run label, runs without it left out."""
    series = {}
    for label, history in histories.items():
        values = history.epoch_series().get(key)
        if values and values[0]:
            series[label] = values
    return series


def _clip(value: float) -> float:
    return 0.0 if not math.isfinite(value) else min(1.0, max(0.0, value))
