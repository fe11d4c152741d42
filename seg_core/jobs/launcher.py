"""One way to start background work: a detached `python -m seg_core <command>` process.

Training runs (`runs.control`) and folder predictions (`services.batch_jobs`) both start here,
so both outlive a browser refresh or an app restart the same way:

- own session and process group (a Stop signals the DataLoader workers too; a Ctrl-C in the
  terminal that started the app does not reach the job);
- unbuffered output appended to a log file, so the log follows the job live;
- `STORMSEG_HOME` pinned to this process's home: an installed StormSeg's default home is the
  current folder, and the child starts in the folder holding `seg_core` instead;
- the kernel start time recorded with the pid, so a later liveness check (`jobs.process`)
  refuses a pid the system has since given to another process;
- the child reaped by a thread when it exits, so it never lingers as a zombie of the app.

A job that must tell how it ended gets an exit record: the CLI writes `{pid, exit_code, error,
ended_at}` there atomically as its last act (`record_exit`). A job killed outright (SIGKILL, a
power cut) leaves none, which is how a reader tells an interrupted job from a finished one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seg_core.core import paths
from seg_core.core.atomic import atomic_write_bytes
from seg_core.jobs.process import process_start

CLI_MODULE = "seg_core"
# Where the child writes its exit record; set only for a job launched with one, so a process it
# starts in turn (a finishing trainer starting the next queued run) never writes over it.
EXIT_RECORD_ENV = "STORMSEG_EXIT_RECORD"


@dataclass(frozen=True)
class Launched:
    pid: int
    proc_start: int | None  # the kernel's start time of `pid` (None where /proc is absent)
    command: list[str]


@dataclass(frozen=True)
class ExitRecord:
    """How a job's process ended, in its own words."""

    pid: int
    exit_code: int  # 0 done, 2 bad input, 1 internal failure, 130 interrupted (Ctrl-C)
    error: str | None  # the one-line error the CLI printed, if any
    ended_at: float


def launch(
    args: Sequence[str],
    log_path: Path,
    exit_record: Path | None = None,
    module: str = CLI_MODULE,
    python: str = sys.executable,
) -> Launched:
    """Start `python -m <module> <args>` detached (see the module docstring).

    Args:
        log_path: stdout and stderr are appended here (its folder is created).
        exit_record: where the child writes its ExitRecord at the end; None: no record.
        module: the CLI module; tests point it at a stub.

    Raises:
        OSError: the process could not be started (no such interpreter, no memory).
    """
    command = [python, "-m", module, *map(str, args)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STORMSEG_HOME": str(paths.home())}
    env.pop(EXIT_RECORD_ENV, None)
    if exit_record is not None:
        env[EXIT_RECORD_ENV] = str(exit_record)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command,
            cwd=paths.REPO_ROOT,  # the folder holding seg_core: `-m seg_core` imports from there
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    # Read before the reaper may run: until it is reaped, even a child that already exited keeps
    # its /proc entry, so the start time is always there to record.
    started = process_start(process.pid)
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return Launched(process.pid, started, command)


def record_exit(exit_code: int, error: str | None) -> None:
    """Write this process's ExitRecord where its launcher asked (nothing when it did not).

    A full disk is reported on stderr, never raised: the job's work is done either way, and
    its reader then treats it as interrupted (resumable), which loses nothing.
    """
    target = os.environ.get(EXIT_RECORD_ENV)
    if not target:
        return
    record = ExitRecord(os.getpid(), exit_code, error, time.time())
    try:
        atomic_write_bytes(target, json.dumps(record.__dict__).encode())
    except OSError as exc:
        print(f"warning: could not write the job's exit record {target}: {exc}", file=sys.stderr)


def read_exit(path: Path) -> ExitRecord | None:
    """The ExitRecord at `path`, or None when there is none (still running, or killed)."""
    try:
        return ExitRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
