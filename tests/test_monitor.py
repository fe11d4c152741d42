"""Run monitoring as plain data: metric rows -> series, progress, status sentences, table rows."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from seg_core.runs.registry import MetricRow, RunRecord, RunRegistry
from seg_core.runs.study_table import summary_table
from seg_core.views import monitor


def rows_of(*specs: tuple[int, int, str, str, float]) -> list[MetricRow]:
    """MetricRows with increasing ids from (step, epoch, split, name, value)."""
    return [MetricRow(i, s, e, sp, n, v, 1000.0 + i) for i, (s, e, sp, n, v) in enumerate(specs, start=1)]


def two_epochs() -> list[MetricRow]:
    return rows_of(
        (0, 0, "prepare", "progress", 0.5),
        (0, 0, "prepare", "progress", 1.0),
        (1, 1, "train", "loss_step", 2.0),
        (1, 1, "train", "progress", 0.25),
        (1, 1, "train", "eta_s", 30.0),
        (2, 1, "train", "loss_step", 1.8),
        (2, 1, "train", "progress", 0.5),
        (2, 1, "train", "eta_s", 20.0),
        (2, 1, "train", "loss", 1.9),
        (2, 1, "val", "loss", 1.7),
        (2, 1, "val", "dice", 0.40),
        (2, 1, "val", "miou", 0.10),
        (3, 2, "train", "loss_step", 1.5),
        (3, 2, "train", "progress", 0.75),
        (3, 2, "train", "eta_s", 10.0),
        (4, 2, "train", "loss", 1.4),
        (4, 2, "val", "loss", 1.3),
        (4, 2, "val", "dice", 0.55),
        (4, 2, "val", "miou", 0.2),
    )


def record(**changes) -> RunRecord:
    base = RunRecord(
        id="20250101-120000-demo-0a1b",
        name="demo",
        status="running",
        config={
            "arch": "deeplabv3plus",
            "encoder": "resnet50",
            "epochs": 10,
            "optimizer": "adam",
            "augment": "seed",
        },
        pid=123,
        device="cpu",
        created_at=1000.0,
        started_at=1000.0,
        ended_at=None,
        best_metric=None,
        best_epoch=None,
        epochs_done=0,
        error=None,
        checkpoint_dir=Path("/nowhere"),
        host=None,
    )
    return replace(base, **changes)


def test_epoch_series_keeps_per_epoch_metrics_only():
    series = monitor.epoch_series(two_epochs())
    assert set(series) == {"train/loss", "val/loss", "val/dice", "val/miou"}
    assert series["val/dice"] == ([1, 2], [0.40, 0.55])
    assert series["train/loss"] == ([1, 2], [1.9, 1.4])


def test_step_series_and_latest_progress():
    rows = two_epochs()
    assert monitor.step_series(rows) == ([1, 2, 3], [2.0, 1.8, 1.5])
    progress = monitor.latest_progress(rows)
    assert progress == monitor.Progress("train", 0.75, 10.0, 2)
    assert monitor.latest_progress([]) is None


def test_preparing_phase_has_no_eta_and_a_resume_prepares_again():
    rows = two_epochs()
    assert monitor.latest_progress(rows[:2]) == monitor.Progress("prepare", 1.0, None, 0)
    resumed = [*rows, MetricRow(100, 0, 0, "prepare", "progress", 0.3, 0.0)]
    assert monitor.latest_progress(resumed) == monitor.Progress("prepare", 0.3, None, 0)


def test_incremental_folding_equals_folding_everything_at_once():
    rows = two_epochs()
    history = monitor.MetricHistory()
    for start in range(0, len(rows), 4):  # ticks that each see only the new rows
        history.add(rows[start : start + 4])
    history.add(rows[:5])  # an overlapping re-read changes nothing
    whole = monitor.MetricHistory().add(rows)
    assert history.last_id == whole.last_id == len(rows)
    assert history.epoch_series() == whole.epoch_series()
    assert history.step_series() == whole.step_series()
    assert history.progress == whole.progress
    assert history.latest("val/dice") == 0.55 and history.latest("val/pixel_acc") is None


def test_a_resumed_epoch_and_replayed_steps_replace_the_old_values():
    rows = two_epochs()
    replay = [
        MetricRow(50, 3, 2, "train", "loss_step", 1.6, 0.0),  # steps after the checkpoint run again
        MetricRow(51, 4, 2, "train", "loss", 1.35, 0.0),
        MetricRow(52, 4, 2, "val", "dice", 0.6, 0.0),
    ]
    history = monitor.MetricHistory().add(rows).add(replay)
    assert history.epoch_series()["val/dice"] == ([1, 2], [0.40, 0.6])
    assert history.step_series() == ([1, 2, 3], [2.0, 1.8, 1.6])


def test_step_loss_is_thinned_to_a_bounded_number_of_points(monkeypatch):
    monkeypatch.setattr(monitor, "MAX_STEP_POINTS", 100)
    rows = [MetricRow(i, i, 1, "train", "loss_step", 1.0 / i, 0.0) for i in range(1, 1001)]
    steps, losses = monitor.MetricHistory().add(rows).step_series()
    assert len(steps) <= 100
    assert steps == sorted(steps) and steps[-1] >= 990  # still covers the whole run
    assert losses[0] == pytest.approx(1.0 / steps[0])


def test_nan_values_stay_nan_and_progress_is_clipped():
    rows = rows_of((1, 1, "val", "loss", math.nan), (1, 1, "train", "progress", 1.7))
    history = monitor.MetricHistory().add(rows)
    assert math.isnan(history.latest("val/loss"))
    assert history.progress.fraction == 1.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "–"), (math.nan, "–"), (4.4, "4 s"), (75, "1 min 15 s"), (900, "15 min"), (7500, "2 h 05 min")],
)
def test_format_duration(seconds, text):
    assert monitor.format_duration(seconds) == text


def test_progress_text():
    assert monitor.progress_text(None, 10).startswith("Starting")
    assert "Preparing photos" in monitor.progress_text(monitor.Progress("prepare", 0.4, None, 0), 10)
    text = monitor.progress_text(monitor.Progress("train", 0.42, 250.0, 3), 10)
    assert text == "42% · epoch 3 of 10 · about 4 min 10 s left"


def test_status_summary_sentences():
    running = monitor.status_summary(record(epochs_done=2, best_metric=0.51234, best_epoch=2), now=1090.0)
    assert not running.final and running.color == "blue"
    assert (
        running.sentence
        == "Training on cpu: 2 of 10 epochs finished, running for 1 min 30 s. Best val Dice 0.512 (epoch 2)."
    )
    failed = monitor.status_summary(
        record(status="failed", error="CUDA out of memory", ended_at=1010.0, epochs_done=1)
    )
    assert failed.final and failed.color == "red"
    assert failed.sentence.startswith("Failed after 1 of 10 epochs: CUDA out of memory.")
    queued = monitor.status_summary(record(status="queued", started_at=None), queue_position=2)
    assert "(position 2)" in queued.sentence
    done = monitor.status_summary(record(status="completed", ended_at=1600.0, epochs_done=10))
    assert done.sentence.startswith("Completed 10 of 10 epochs in 10 min") and done.label == "Completed"
    for status in ("stopped", "interrupted"):
        assert "Resume it on Runs" in monitor.status_summary(record(status=status, ended_at=1001.0)).sentence


def test_current_run_prefers_the_running_one_and_queue_positions_follow_creation():
    newest = record(id="c", status="queued", created_at=3.0)
    running = record(id="b", status="running", created_at=2.0)
    older = record(id="a", status="queued", created_at=1.0)
    assert monitor.current_run([newest, running, older]).id == "b"
    assert monitor.current_run([newest, older]).id == "c"
    assert monitor.current_run([]) is None
    assert monitor.queue_positions([newest, running, older]) == {"a": 1, "c": 2}


def test_runs_table_rows():
    unet = record(
        config={"arch": "unet", "unet_base_width": 32, "epochs": 20, "optimizer": "sgd", "augment": "none"},
        status="completed",
        ended_at=1600.0,
        epochs_done=20,
        best_metric=0.3,
    )
    rows = monitor.runs_table([record(epochs_done=3), unet])
    assert rows[0]["model"] == "deeplabv3plus / resnet50" and rows[0]["epochs"] == "3 / 10"
    assert rows[0]["status"] == "running"
    assert rows[1]["model"] == "unet (width 32)" and rows[1]["duration"] == "10 min"
    assert rows[1]["best_val_dice"] == 0.3 and rows[1]["optimizer"] == "sgd"


def test_study_table_from_the_registry():
    registry = RunRegistry()
    run = registry.create_run(
        {"arch": "unet", "optimizer": "adam", "augment": "seed", "epochs": 2}, name="adam"
    )
    registry.log_metrics(
        run.id,
        [
            (1, 1, "train", "loss", 1.23456),
            (1, 1, "val", "loss", 1.5),
            (1, 1, "val", "dice", 0.4),
            (1, 1, "val", "miou", 0.25),
            (2, 1, "train_full", "loss", 1.1),
        ],
    )
    registry.set_best(run.id, 0.4, 1)
    [row] = monitor.study_table(summary_table(registry, [run.id]))
    assert row["Run"] == "adam" and row["Optimizer"] == "adam" and row["Augmentation"] == "seed"
    assert (
        row["Train loss"] == 1.2346 and row["Val loss"] == 1.5 and row["Loss on entire training set"] == 1.1
    )
    assert row["Val Dice"] == 0.4 and row["Val mIoU"] == 0.25 and row["Wall time (s)"] is None


def test_comparison_series_leaves_out_runs_without_the_metric():
    histories = {"a": monitor.MetricHistory().add(two_epochs()), "b": monitor.MetricHistory()}
    assert monitor.comparison_series(histories, "val/dice") == {"a": ([1, 2], [0.40, 0.55])}
