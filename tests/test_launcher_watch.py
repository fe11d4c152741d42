"""A worker notices when the launcher that started it is killed: `on_gone` runs, and a process
waiting in a collective (`waiting`) leaves at once instead of waiting out its timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seg_core.core.parent_watch import EXIT_LAUNCHER_GONE, LauncherWatch

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import sys, time
from pathlib import Path
from seg_core.core.parent_watch import LauncherWatch
notes = Path(sys.argv[1])
watch = LauncherWatch("worker", on_gone=lambda: notes.with_suffix(".gone").write_text("gone"), poll_s=0.05)
watch.start()
notes.write_text("ready")
with watch.waiting():
    time.sleep(600)  # a collective whose peers are gone
"""
LAUNCHER = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
print(worker.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from Linux /proc")
def test_a_worker_leaves_when_its_launcher_is_killed(tmp_path):
    notes = tmp_path / "worker.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, WORKER, str(notes)], env=env, stdout=subprocess.PIPE, text=True
    )
    worker = int(launcher.stdout.readline())
    try:
        _wait_for(notes.is_file, "the worker to start watching")
        assert _running(worker)
        launcher.kill()
        launcher.wait()
        _wait_for(lambda: not _running(worker), "the worker to leave")
        assert notes.with_suffix(".gone").read_text() == "gone"
    finally:
        launcher.kill()
        if _running(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_watch_outside_a_wait_only_raises_its_flag(monkeypatch):
    parents = iter([os.getppid(), os.getppid() + 1])
    monkeypatch.setattr(os, "getppid", lambda: next(parents, -1))
    called = []
    watch = LauncherWatch("test", on_gone=lambda: called.append(True), poll_s=0.01).start()
    _wait_for(lambda: watch.gone, "the watch to notice")
    assert called == [True] and EXIT_LAUNCHER_GONE == 1  # still here: nothing was waiting
