"""The training queue: one job at a time, the next starts when the current one ends."""

from __future__ import annotations

import os
import threading

import pytest
from test_train import _wait_for, tiny_config

from seg_core.runs.control import stop
from seg_core.runs.registry import RunRegistry
from seg_core.training import queue as run_queue


def _wait(condition, what: str) -> None:
    _wait_for(condition, timeout=120.0, what=what)


@pytest.mark.slow
def test_second_start_is_queued_and_runs_after_the_first(tiny_dataset):
    registry = RunRegistry()
    first = run_queue.submit(tiny_config(tiny_dataset, epochs=2, name="first"), registry)
    second = run_queue.submit(tiny_config(tiny_dataset, epochs=1, name="second"), registry)
    assert first.started and "Started" in first.message
    assert not second.started and "position 1 behind first" in second.message
    assert registry.get(second.run.id).status == "queued"
    _wait(lambda: registry.get(second.run.id).status == "completed", what="the queued run to finish")
    a, b = registry.get(first.run.id), registry.get(second.run.id)
    assert a.status == "completed" and a.ended_at <= b.started_at  # never both at once


@pytest.mark.slow
def test_simultaneous_starts_launch_exactly_one_job(tiny_dataset):
    registry = RunRegistry()
    results = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(
                run_queue.submit(tiny_config(tiny_dataset, epochs=50, name=f"click{i}"), registry)
            )
        )
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.started for r in results) == 1
    statuses = sorted(registry.get(r.run.id).status for r in results)
    assert statuses == ["queued", "queued", "queued", "running"]
    running = next(r.run.id for r in results if r.started)
    for r in results:  # clean up: empty the queue, then stop the running job
        if r.run.id != running:
            registry.finish(r.run.id, "stopped", "test cleanup")
    assert stop(running, registry, timeout=60)
    _wait(lambda: registry.get(running).status != "running", what="the job to stop")


@pytest.mark.slow
def test_resume_continues_a_stopped_run(tiny_dataset):
    registry = RunRegistry()
    submission = run_queue.submit(tiny_config(tiny_dataset, epochs=500, name="long"), registry)
    run_id = submission.run.id
    _wait(lambda: (registry.get(run_id).epochs_done or 0) >= 1, what="one epoch")
    assert stop(run_id, registry, timeout=60)
    _wait(lambda: registry.get(run_id).status == "stopped", what="stopped")
    resumed = run_queue.resume(run_id, registry)
    assert resumed.started
    _wait(
        lambda: any("resumed from last.pt" in line.message for line in registry.logs(run_id)),
        what="resume log",
    )
    assert stop(run_id, registry, timeout=60)
    with pytest.raises(ValueError, match="no run with id"):
        run_queue.resume("20990101-000000-nothing-0000", registry)


def test_a_dataset_without_any_pair_is_refused_before_a_run_exists(tmp_path):
    from PIL import Image

    images = tmp_path / "no_pairs" / "train_images"
    images.mkdir(parents=True)
    (tmp_path / "no_pairs" / "train_masks").mkdir()
    Image.new("RGB", (8, 8)).save(images / "lonely.jpg")
    registry = RunRegistry()
    with pytest.raises(ValueError, match="no image has a mask.*nothing was started"):
        run_queue.submit(tiny_config(tmp_path / "no_pairs", epochs=1, name="nothing"), registry)
    assert registry.list() == []


def test_removing_a_queued_run_and_dispatching_it_never_both_happen(monkeypatch):
    """`cancel_queued` and `dispatch` race for the same queued run from two threads: under the
    dispatch lock exactly one wins, every round, so a run is never both launched and stopped."""
    registry = RunRegistry()
    launched: list[str] = []

    def fake_launch(run_id, registry, extra_args=(), **_):
        launched.append(run_id)
        registry.mark_running(run_id, os.getpid(), "cpu")  # a live pid: the run looks running

    monkeypatch.setattr(run_queue, "launch", fake_launch)
    for round_ in range(8):
        run_id = registry.create_run({"arch": "unet"}, name=f"round{round_}").id
        start = threading.Barrier(2)
        cancelled: list[list[str]] = []

        def remove(run_id=run_id, start=start, cancelled=cancelled):
            start.wait()
            cancelled.append(run_queue.cancel_queued([run_id], "removed", registry))

        def hand_over(start=start):
            start.wait()
            run_queue.dispatch(registry)

        racers = [threading.Thread(target=remove), threading.Thread(target=hand_over)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        status = registry.get(run_id).status
        if cancelled[0]:
            assert status == "stopped" and run_id not in launched
        else:
            assert status == "running" and launched[-1] == run_id
            registry.finish(run_id, "completed")  # free the slot for the next round
