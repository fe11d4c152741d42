"""Starting and stopping a run's training process (runs.control) and process liveness
(runs.process): a real detached stub trainer, pid reuse, zombies."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import wait_for

from seg_core.core import paths
from seg_core.jobs.process import is_process_alive
from seg_core.runs.control import launch, stop
from seg_core.runs.registry import RunRegistry

HAS_PROC = Path("/proc/self/stat").exists()


@pytest.fixture
def registry() -> RunRegistry:
    return RunRegistry()


def sql(registry: RunRegistry, statement: str, params: tuple = ()) -> None:
    """Raw access, to simulate stale or edited records."""
    with sqlite3.connect(registry.db_path) as conn:
        conn.execute(statement, params)
    conn.close()


@pytest.mark.skipif(not HAS_PROC, reason="zombie check reads /proc/<pid>/stat")
def test_is_process_alive_treats_zombies_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # not reaped until wait()
    try:
        state = Path(f"/proc/{child.pid}/stat")
        wait_for(lambda: state.read_text().rsplit(")", 1)[1].split()[0] == "Z", what="zombie")
        assert not is_process_alive(child.pid)
    finally:
        child.wait()
    assert not is_process_alive(child.pid)
    assert is_process_alive(os.getpid())
    assert not is_process_alive(0) and not is_process_alive(-1)


STUB_TRAINER = """
import os, signal, subprocess, sys, time
from seg_core.runs.registry import RunRegistry

run_id = sys.argv[sys.argv.index("--run-id") + 1]
out, registry = os.environ["STUB_OUT"], RunRegistry()

def on_sigterm(signum, frame):
    open(os.path.join(out, "sigterm"), "w").write(run_id)
    registry.finish(run_id, "stopped")
    sys.exit(0)

signal.signal(signal.SIGTERM, on_sigterm)
registry.mark_running(run_id, os.getpid(), "cpu")
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a DataLoader worker
open(os.path.join(out, "worker"), "w").write(str(worker.pid))
print("stub training", run_id)
open(os.path.join(out, "home"), "w").write(os.environ["STORMSEG_HOME"])
open(os.path.join(out, "ready.tmp"), "w").write(str(os.getpgid(0)))
os.replace(os.path.join(out, "ready.tmp"), os.path.join(out, "ready"))
time.sleep(60)
"""


@pytest.fixture
def stub_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    code_dir, out = tmp_path / "stub", tmp_path / "out"
    code_dir.mkdir()
    out.mkdir()
    (code_dir / "stormseg_stub_trainer.py").write_text(textwrap.dedent(STUB_TRAINER))
    monkeypatch.setenv("PYTHONPATH", str(code_dir))
    monkeypatch.setenv("STUB_OUT", str(out))
    return "stormseg_stub_trainer", out


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_launch_then_stop_a_detached_training_process(registry: RunRegistry, stub_module) -> None:
    module, out = stub_module
    run = registry.create_run({"arch": "unet"})
    pid = launch(run.id, registry, extra_args=["--epochs", "1"], module=module)
    try:
        wait_for(lambda: (out / "ready").exists(), what="the stub trainer to start")
        assert int((out / "ready").read_text()) == pid  # leads its own process group
        assert (out / "home").read_text() == str(paths.home())  # pinned: an installed home is the cwd
        running = registry.get(run.id)
        assert (running.status, running.pid, running.device) == ("running", pid, "cpu")
        with pytest.raises(ValueError, match="already running"):
            launch(run.id, registry, module=module)

        assert stop(run.id, registry, timeout=15) is True
        assert (out / "sigterm").read_text() == run.id
        assert not is_process_alive(pid)
        worker = int((out / "worker").read_text())
        wait_for(lambda: not is_process_alive(worker), what="the whole process group to stop")
        assert registry.get(run.id).status == "stopped"
        assert stop(run.id, registry) is False  # finished runs are never signalled
        log_text = (paths.runs_dir() / f"{run.id}.log").read_text()
        assert f"stub training {run.id}" in log_text
        assert any("stop requested" in line.message for line in registry.logs(run.id))
    finally:
        worker_file = out / "worker"
        for leftover in (pid, int(worker_file.read_text()) if worker_file.exists() else 0):
            if is_process_alive(leftover):
                os.kill(leftover, signal.SIGKILL)


def test_stop_never_signals_another_process(registry: RunRegistry, sleeper) -> None:
    stranger = sleeper()  # alive, but not this run's process
    run = registry.create_run({})
    sql(registry, "UPDATE runs SET status = 'running', pid = ? WHERE id = ?", (stranger.pid, run.id))
    assert stop(run.id, registry) is False
    assert stranger.poll() is None

    completed = registry.create_run({})
    own = sleeper(completed.id)
    registry.mark_running(completed.id, own.pid, "cpu")
    registry.finish(completed.id, "completed")
    assert stop(completed.id, registry) is False and own.poll() is None
    assert stop(registry.create_run({}).id, registry) is False  # queued, no pid


def test_launch_failure_marks_the_run_failed(registry: RunRegistry, tmp_path: Path) -> None:
    run = registry.create_run({})
    with pytest.raises(OSError):
        launch(run.id, registry, python=str(tmp_path / "no-such-python"))
    failed = registry.get(run.id)
    assert failed.status == "failed" and "could not start" in failed.error
