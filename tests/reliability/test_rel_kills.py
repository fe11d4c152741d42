"""SIGKILL at any instant loses nothing that was committed.

- Checkpoint writers killed dozens of times, at random instants of their saves and at pinned
  points (a complete temp not yet renamed, a temp half written): the final name always holds one
  complete version, never a torn file, and the temps they leave are cleaned.
- A training job started the way the app starts it, killed mid-epoch: the registry is intact,
  every committed epoch's metrics are there, the run shows as interrupted, last.pt loads, and
  `runs resume` carries it on to the end with the epochs numbered onwards.

(tests/test_checkpoint.py covers a failed write in-process; tests/test_train.py kills a CLI run
and resumes it in-process.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from helpers import make_pairs, registry_integrity, wait_for
from test_train import _wait_for, tiny_config

from seg_core.core import paths
from seg_core.jobs.process import is_process_alive
from seg_core.models.checkpoint import CheckpointError, clean_stale_temps, load_checkpoint, save_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.training import queue as run_queue

KILLS = 40
# Two versions of different sizes (4 MB and 3 MB), so a torn file can never pass for either.
WRITER = textwrap.dedent(
    """
    import io, os, random, sys, time
    from pathlib import Path
    import torch
    from seg_core.models.checkpoint import save_checkpoint

    torch.set_num_threads(1)  # no thread pool before fork()
    META = dict(arch="unet", encoder="none", num_classes=25, class_names=["c"] * 25, resolution=64,
                mean=[0.5] * 3, std=[0.5] * 3)
    VERSIONS = [
        {"state_dict": {"w": torch.full((1_000_000,), 1.0)}, "meta": {**META, "version": "A"}},
        {"state_dict": {"w": torch.arange(750_000, dtype=torch.float32)}, "meta": {**META, "version": "B"}},
    ]
    target = Path(sys.argv[1])
    real_save, real_replace = torch.save, os.replace

    def pause(saves_done):
        # Tell the test where this writer stands, then wait for its SIGKILL.
        (target.parent / f"paused.{os.getpid()}").write_text(str(saves_done))
        while True:
            time.sleep(1)

    print("ready", flush=True)
    # One forked writer per line on stdin ("ROUND PHASE"; torch is imported once): it saves the
    # two versions in turn until the test SIGKILLs it. PHASE "random": forever, killed at a
    # random instant; "temp": after one complete save, it stops with the next version's temp
    # written and fsynced but not yet renamed; "torn": it stops halfway through writing the temp.
    for line in sys.stdin:
        round_, phase = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                rng, i, done = random.Random(os.getpid()), int(round_), 0
                if phase == "temp":
                    # os.replace of the one atomic-write helper the checkpoint goes through
                    os.replace = lambda src, dst: pause(done) if done else real_replace(src, dst)
                if phase == "torn":
                    def half_save(obj, handle):
                        if not done:
                            return real_save(obj, handle)
                        buffer = io.BytesIO()
                        real_save(obj, buffer)
                        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                        handle.flush()
                        pause(done)
                    torch.save = half_save
                while True:
                    save_checkpoint(VERSIONS[i % 2], target)
                    i, done = i + 1, done + 1
                    time.sleep(rng.uniform(0, 0.004))
            finally:
                os._exit(1)  # never reached unless a save raised
        print(pid, flush=True)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
    """
)
PHASES = ("random", "temp", "torn")  # round k kills at PHASES[k % 3]
META = dict(
    arch="unet",
    encoder="none",
    num_classes=25,
    class_names=["c"] * 25,
    resolution=64,
    mean=[0.5] * 3,
    std=[0.5] * 3,
)
EXPECTED = {"A": torch.full((1_000_000,), 1.0), "B": torch.arange(750_000, dtype=torch.float32)}


def _check_complete(path: Path) -> str:
    """The file at `path` loads with weights_only and is exactly one of the two versions."""
    payload = load_checkpoint(path)  # weights_only=True inside
    version = payload["meta"]["version"]
    assert torch.equal(payload["state_dict"]["w"], EXPECTED[version]), f"{path}: mixed contents"
    return version


def _torn(path: Path) -> bool:
    try:
        load_checkpoint(path)
    except CheckpointError:
        return True
    return False


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the writers are forked from one process")
def test_sigkill_during_checkpoint_saves_never_leaves_a_partial_file(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    final = folder / "last.pt"
    save_checkpoint({"state_dict": {"w": EXPECTED["A"]}, "meta": {**META, "version": "A"}}, final)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(final)],
        cwd=paths.REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    seed = int(time.time())  # random kill instants vary per run; the pinned phases do not
    rng = random.Random(seed)
    seen, mid_write, torn_temps, cleaned = set(), 0, 0, 0
    try:
        assert writer.stdout.readline().strip() == "ready"
        for kill in range(KILLS):
            phase = PHASES[kill % len(PHASES)]
            writer.stdin.write(f"{kill} {phase}\n")
            writer.stdin.flush()
            pid = int(writer.stdout.readline())
            if phase == "random":
                time.sleep(rng.uniform(0.002, 0.06))  # anywhere in the first few saves
            else:
                paused = folder / f"paused.{pid}"
                wait_for(paused.exists, timeout=60, what=f"writer {pid} to reach its {phase} point")
                paused.unlink()
            os.kill(pid, signal.SIGKILL)
            assert int(writer.stdout.readline()) == -signal.SIGKILL, "the writer died of something else"

            temp = folder / f".last.pt.{pid}.partial"
            if phase != "random":
                assert temp.exists() and _torn(temp) == (phase == "torn")
                # One save completed before the pause: the final name holds this round's version.
                assert _check_complete(final) == "AB"[kill % 2]
            if temp.exists():
                mid_write += 1
                torn_temps += _torn(temp)
            seen.add(_check_complete(final))
            if kill % 2:  # every other round: what a new training run does first
                stale = sorted(folder.glob("*.partial"))
                assert sorted(clean_stale_temps(folder)) == stale
                cleaned += len(stale)
                assert [p.name for p in folder.iterdir()] == ["last.pt"]
    finally:
        writer.kill()
        writer.wait()
    stale = sorted(folder.glob("*.partial"))
    assert sorted(clean_stale_temps(folder)) == stale
    cleaned += len(stale)
    assert [p.name for p in folder.iterdir()] == ["last.pt"]
    _check_complete(final)
    print(
        f"\ncheckpoint kills (seed {seed}): {KILLS} SIGKILLs, {mid_write} landed mid-write (temp present), "
        f"{torn_temps} of those temps were torn; the final name always loaded (versions seen: "
        f"{''.join(sorted(seen))}); {cleaned} stale temps cleaned"
    )
    assert seen == {"A", "B"}
    pinned = KILLS - len(range(0, KILLS, len(PHASES)))
    assert mid_write >= pinned and torn_temps >= pinned // 2


# -- a real training job, SIGKILLed mid-epoch ----------------------------------------------------
EPOCHS = 5
PER_EPOCH = {"train": ("loss", "lr"), "val": ("loss", "dice", "miou", "pixel_acc")}


def _raw_status(db: Path, run_id: str) -> str:
    """The stored status, without the reconcile that RunRegistry.list() does first."""
    with sqlite3.connect(db) as conn:
        status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    conn.close()
    return status


def _epoch_rows(registry: RunRegistry, run_id: str, after_time: float = 0.0) -> dict[tuple, list[int]]:
    """(split, name) -> the epochs it was logged for, in logging order."""
    rows: dict[tuple, list[int]] = {}
    for m in registry.metrics(run_id):
        if m.time >= after_time and m.name in PER_EPOCH.get(m.split, ()):
            rows.setdefault((m.split, m.name), []).append(m.epoch)
    return rows


@pytest.fixture
def slow_epochs(tmp_path: Path) -> Path:
    """24 pairs of 128x96: an epoch of the configs below takes 0.5-1 s, so a kill can land mid-epoch."""
    root = tmp_path / "data"
    make_pairs(root, 24, size=(128, 96))
    return root


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_from_the_cli(slow_epochs: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = tiny_config(slow_epochs, epochs=EPOCHS, unet_base_width=8, crop=96, resolution=128, name="killed")
    registry = RunRegistry()
    submission = run_queue.submit(cfg, registry)  # what the Train page's Start does
    assert submission.started
    run_id, db = submission.run.id, registry.db_path
    pid = registry.get(run_id).pid
    _wait_for(lambda: registry.get(run_id).epochs_done >= 2, timeout=120, what="two committed epochs")
    ends = {m.epoch: m.time for m in registry.metrics(run_id, names=["lr"])}
    epoch_s = ends[2] - ends[1]
    time.sleep(0.4 * epoch_s)  # into the training steps of the next epoch
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not is_process_alive(pid), timeout=30, what="the killed trainer to be gone")

    assert registry_integrity(db) == "ok"
    assert _raw_status(db, run_id) == "running"  # nobody could write a final status...
    assert registry.reconcile() == [run_id]  # ...so the next look marks it
    killed = registry.get(run_id)
    assert killed.status == "interrupted" and "without reporting a final status" in killed.error
    committed = killed.epochs_done
    logged = _epoch_rows(registry, run_id)
    for split, names in PER_EPOCH.items():
        for name in names:
            assert set(range(1, committed + 1)) <= set(logged[(split, name)]), (split, name)
    last = load_checkpoint(killed.checkpoint_dir / "last.pt")
    saved_epoch = last["train_state"]["loop"]["epoch"]
    # last.pt is saved just before epochs_done is recorded: the kill may fall in between.
    assert saved_epoch in (committed, committed + 1) and last["meta"]["epoch"] == saved_epoch
    assert load_checkpoint(killed.checkpoint_dir / "best.pt")["meta"]["epoch"] <= saved_epoch
    stale = killed.checkpoint_dir / "last.pt.999999.partial"  # as a kill inside a save leaves
    stale.write_bytes(b"torn")
    print(
        f"\nmid-epoch SIGKILL: killed {0.4 * epoch_s:.2f} s into epoch {committed + 1} "
        f"(epoch {epoch_s:.2f} s); committed {committed}, last.pt at epoch {saved_epoch}; "
        f"integrity ok; status interrupted"
    )

    resumed_at = time.time()
    cli = subprocess.run(
        [sys.executable, "-m", "seg_core", "runs", "resume", run_id],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and f"Resumed run {run_id}" in cli.stdout, cli.stdout + cli.stderr
    # The CLI has exited; the trainer it launched carries on in its own session.
    _wait_for(lambda: registry.get(run_id).status not in ("queued", "running"), timeout=180, what="the end")
    done = registry.get(run_id)
    assert done.status == "completed", (done.status, done.error)
    assert done.epochs_done == EPOCHS and not stale.exists()
    messages = [line.message for line in registry.logs(run_id, limit=1000)]
    assert f"resumed from last.pt at epoch {saved_epoch + 1}, step 0" in messages
    onwards = list(range(saved_epoch + 1, EPOCHS + 1))
    after = _epoch_rows(registry, run_id, after_time=resumed_at)
    assert set(after) == {(split, name) for split, names in PER_EPOCH.items() for name in names}
    for key, epochs in after.items():
        assert epochs == onwards, key  # each later epoch once, in order, none redone
    assert load_checkpoint(done.checkpoint_dir / "last.pt")["train_state"]["loop"]["epoch"] == EPOCHS
    assert registry_integrity(db) == "ok"


# -- the app server goes away while a job runs ---------------------------------------------------
# A "server" that does what the Train page's Start does, then exits (a restart, a crash, Ctrl-C).
SERVER = textwrap.dedent(
    """
    import json, sys
    from seg_core.training import queue as run_queue
    from seg_core.training.config import TrainConfig

    submission = run_queue.submit(TrainConfig.from_dict(json.loads(sys.argv[1])))
    print(json.dumps({"id": submission.run.id, "started": submission.started}))
    """
)


def _serve_once(cfg) -> tuple[str, int]:
    """Start a job from a short-lived server process; returns (run id, trainer pid) once it exited."""
    server = subprocess.run(
        [sys.executable, "-c", SERVER, json.dumps(cfg.to_dict())],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert server.returncode == 0, server.stderr
    answer = json.loads(server.stdout)
    assert answer["started"]
    run = RunRegistry().get(answer["id"])  # a new server process: a fresh registry
    return run.id, run.pid


def _runs_page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60).switch_page(
        "app_pages/runs.py"
    )


def _status_in_table(at, run_id: str) -> str:
    table = at.dataframe[0].value
    return table.loc[table["id"] == run_id, "status"].item()


@pytest.mark.slow
def test_a_job_outlives_the_server_that_started_it(slow_epochs: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = tiny_config(slow_epochs, epochs=3, unet_base_width=8, crop=96, resolution=128, name="outlives")
    run_id, pid = _serve_once(cfg)
    registry = RunRegistry()
    assert registry.get(run_id).status == "running" and registry.is_live(run_id)
    assert os.getsid(pid) == pid  # its own session: the server's end did not reach it
    at = _runs_page().run()
    assert not at.exception and _status_in_table(at, run_id) in ("running", "completed")
    _wait_for(lambda: registry.get(run_id).status != "running", timeout=180, what="the job to end")
    done = registry.get(run_id)
    assert (done.status, done.epochs_done) == ("completed", 3), done.error
    at.run()
    assert _status_in_table(at, run_id) == "completed"


@pytest.mark.slow
def test_a_job_that_died_while_the_server_was_down_shows_interrupted(tiny_dataset, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_id, pid = _serve_once(tiny_config(tiny_dataset, epochs=1000, name="orphan"))
    registry = RunRegistry()
    _wait_for(lambda: registry.get(run_id).epochs_done >= 1, timeout=120, what="the trainer at work")
    os.kill(pid, signal.SIGKILL)  # no server is up to notice
    _wait_for(lambda: not is_process_alive(pid), timeout=30, what="the trainer to be gone")
    assert _raw_status(registry.db_path, run_id) == "running"
    at = _runs_page().run()  # the next server's first page load
    assert not at.exception
    assert _status_in_table(at, run_id) == "interrupted"
    record = registry.get(run_id)
    assert record.status == "interrupted" and "without reporting a final status" in record.error
    assert load_checkpoint(record.checkpoint_dir / "last.pt")["train_state"]["loop"]["epoch"] >= 1
