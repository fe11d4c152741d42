"""Run registry: round trips, safety of ids and deletes, pid checks and concurrent access
(launching and stopping processes: test_run_control.py)."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from seg_core.core import paths
from seg_core.runs.registry import (
    PENDING_DEVICE,
    RUN_ID_PATTERN,
    RunRegistry,
    make_run_id,
    validate_run_id,
)
from seg_core.runs.study_table import summary_table

HAS_PROC = Path("/proc/self/stat").exists()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STORMSEG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def registry(home: Path) -> RunRegistry:
    return RunRegistry()


def sql(registry: RunRegistry, statement: str, params: tuple = ()) -> list[tuple]:
    """Raw access, to simulate stale or edited records."""
    with sqlite3.connect(registry.db_path) as conn:
        rows = conn.execute(statement, params).fetchall()
    conn.close()
    return rows


def test_create_get_list_finish_round_trip(home: Path, registry: RunRegistry) -> None:
    assert registry.db_path == home / "runs" / "registry.db"
    first = registry.create_run({"arch": "unet", "lr": 0.01}, name="My U-Net!")
    assert RUN_ID_PATTERN.fullmatch(first.id) and "-my-u-net-" in first.id
    assert (first.name, first.status, first.config) == ("My U-Net!", "queued", {"arch": "unet", "lr": 0.01})
    assert first.checkpoint_dir == home / "checkpoints" / first.id and first.checkpoint_dir.is_dir()
    assert first.duration_s is None and first.epochs_done == 0

    registry.mark_running(first.id, 4242, "cuda:0")
    registry.set_epochs_done(first.id, 3)
    registry.set_best(first.id, 0.71, 2)
    registry.finish(first.id, "completed")
    done = registry.get(first.id)
    assert (done.status, done.pid, done.device, done.epochs_done) == ("completed", 4242, "cuda:0", 3)
    assert (done.best_metric, done.best_epoch, done.error) == (0.71, 2, None)
    assert done.ended_at >= done.started_at >= done.created_at and done.duration_s >= 0

    second = registry.create_run({"arch": "deeplabv3plus"})
    assert second.name == "deeplabv3plus"
    assert [r.id for r in registry.list()] == [second.id, first.id]  # newest first
    assert [r.id for r in registry.list(["completed"])] == [first.id]
    assert [r.id for r in registry.active()] == [second.id]
    assert RunRegistry().get(first.id) == done  # a second registry sees the same database

    with pytest.raises(ValueError, match="no run with id"):
        registry.get("20250101-000000-missing-0000")
    with pytest.raises(ValueError, match="final status must be one of"):
        registry.finish(first.id, "running")
    with pytest.raises(ValueError, match="unknown status 'done'"):
        registry.list(["done"])
    with pytest.raises(ValueError, match="no run with id"):
        registry.set_best("20250101-000000-missing-0000", 0.5, 1)


@pytest.mark.parametrize(
    "bad", ["../x", "a/b", "", "ABC", "-rf", "a.b", "..", "x" * 65, "a\n", "run id", None]
)
def test_invalid_run_ids_are_rejected(registry: RunRegistry, bad) -> None:
    with pytest.raises(ValueError, match="invalid run id"):
        validate_run_id(bad)
    with pytest.raises(ValueError, match="invalid run id"):
        registry.get(bad)
    with pytest.raises(ValueError, match="invalid run id"):
        registry.delete(bad)


def test_generated_ids_are_always_valid() -> None:
    for name in ["../../etc/passwd", "", "---", "Ünïcode Ñame", "a" * 100]:
        run_id = make_run_id(name)
        assert validate_run_id(run_id) == run_id and len(run_id) <= 45


def test_metrics_and_logs_read_incrementally(registry: RunRegistry) -> None:
    run = registry.create_run({"arch": "unet"})
    registry.log_metrics(run.id, [(10, 0, "train", "loss", 2.0), (10, 0, "val", "dice", 0.1)])
    first = registry.metrics(run.id)
    assert [(m.step, m.epoch, m.split, m.name, m.value) for m in first] == [
        (10, 0, "train", "loss", 2.0),
        (10, 0, "val", "dice", 0.1),
    ]
    registry.log_metrics(run.id, [(20, 1, "train", "loss", 1.5), (20, 1, "train", "dice", math.nan)])
    new = registry.metrics(run.id, after_id=first[-1].id)
    assert [m.step for m in new] == [20, 20] and new[0].id > first[-1].id
    assert math.isnan(new[1].value)
    assert [m.value for m in registry.metrics(run.id, names=["loss"])] == [2.0, 1.5]
    assert registry.metrics(run.id, after_id=new[-1].id) == []
    assert registry.metrics(run.id, names=[]) == []
    with pytest.raises(ValueError, match="no run with id"):
        registry.log_metrics("20250101-000000-missing-0000", [(0, 0, "train", "loss", 1.0)])

    for i in range(5):
        registry.log(run.id, f"line {i}", level="warning" if i == 4 else "info")
    tail = registry.logs(run.id, limit=2)
    assert [(line.message, line.level) for line in tail] == [("line 3", "info"), ("line 4", "warning")]
    assert [line.message for line in registry.logs(run.id, after_id=tail[0].id)] == ["line 4"]
    with pytest.raises(ValueError, match="log level must be one of"):
        registry.log(run.id, "x", level="loud")


def test_summary_table_reads_the_study_numbers(registry: RunRegistry) -> None:
    config = {"arch": "unet", "optimizer": "adamw", "augment": "seed"}
    run = registry.create_run(config, name="baseline")
    rows = []
    for epoch in (1, 2, 3):
        rows += [
            (epoch * 10 - 5, epoch, "train", "loss", 1.0 / epoch),  # per-epoch means
            (epoch * 10, epoch, "train", "loss", 0.9 / epoch),
            (epoch * 10, epoch, "val", "loss", 1.2 / epoch),
            (epoch * 10, epoch, "val", "miou", 0.1 * epoch),
        ]
    rows.append((30, 3, "train_full", "loss", 0.25))
    registry.log_metrics(run.id, rows)
    registry.mark_running(run.id, 4242, "cpu")
    registry.set_best(run.id, 0.66, 2)
    registry.finish(run.id, "completed")
    sql(registry, "UPDATE runs SET started_at = 100.0, ended_at = 160.5 WHERE id = ?", (run.id,))
    empty = registry.create_run({}, name="empty")

    first, second = summary_table(registry, [run.id, empty.id])
    assert first == {
        "id": run.id,
        "name": "baseline",
        "arch": "unet",
        "optimizer": "adamw",
        "augmentation": "seed",
        "final_train_loss": pytest.approx(0.3),
        "val_loss": pytest.approx(0.4),
        "train_full_loss": 0.25,
        "best_val_dice": 0.66,
        "val_miou_at_best": pytest.approx(0.2),
        "wall_time_s": 60.5,
        "status": "completed",
    }
    assert second["name"] == "empty" and second["status"] == "queued"
    assert all(second[k] is None for k in ("arch", "final_train_loss", "val_miou_at_best", "wall_time_s"))


def test_launcher_report_never_overwrites_the_child(registry: RunRegistry) -> None:
    # The launcher records the pid after Popen returns; the child may have reported already.
    run = registry.create_run({})
    registry.mark_running(run.id, 4242, "cuda:0")
    registry.mark_running(run.id, 4242, PENDING_DEVICE)
    assert registry.get(run.id).device == "cuda:0"
    # ...or even finished already: a late launcher must not revive it.
    registry.finish(run.id, "failed", error="boom")
    registry.mark_running(run.id, 4242, PENDING_DEVICE)
    assert (registry.get(run.id).status, registry.get(run.id).error) == ("failed", "boom")
    # Launcher first: the pid is recorded at once so Stop works, the child fills in the device.
    queued = registry.create_run({})
    registry.mark_running(queued.id, 4243, PENDING_DEVICE)
    assert (registry.get(queued.id).status, registry.get(queued.id).device) == ("running", PENDING_DEVICE)
    registry.mark_running(queued.id, 4243, "cpu")
    assert registry.get(queued.id).device == "cpu"


def test_reconcile_marks_a_dead_pid_interrupted(registry: RunRegistry) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    run = registry.create_run({})
    registry.mark_running(run.id, finished.pid, "cpu")
    assert registry.reconcile() == [run.id]
    after = registry.get(run.id)
    assert after.status == "interrupted" and after.ended_at is not None and "final status" in after.error
    assert registry.reconcile() == []


def test_reconcile_keeps_the_live_training_process(registry: RunRegistry, sleeper) -> None:
    run = registry.create_run({})
    child = sleeper(run.id)  # like `python -m seg_core train --run-id ID`
    registry.mark_running(run.id, child.pid, "cpu")
    assert registry.reconcile() == [] and registry.get(run.id).status == "running"
    assert registry.is_live(run.id)
    child.kill()
    child.wait()
    assert [r.id for r in registry.list(["interrupted"])] == [run.id]  # list() reconciles


def test_reconcile_keeps_a_cli_started_run(registry: RunRegistry) -> None:
    # `python -m seg_core train --data D` registers itself without --run-id in its arguments;
    # the recorded kernel start time still identifies it.
    run = registry.create_run({})
    registry.mark_running(run.id, os.getpid(), "cpu")
    assert registry.reconcile() == [] and registry.get(run.id).status == "running"


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to tell a reused pid apart")
def test_reconcile_detects_a_reused_pid(registry: RunRegistry, sleeper) -> None:
    # A live process that is not the run's: no run id in its arguments and no start time...
    stranger = registry.create_run({})
    sql(registry, "UPDATE runs SET status = 'running', pid = ? WHERE id = ?", (os.getpid(), stranger.id))
    # ...or the run's arguments but another start time (the pid was recycled).
    recycled = registry.create_run({})
    child = sleeper(recycled.id)
    registry.mark_running(recycled.id, child.pid, "cpu")
    sql(registry, "UPDATE runs SET proc_start = proc_start - 1 WHERE id = ?", (recycled.id,))
    assert sorted(registry.reconcile()) == sorted([stranger.id, recycled.id])
    assert child.poll() is None  # marking is all it does


def test_delete_removes_rows_and_folder(home: Path, registry: RunRegistry) -> None:
    run = registry.create_run({})
    (run.checkpoint_dir / "best.pt").write_bytes(b"weights")
    log_file = paths.runs_dir() / f"{run.id}.log"
    log_file.write_text("training...\n")
    registry.log_metrics(run.id, [(1, 1, "train", "loss", 1.0)])
    registry.log(run.id, "hello")
    registry.finish(run.id, "completed")

    registry.delete(run.id)
    assert not run.checkpoint_dir.exists() and not log_file.exists()
    with pytest.raises(ValueError, match="no run with id"):
        registry.get(run.id)
    for table in ("runs", "metrics", "logs"):
        assert sql(registry, f"SELECT COUNT(*) FROM {table}") == [(0,)]
    assert (home / "checkpoints").is_dir()


def test_delete_refuses_a_running_run(registry: RunRegistry, sleeper) -> None:
    run = registry.create_run({})
    child = sleeper(run.id)
    registry.mark_running(run.id, child.pid, "cpu")
    with pytest.raises(ValueError, match="is running"):
        registry.delete(run.id)
    assert run.checkpoint_dir.is_dir() and registry.get(run.id).status == "running"


def test_delete_never_removes_a_folder_outside_the_run(tmp_path: Path, registry: RunRegistry) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    sibling = registry.create_run({})
    # Edited or stale records: a folder elsewhere, another run's folder, the checkpoints root.
    for target in (outside, sibling.checkpoint_dir, paths.checkpoints_dir()):
        run = registry.create_run({})
        sql(registry, "UPDATE runs SET checkpoint_dir = ? WHERE id = ?", (str(target), run.id))
        registry.delete(run.id)
        assert sql(registry, "SELECT COUNT(*) FROM runs WHERE id = ?", (run.id,)) == [(0,)]
        assert run.checkpoint_dir.is_dir()  # its own folder was not the recorded one: kept
    assert (outside / "keep.txt").exists() and sibling.checkpoint_dir.is_dir()
    assert paths.checkpoints_dir().is_dir()


WRITER = """
import os, sys, time
from seg_core.runs.registry import RunRegistry
registry, run_id, overlap = RunRegistry(), sys.argv[1], sys.argv[2]
for i in range(1000):  # 2000 rows in 1000 small transactions
    registry.log_metrics(run_id, [(i, i // 100, "train", "loss", 1.0 / (i + 1)), (i, i // 100, "val", "dice", i / 1000)])
    deadline = time.monotonic() + 60
    while i == 499 and not os.path.exists(overlap) and time.monotonic() < deadline:
        time.sleep(0.01)  # halfway: wait until a reader has seen a partial count (no scheduler luck)
"""


def test_one_writer_process_and_many_readers_never_lock(registry: RunRegistry, tmp_path: Path) -> None:
    run = registry.create_run({})
    overlap = tmp_path / "a reader saw a partial count"
    errors: list[BaseException] = []
    seen: dict[int, list[int]] = {}
    writer_done = threading.Event()

    def reader(index: int) -> None:
        counts, last_id = [0], 0
        try:
            while counts[-1] < 2000 and not (
                writer_done.is_set() and counts[-1] == len(registry.metrics(run.id))
            ):
                rows = registry.metrics(run.id, after_id=last_id)
                ids = [m.id for m in rows]
                assert ids == sorted(ids) and (not ids or ids[0] > last_id)
                last_id = ids[-1] if ids else last_id
                counts.append(counts[-1] + len(rows))
                if 0 < counts[-1] < 2000:
                    overlap.touch()
        except BaseException as exc:
            errors.append(exc)
        seen[index] = counts

    def app_writer() -> None:  # an app session writing (log lines, reconcile) at the same time
        try:
            while not writer_done.is_set():
                registry.log(run.id, "app poll")
                registry.list()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=app_writer))
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    writer = subprocess.run(
        [sys.executable, "-c", WRITER, run.id, str(overlap)],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    writer_done.set()
    for thread in threads:
        thread.join(timeout=60)
    assert writer.returncode == 0, writer.stderr
    assert errors == []
    assert len(registry.metrics(run.id)) == 2000
    for counts in seen.values():
        assert counts == sorted(counts) and counts[-1] == 2000
    assert any(0 < c < 2000 for counts in seen.values() for c in counts), (
        "readers never overlapped the writer"
    )
    print(f"writer: 2000 rows / 1000 transactions in {elapsed:.2f}s with 3 readers + 1 app writer")


def _set_attempt_times(registry: RunRegistry, run_id: str, started: float, ended: float) -> None:
    with sqlite3.connect(registry.db_path) as conn:
        conn.execute("UPDATE runs SET started_at = ?, ended_at = ? WHERE id = ?", (started, ended, run_id))


def test_a_resumed_runs_wall_time_counts_every_attempt_and_not_the_pause(tmp_path):
    registry = RunRegistry(tmp_path / "registry.db")
    run = registry.create_run({"arch": "fpn"}, name="resumed")
    registry.mark_running(run.id, os.getpid(), "cpu")
    registry.finish(run.id, "stopped")
    _set_attempt_times(registry, run.id, 1000.0, 1060.0)  # first attempt: 60 s, then stopped
    registry.reset_for_launch(run.id)  # `runs resume` / the app: relaunched as a queued job
    registry.mark_running(run.id, os.getpid(), "cpu")
    registry.finish(run.id, "stopped")
    _set_attempt_times(registry, run.id, 5000.0, 5030.0)  # second: 30 s, an hour after the first
    registry.mark_running(run.id, os.getpid(), "cpu")  # `train --resume ID`: resumed in place
    registry.finish(run.id, "completed")
    _set_attempt_times(registry, run.id, 9000.0, 9015.0)  # third: 15 s
    assert registry.get(run.id).duration_s == pytest.approx(105.0)
    assert summary_table(registry, [run.id])[0]["wall_time_s"] == pytest.approx(105.0)  # Table 1


def test_a_registry_from_before_banked_attempts_gains_the_column(tmp_path):
    registry = RunRegistry(tmp_path / "registry.db")
    run = registry.create_run({"arch": "fpn"}, name="old")
    with sqlite3.connect(registry.db_path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN earlier_s")
    reopened = RunRegistry(tmp_path / "registry.db")
    assert reopened.get(run.id).earlier_s == 0.0 and reopened.get(run.id).duration_s is None
