"""Shared fixtures: every test gets its own StormSeg home (nothing touches the repo's folders) and
the same free memory (the preflight's memory check never depends on the machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_pairs, wait_for

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def stormseg_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("STORMSEG_HOME", str(home))
    monkeypatch.delenv("STORMSEG_DATA_ROOT", raising=False)
    monkeypatch.delenv("STORMSEG_CACHE_DIR", raising=False)
    return home


@pytest.fixture(autouse=True)
def free_memory(monkeypatch) -> None:
    """The preflight sees 64 GB free in this process, so that no test's verdict depends on the
    machine's memory; tests/test_step_memory.py sets its own figures (and reads the real one)."""
    from seg_core.core import memory

    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 64 * 10**9)


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    root = tmp_path / "tiny"
    make_pairs(root, 6)
    return root


@pytest.fixture
def sleeper():
    """Start `python -c 'sleep' ARGS...`; every process is killed at the end."""
    children: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", *args])
        children.append(child)
        # Until the exec, /proc/<pid>/cmdline is still pytest's: tests that read it wait for ours.
        cmdline = Path(f"/proc/{child.pid}/cmdline")
        if cmdline.exists():
            wait_for(lambda: b"time.sleep" in cmdline.read_bytes(), what="the sleeper to start")
        return child

    yield start
    for child in children:
        child.kill()
        child.wait()
