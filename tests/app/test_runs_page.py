"""The Runs page: empty state, the table of runs, comparing two runs, deleting with confirmation."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from seg_core.runs.registry import RunRegistry
from seg_core.training import queue as run_queue

APP = Path(__file__).resolve().parents[2] / "app.py"


def runs_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/runs.py").run()


def add_run(
    registry: RunRegistry, name: str, optimizer: str, dice: list[float], status: str = "completed"
) -> str:
    """A finished run with per-epoch metrics, as the trainer would have logged them."""
    run = registry.create_run(
        {
            "arch": "unet",
            "unet_base_width": 8,
            "encoder": "none",
            "optimizer": optimizer,
            "augment": "seed",
            "epochs": len(dice),
        },
        name=name,
    )
    rows = []
    for epoch, value in enumerate(dice, start=1):
        rows += [
            (epoch * 10, epoch, "train", "loss", 2.0 / epoch),
            (epoch * 10, epoch, "val", "loss", 2.5 / epoch),
            (epoch * 10, epoch, "val", "dice", value),
            (epoch * 10, epoch, "val", "miou", value / 2),
        ]
    rows.append((len(dice) * 10, len(dice), "train_full", "loss", 0.75))
    registry.log_metrics(run.id, rows)
    best = max(range(len(dice)), key=dice.__getitem__)
    registry.set_best(run.id, dice[best], best + 1)
    registry.set_epochs_done(run.id, len(dice))
    if status != "queued":
        registry.finish(run.id, status)
    return run.id


@pytest.fixture
def two_runs() -> tuple[str, str]:
    registry = RunRegistry()
    return add_run(registry, "sgd run", "sgd", [0.2, 0.3]), add_run(
        registry, "adam run", "adam", [0.3, 0.5, 0.45]
    )


def select(at: AppTest, rows: list[int]) -> AppTest:
    at.session_state["runs_table"] = {"selection": {"rows": rows}}
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def test_without_runs_it_points_to_train():
    at = runs_page()
    assert not at.exception
    assert at.title[0].value == "Runs"
    assert "No training runs yet" in at.markdown[0].value
    assert any("train" in str(link.proto.page) for link in at.get("page_link"))


def test_the_table_lists_every_run_with_its_numbers(two_runs):
    at = runs_page()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["name"]) == ["adam run", "sgd run"]  # newest first
    assert list(table["best_val_dice"]) == pytest.approx([0.5, 0.3])
    assert list(table["epochs"]) == ["3 / 3", "2 / 2"]
    assert list(table["optimizer"]) == ["adam", "sgd"]
    assert list(table["id"]) == [two_runs[1], two_runs[0]]
    assert "Tick one run" in at.info[0].value


def test_two_selected_runs_are_compared(two_runs):
    at = select(runs_page(), [0, 1])
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3  # val Dice, val loss, train loss: one trace per run
    comparison = at.dataframe[1].value
    assert list(comparison["Run"]) == ["adam run", "sgd run"]
    assert list(comparison["Val Dice"]) == pytest.approx([0.5, 0.3])
    assert list(comparison["Val mIoU"]) == pytest.approx([0.25, 0.15])  # at each run's best epoch
    assert list(comparison["Train loss"]) == pytest.approx([2 / 3, 1.0], abs=1e-4)  # last epoch
    assert list(comparison["Loss on entire training set"]) == pytest.approx([0.75, 0.75])
    [download] = at.get("download_button")
    assert download.proto.label == "Download table (CSV)"


def test_delete_asks_first_then_removes_the_run(two_runs):
    at = select(runs_page(), [1])  # "sgd run"
    click(at, "Delete…")
    assert "cannot be undone" in "\n".join(m.value for m in at.markdown)
    click(at, "Keep it")
    assert len(RunRegistry().list()) == 2
    click(at, "Delete…")
    click(at, "Delete for good")
    assert not at.exception
    assert [r.id for r in RunRegistry().list()] == [two_runs[1]]
    assert f"Deleted run sgd run ({two_runs[0]})" in at.success[0].value
    assert list(at.dataframe[0].value["name"]) == ["adam run"]


def test_a_running_run_is_not_deleted():
    registry = RunRegistry()
    run_id = add_run(registry, "busy", "adam", [0.2], status="queued")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        registry.mark_running(run_id, sleeper.pid, "cpu")
        at = select(runs_page(), [0])
        click(at, "Delete…")
        click(at, "Delete for good")
        assert not at.exception
        assert "stop it before deleting" in at.error[0].value
        assert registry.get(run_id).status == "running"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_resume_requeues_a_stopped_run_and_stop_signals_a_running_one(monkeypatch):
    registry = RunRegistry()
    stopped = add_run(registry, "halted", "adam", [0.2], status="stopped")
    (registry.get(stopped).checkpoint_dir / "last.pt").write_bytes(b"stand-in")  # never loaded here
    launched = []

    def fake_launch(run_id, registry, extra_args=(), **_):  # like launch(): the run shows as running
        launched.append(extra_args)
        registry.mark_running(run_id, os.getpid(), "cpu")

    monkeypatch.setattr(run_queue, "launch", fake_launch)
    at = select(runs_page(), [0])
    click(at, "Resume")
    assert not at.exception
    assert f"Resumed run {stopped}." in at.success[0].value
    assert launched == [("--resume", stopped)]  # continues from last.pt

    busy = add_run(registry, "busy", "adam", [0.2], status="queued")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        registry.finish(stopped, "stopped")  # only one job may look active
        registry.mark_running(busy, sleeper.pid, "cpu")
        at = select(runs_page(), [0])  # newest first: "busy"
        click(at, "Stop")
        assert "Stop requested for busy" in at.success[0].value
        assert sleeper.wait(timeout=10) == -signal.SIGTERM
    finally:
        sleeper.kill()
        sleeper.wait()


def test_remove_from_queue_goes_through_the_dispatch_lock_and_spares_a_run_that_started(monkeypatch):
    registry = RunRegistry()
    current = add_run(registry, "current", "adam", [0.2], status="queued")
    registry.mark_running(current, os.getpid(), "cpu")  # a live job, so the next ones wait
    waiting = add_run(registry, "waiting", "adam", [0.2], status="queued")
    at = select(runs_page(), [0])  # newest first: "waiting", queued when the page is drawn

    real_cancel = run_queue.cancel_queued

    def dispatch_wins_the_lock_first(run_ids, reason, registry, check=None):
        # The current job ends and the queue hands over to "waiting" just before the page's
        # removal gets the lock: the removal must then see it running and leave it alone.
        registry.finish(current, "completed")
        registry.mark_running(waiting, os.getpid(), "cpu")
        return real_cancel(run_ids, reason, registry, check=check)

    monkeypatch.setattr(run_queue, "cancel_queued", dispatch_wins_the_lock_first)
    click(at, "Remove from queue")
    assert not at.exception
    assert "already left the queue" in at.warning[0].value
    assert registry.get(waiting).status == "running"  # never marked stopped under a live process

    monkeypatch.setattr(run_queue, "cancel_queued", real_cancel)
    queued = add_run(registry, "queued", "adam", [0.2], status="queued")
    at = click(select(runs_page(), [0]), "Remove from queue")
    assert "Removed queued from the queue." in at.success[0].value
    removed = registry.get(queued)
    assert (removed.status, removed.error) == ("stopped", "removed from the queue before it started")


def test_a_finetuned_run_shows_its_parent_and_the_parent_its_children(two_runs):
    registry = RunRegistry()
    parent_id = two_runs[1]  # "adam run"
    child = registry.create_run(
        {
            "arch": "unet",
            "encoder": "none",
            "optimizer": "adamw",
            "epochs": 30,
            "parent_run_id": parent_id,
            "init_from": f"checkpoints/{parent_id}/best.pt",
        },
        name="finetune-storm",
    )
    at = runs_page()
    assert not at.exception
    table = at.dataframe[0].value
    rows = {name: i for i, name in enumerate(table["name"])}
    assert table["parent"][rows["finetune-storm"]] == parent_id
    assert table["children"][rows["adam run"]] == 1
    assert pd.isna(table["parent"][rows["sgd run"]]) and pd.isna(table["children"][rows["sgd run"]])

    lineage = [
        m.value for m in select(at, [rows["finetune-storm"]]).markdown if m.value.startswith("**Lineage")
    ]
    assert lineage == [f"**Lineage:** Fine-tuned from adam run ({parent_id})."]
    lineage = [m.value for m in select(at, [rows["adam run"]]).markdown if m.value.startswith("**Lineage")]
    assert lineage == [f"**Lineage:** fine-tuned into finetune-storm ({child.id})."]


def test_a_finished_run_without_validation_is_not_waiting_for_scores():
    registry = RunRegistry()
    run = registry.create_run({"arch": "unet", "epochs": 2, "val_ratio": 0.0}, name="fine-tune")
    registry.log_metrics(run.id, [(1, 1, "train", "loss", 1.2), (2, 2, "train", "loss", 0.9)])
    registry.finish(run.id, "completed")
    at = select(runs_page(), [0])
    assert not at.exception
    captions = "\n".join(c.value for c in at.caption)
    assert "Validation Dice per epoch: none, this run has no validation split." in captions
    assert "nothing logged yet" not in captions
