"""Many processes at once: a trainer logging fast while app sessions read, several Starts at the
same instant, and Stop hitting exactly the run's process group.

(tests/test_runs.py::test_one_writer_process_and_many_readers_never_lock uses reader threads in
the test process and a short burst of writes; here the readers are separate processes making the
Runs page's and the live view's calls, a fresh RunRegistry each time as every rerun does.
tests/test_jobs.py::test_simultaneous_starts_launch_exactly_one_job races threads; here they are
processes.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import make_pairs, registry_integrity
from test_train import _wait_for, tiny_config

from seg_core.core import paths
from seg_core.jobs.process import is_process_alive
from seg_core.models.checkpoint import load_checkpoint
from seg_core.runs.control import stop
from seg_core.runs.registry import RunRegistry

WRITE_SECONDS = 4.0
READERS = 4

# A trainer's reporting, flat out: step losses in small transactions, a log line, and per-epoch
# updates of the run row.
WRITER = textwrap.dedent(
    """
    import glob, json, sys, time
    from seg_core.runs.registry import RunRegistry

    run_id, seconds, overlap, readers = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    registry, rows, slowest, i = RunRegistry(), 0, 0.0, 0
    end = time.monotonic() + seconds

    def every_reader_saw_rows():  # then the rows written after this are new to all of them
        return len(glob.glob(overlap + ".*")) >= readers

    # Write for `seconds`, and on until a write follows the moment every reader had seen rows.
    saw_before_this_write = False
    while not (saw_before_this_write and time.monotonic() >= end) and time.monotonic() < end + 60:
        saw_before_this_write = every_reader_saw_rows()
        tick = time.perf_counter()
        registry.log_metrics(run_id, [(i, i // 50, "train", "loss_step", 1.0 / (i + 1)),
                                      (i, i // 50, "train", "progress", i / 1e6)])
        registry.log(run_id, f"step {i}")
        if i % 50 == 49:
            registry.log_metrics(run_id, [(i, i // 50 + 1, "val", "dice", i / 1e6)])
            registry.set_epochs_done(run_id, i // 50 + 1)
            registry.set_best(run_id, i / 1e6, i // 50 + 1)
            rows += 1
        rows += 2
        i += 1
        slowest = max(slowest, time.perf_counter() - tick)
    print(json.dumps({"rows": rows, "logs": i, "slowest_s": slowest}))
    """
)

# One app session: what the Runs page and the Train page's live view read on every rerun.
READER = textwrap.dedent(
    """
    import json, os, sys, time
    from seg_core.views import monitor
    from seg_core.runs.registry import RunRegistry
    from seg_core.runs.study_table import summary_table

    run_id, other, stop_file, overlap = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    history, calls, counts, errors, slowest = monitor.MetricHistory(), 0, [], [], 0.0
    open(stop_file + "." + str(os.getpid()) + ".ready", "w").close()
    # The stop file ends the loop; the deadline ends it too if the test itself was killed.
    deadline = time.monotonic() + 600
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        tick = time.perf_counter()
        try:
            registry = RunRegistry()  # every rerun builds one (and checks the schema)
            runs = registry.list()
            monitor.runs_table(runs)
            monitor.study_table(summary_table(registry, [run_id, other]))
            history.add(registry.metrics(run_id, after_id=history.last_id))
            registry.reconcile()
            run = registry.get(run_id)
            monitor.status_summary(run)
            registry.logs(run_id, limit=12)
            registry.list(("queued",))
            calls += 1
            counts.append(history.last_id)
            if history.last_id:
                open(overlap + "." + str(os.getpid()), "w").close()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        slowest = max(slowest, time.perf_counter() - tick)
    # The stop file comes after the writer's last commit: one more read sees everything.
    history.add(RunRegistry().metrics(run_id, after_id=history.last_id))
    counts.append(history.last_id)
    print(json.dumps({"calls": calls, "errors": errors, "slowest_s": slowest,
                      "distinct": len(set(counts)), "last_id": history.last_id}))
    """
)


@pytest.mark.slow
def test_fast_writer_and_app_reader_processes_never_see_a_lock(tmp_path: Path) -> None:
    registry = RunRegistry()
    run = registry.create_run({"arch": "unet", "epochs": 100}, name="busy")
    other = registry.create_run({"arch": "unet", "epochs": 3}, name="done")
    registry.finish(other.id, "completed")
    registry.mark_running(run.id, os.getpid(), "cpu")  # a live process: reconcile keeps it
    stop_file, overlap = tmp_path / "stop", tmp_path / "saw-rows"
    spawn = dict(cwd=paths.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, run.id, other.id, str(stop_file), str(overlap)], **spawn
        )
        for _ in range(READERS)
    ]
    try:
        _wait_for(
            lambda: len(list(tmp_path.glob("stop.*.ready"))) == READERS, timeout=60, what="readers ready"
        )
        writer = subprocess.run(
            [sys.executable, "-c", WRITER, run.id, str(WRITE_SECONDS), str(overlap), str(READERS)],
            timeout=120,
            **spawn,
        )
    finally:
        stop_file.touch()
        outputs = [reader.communicate(timeout=60) for reader in readers]
    assert writer.returncode == 0, writer.stderr
    written = json.loads(writer.stdout)
    reports = []
    for reader, (out, err) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0, err
        reports.append(json.loads(out))
    assert [r["errors"] for r in reports] == [[]] * READERS  # no "database is locked", nothing
    # Each saw rows while the writer was still writing (it waits for that), then the final rows.
    assert all(r["distinct"] >= 2 for r in reports), "the readers did not overlap the writer"
    final_id = max(m.id for m in registry.metrics(run.id))
    assert all(r["last_id"] == final_id for r in reports)  # each read everything, incrementally
    assert len(registry.metrics(run.id)) == written["rows"]
    assert len(registry.logs(run.id, limit=10**6)) == written["logs"]
    assert registry_integrity(registry.db_path) == "ok"
    print(
        f"\nregistry: 1 writer, {written['rows']} metric rows + {written['logs']} log lines in "
        f"{WRITE_SECONDS:.0f} s (slowest write {written['slowest_s'] * 1000:.0f} ms); {READERS} reader "
        f"processes, {sum(r['calls'] for r in reports)} page refreshes, 0 errors, slowest refresh "
        f"{max(r['slowest_s'] for r in reports) * 1000:.0f} ms"
    )


# -- several Starts at the same instant; Stop hits the run's group and nothing else --------------
STARTERS = 4
STARTER = textwrap.dedent(
    """
    import json, os, sys, time
    from seg_core.training import queue as run_queue
    from seg_core.training.config import TrainConfig

    cfg, go = TrainConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2]
    open(go + "." + str(os.getpid()) + ".ready", "w").close()
    while not os.path.exists(go):
        time.sleep(0.001)
    submission = run_queue.submit(cfg)  # what each session's Start does
    print(json.dumps({"id": submission.run.id, "started": submission.started}))
    """
)


def _group_members(pgid: int) -> list[int]:
    """Live processes in process group `pgid` (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_simultaneous_starts_from_processes_then_stop_ends_only_that_group(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = tmp_path / "data"
    make_pairs(data, 16, size=(128, 96))
    # A DataLoader worker makes the trainer a group of two processes.
    cfg = tiny_config(data, epochs=200, unet_base_width=8, crop=96, resolution=128, num_workers=1)
    go = tmp_path / "go"
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, json.dumps(cfg.to_dict()), str(go)],
            cwd=paths.REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(STARTERS)
    ]
    _wait_for(lambda: len(list(tmp_path.glob("go.*.ready"))) == STARTERS, timeout=90, what="starters")
    go.touch()
    results = []
    for starter in starters:
        out, err = starter.communicate(timeout=120)
        assert starter.returncode == 0, err
        results.append(json.loads(out))
    registry = RunRegistry()
    statuses = sorted(registry.get(r["id"]).status for r in results)
    assert statuses == ["queued"] * (STARTERS - 1) + ["running"]
    [running] = [r["id"] for r in results if r["started"]]  # whichever dispatch launched it
    assert registry.get(running).status == "running"
    pid = registry.get(running).pid
    lookalike = subprocess.Popen(  # same words on its command line, another process group
        [sys.executable, "-c", "import time; time.sleep(120)", "-m", "seg_core", "train", "--run-id", running]
    )
    try:
        for r in results:  # empty the queue first, so the stopped trainer hands over to no one
            if r["id"] != running:
                registry.finish(r["id"], "stopped", "removed from the queue before it started")
        _wait_for(
            lambda: len(_group_members(pid)) >= 2,
            timeout=120,
            what="the trainer mid-epoch with its DataLoader worker",
        )
        group = _group_members(pid)
        assert stop(running, registry, timeout=60)
        _wait_for(lambda: not _group_members(pid), timeout=30, what="the whole group to end")
        stopped = registry.get(running)
        assert stopped.status == "stopped", (stopped.status, stopped.error)  # not failed by its worker
        assert "train_state" in load_checkpoint(stopped.checkpoint_dir / "last.pt")
        assert lookalike.poll() is None and is_process_alive(lookalike.pid)
        assert [registry.get(r["id"]).status for r in results].count("running") == 0
        print(f"\nstop: group {group} ended, status stopped; look-alike {lookalike.pid} still alive")
    finally:
        lookalike.kill()
        lookalike.wait()
        if is_process_alive(pid):
            os.killpg(pid, signal.SIGKILL)


# -- several processes opening a brand-new registry at the same instant --------------------------
FRESH_OPENERS, FRESH_ROUNDS = 4, 150
FRESH_RACE = textwrap.dedent(
    """
    import json, multiprocessing as mp, sys
    from pathlib import Path

    def open_fresh(barrier, root, rounds, errors):
        from seg_core.runs.registry import RunRegistry

        for k in range(rounds):
            barrier.wait()  # all at once, on a database none of them has seen
            try:
                RunRegistry(Path(root) / f"{k}.db").list()
            except Exception as exc:
                errors.put(f"round {k}: {type(exc).__name__}: {exc}")

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        root, openers, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        barrier, errors = ctx.Barrier(openers), ctx.Queue()
        procs = [ctx.Process(target=open_fresh, args=(barrier, root, rounds, errors)) for _ in range(openers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        found = []
        while not errors.empty():
            found.append(errors.get())
        print(json.dumps({"exitcodes": [p.exitcode for p in procs], "errors": found}))
    """
)


@pytest.mark.slow
def test_processes_opening_a_new_registry_at_once_never_see_a_lock(tmp_path: Path) -> None:
    # A fresh install: the first page loads, the first Start and the trainer all create the
    # database at once; switching it to WAL is the step SQLite does not wait for.
    script = tmp_path / "fresh_race.py"
    script.write_text(FRESH_RACE)
    race = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(FRESH_OPENERS), str(FRESH_ROUNDS)],
        cwd=paths.REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(paths.REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert race.returncode == 0, race.stderr
    result = json.loads(race.stdout)
    assert result["exitcodes"] == [0] * FRESH_OPENERS
    assert result["errors"] == []
    for k in range(FRESH_ROUNDS):
        assert registry_integrity(tmp_path / f"{k}.db") == "ok"
