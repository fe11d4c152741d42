"""The guarded run actions that the app's pages and the CLI both call: start, resume, stop, take
out of the queue, delete.

Each checks its `Caller` (analysts start runs and stop or resume their own; admins anyone's and
delete) and leaves an audit row, allowed or refused, then calls the engine (`training.queue`,
`runs.control`, `runs.registry`), which carries the action out without knowing about roles.
"""

from __future__ import annotations

from seg_core.runs import control
from seg_core.runs.registry import validate_run_id
from seg_core.services.caller import Caller
from seg_core.training import queue as run_queue
from seg_core.training.config import TrainConfig


def start(cfg: TrainConfig, caller: Caller | None = None) -> run_queue.Submission:
    """Create a run for `cfg` and start it now or queue it (`training.queue.submit`), attributed
    to the caller. `caller` None: the machine's owner.

    Raises:
        AccessDenied: the caller may not start runs, or has as many waiting as their limit allows.
        ValueError: the dataset has no image with a mask, so no run is created.
    """
    caller = (caller or Caller()).opened()
    caller.authorize("run.start", target=str(cfg.data), record=False)  # recorded with the run's id
    return run_queue.submit(cfg, caller.runs, admission=caller)


def resume(run_id: str, caller: Caller | None = None) -> run_queue.Submission:
    """Queue a stopped, interrupted or failed run to continue from its last.pt (below admin: only
    one's own runs)."""
    caller = (caller or Caller()).opened()
    caller.runs.get(run_id)  # an unknown id is a ValueError before anything is audited
    caller.authorize_on_run("run.resume", run_id)
    return run_queue.resume(run_id, caller.runs)


def stop(run_id: str, caller: Caller | None = None, timeout: float = 0) -> bool:
    """Ask a running run to stop (`runs.control.stop`: it saves last.pt and ends); below admin
    only one's own runs. Returns whether a signal was sent."""
    caller = (caller or Caller()).opened()
    caller.runs.get(run_id)
    caller.authorize_on_run("run.stop", run_id)
    return control.stop(run_id, caller.runs, timeout=timeout)


def cancel_queued(run_ids: list[str], reason: str, caller: Caller | None = None) -> list[str]:
    """Take the runs among `run_ids` still waiting out of the queue (`training.queue.cancel_queued`,
    under the dispatch lock); below admin only one's own. Returns the ids taken out."""
    caller = (caller or Caller()).opened()
    return run_queue.cancel_queued(
        run_ids, reason, caller.runs, check=lambda run_id: caller.authorize_on_run("run.stop", run_id)
    )


def delete(run_id: str, caller: Caller | None = None) -> None:
    """Remove a run with its metrics, log and checkpoints (`RunRegistry.delete`): admins only."""
    validate_run_id(run_id)
    caller = (caller or Caller()).opened()
    caller.authorize("run.delete", target=run_id)
    caller.runs.delete(run_id)
