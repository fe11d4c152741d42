"""Starting and stopping a run's training process.

Training always runs in its own OS process (`python -m seg_core train --run-id ID`, started by
`jobs.launcher`): a browser refresh or an app restart never touches it, and `stop` signals the
whole process group (DataLoader workers included). The registry records the pid; `jobs.process`
checks that a recorded pid is still that run's process before anything is signalled. Who may
start or stop a run is decided above, in `services.runs`.
"""

from __future__ import annotations

import shlex
import signal
import sys
import time
from collections.abc import Sequence

from seg_core.core import paths
from seg_core.jobs.launcher import CLI_MODULE
from seg_core.jobs.launcher import launch as launch_job
from seg_core.jobs.process import is_process_alive, signal_group
from seg_core.runs.registry import ACTIVE_STATUSES, PENDING_DEVICE, RunRegistry, validate_run_id


def launch(
    run_id: str,
    registry: RunRegistry,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
    module: str = CLI_MODULE,
) -> int:
    """Start `python -m <module> train --run-id RUN_ID [extra_args]` as a detached job, its
    output appended to `<runs_dir>/<run_id>.log`.

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
    try:
        job = launch_job(["train", "--run-id", run_id, *extra_args], log_path, module=module, python=python)
    except OSError as exc:
        registry.finish(run_id, "failed", error=f"could not start the training process: {exc}")
        raise
    registry.mark_running(run_id, job.pid, PENDING_DEVICE)
    registry.log(run_id, f"launched pid {job.pid}: {shlex.join(job.command)}")
    return job.pid


def stop(run_id: str, registry: RunRegistry, timeout: float = 0) -> bool:
    """Ask a run's process (group) to stop with SIGTERM; the trainer saves and exits.

    Nothing is signalled unless the recorded pid is alive and is that run's process.

    Args:
        timeout: seconds to wait for the process to exit (0: do not wait). If it exits
            without writing a final status, the run is marked 'stopped'.

    Returns:
        Whether a signal was sent.
    """
    run = registry.get(run_id)
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
