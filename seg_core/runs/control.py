"""Starting and stopping a run's training process.

Training always runs in its own OS process (`python -m seg_core train --run-id ID`) in its own
process group: a browser refresh or an app restart never touches it, and `stop` signals the
whole group (DataLoader workers included). The registry records the pid; `runs.process` checks
that a recorded pid is still that run's process before anything is signalled.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from seg_core.core import paths
from seg_core.team import access
from seg_core.jobs.process import is_process_alive, signal_group
from seg_core.runs.registry import ACTIVE_STATUSES, PENDING_DEVICE, RunRegistry, validate_run_id

TRAIN_MODULE = "seg_core"


def launch(
    run_id: str,
    registry: RunRegistry,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
    module: str = TRAIN_MODULE,
) -> int:
    """Start `python -m <module> train --run-id RUN_ID [extra_args]` as a detached process.

    It gets its own session and process group, the folder holding `seg_core` as working
    directory, no stdin, and stdout + stderr appended to `<runs_dir>/<run_id>.log`.

    Args:
        module: the CLI module; tests point it at a stub trainer.

    Returns:
        The child's pid (also recorded, so Stop works before the child reports in).
    """
    validate_run_id(run_id)
    if registry.get(run_id).status == "running" and registry.is_live(run_id):
        raise ValueError(f"run {run_id!r} is already running")
    registry.reset_for_launch(run_id)
    log_path = paths.runs_dir() / f"{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", module, "train", "--run-id", run_id, *map(str, extra_args)]
    # Unbuffered, so the log file follows the run live; the home pinned, because an installed
    # StormSeg's default home is the current folder, and the child starts elsewhere.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STORMSEG_HOME": str(paths.home())}
    try:
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
    except OSError as exc:
        registry.finish(run_id, "failed", error=f"could not start the training process: {exc}")
        raise
    registry.mark_running(run_id, process.pid, PENDING_DEVICE)
    registry.log(run_id, f"launched pid {process.pid}: {shlex.join(command)}")
    # Reap the child when it exits so it does not linger as a zombie of the app process.
    threading.Thread(target=process.wait, name=f"reap-{run_id}", daemon=True).start()
    return process.pid


def stop(run_id: str, registry: RunRegistry, timeout: float = 0, actor: access.Actor | None = None) -> bool:
    """Ask a run's process (group) to stop with SIGTERM; the trainer saves and exits.

    Nothing is signalled unless the recorded pid is alive and is that run's process.

    Args:
        timeout: seconds to wait for the process to exit (0: do not wait). If it exits
            without writing a final status, the run is marked 'stopped'.
        actor: the signed-in user (an analyst may stop only their own runs); None: the owner.

    Returns:
        Whether a signal was sent.
    """
    run = registry.get(run_id)
    access.authorize(actor, "run.stop", registry, target=run_id, owner=access.run_owner(registry, run_id))
    if run.status not in ACTIVE_STATUSES or run.pid is None or not registry.is_live(run_id):
        return False
    if not signal_group(run.pid, signal.SIGTERM):
        return False
    registry.log(run_id, f"stop requested: SIGTERM sent to pid {run.pid}", level="warning")
    deadline = time.monotonic() + timeout
    while timeout > 0 and time.monotonic() < deadline and is_process_alive(run.pid):
        time.sleep(0.05)
    if timeout > 0 and not is_process_alive(run.pid):
        registry.close_if_running(run_id, run.pid, "stopped", None)
    return True
