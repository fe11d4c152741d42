"""The training queue: one job at a time on this machine, the rest wait their turn.

Start (app or `submit`) always creates a run; if nothing is running it starts at once, else it
is queued and starts when the running job ends (the finishing training process dispatches the
next one; every app page load does too, so a queue survives crashes and restarts). Dispatch
is serialised with a file lock, so a double-click or two analysts pressing Start at the same
moment can never launch two jobs. Who may start, resume or take out a run is decided above, in
`services.runs`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from seg_core.core import paths
from seg_core.core.locks import file_lock
from seg_core.datasets.discovery import count_named_pairs
from seg_core.runs.control import launch
from seg_core.runs.registry import RunRecord, RunRegistry
from seg_core.training.config import TrainConfig


@dataclass(frozen=True)
class Submission:
    run: RunRecord
    started: bool
    message: str


def _dispatch_lock():
    """One dispatcher at a time across the app's sessions and the finishing trainers."""
    return file_lock(paths.runs_dir() / "dispatch.lock")


def dispatch(registry: RunRegistry | None = None) -> str | None:
    """Start the oldest queued run if nothing is running; returns its id, or None.

    A queued run that already has a `last.pt` (a resume request) continues from it.
    """
    registry = registry or RunRegistry()
    with _dispatch_lock():
        registry.reconcile()
        if registry.list(("running",)):
            return None
        queued = sorted(registry.list(("queued",)), key=lambda r: r.created_at)
        if not queued:
            return None
        run = queued[0]
        resume = (run.checkpoint_dir / "last.pt").is_file()
        launch(run.id, registry, extra_args=("--resume", run.id) if resume else ())
        return run.id


class Admission(Protocol):
    """Who decides, under the submission lock, whether one more run may join the queue, and takes
    the new run as theirs (`services.caller.Caller`: per-person limits and the audit trail)."""

    def admit(self, registry: RunRegistry) -> None:
        """Raise to refuse the run; nothing is created then."""

    def claim(self, registry: RunRegistry, run_id: str, detail: str) -> None:
        """Record who started `run_id`."""


def submit(
    cfg: TrainConfig, registry: RunRegistry | None = None, admission: Admission | None = None
) -> Submission:
    """Create a run for `cfg` and start it now, or queue it behind the running job.

    Args:
        admission: asked before the run is created and told its id after, both under one lock;
            None: admitted, and claimed by no one.

    Raises:
        ValueError: the dataset has no image with a mask, so no run is created.
    """
    registry = registry or RunRegistry()
    if count_named_pairs(cfg.data) == 0:
        raise ValueError(
            f"{cfg.data}: no image has a mask with the same name, so there is nothing to train on; "
            f"nothing was started (python -m seg_core validate {cfg.data} lists what is there)"
        )
    # The admission check and the claimed new run together: two Starts by one person at the same
    # instant would otherwise both pass a per-person limit and exceed it by one.
    with file_lock(registry.db_path.parent / "submit.lock"):
        if admission is not None:
            admission.admit(registry)
        run = registry.create_run(cfg.to_dict(), name=cfg.name or None)
        if admission is not None:
            admission.claim(registry, run.id, f"data {cfg.data}")
    dispatch(registry)
    # Read the status rather than trusting dispatch's return value: when several Starts race,
    # another caller's dispatch may be the one that launched this run (the oldest goes first).
    started = registry.get(run.id).status == "running"
    if started:
        return Submission(registry.get(run.id), True, f"Started run {run.id}.")
    position = [r.id for r in sorted(registry.list(("queued",)), key=lambda r: r.created_at)].index(
        run.id
    ) + 1
    running = registry.list(("running",))
    behind = f" behind {running[0].name or running[0].id}" if running else ""
    return Submission(
        registry.get(run.id),
        False,
        f"Queued run {run.id} (position {position}{behind}); it starts when the current job ends.",
    )


def check_resumable(run: RunRecord) -> None:
    """Only a run that ended early can continue: a completed run would train again from its
    last epoch and overwrite its own record (duration, final losses)."""
    if run.status in ("running", "queued"):
        raise ValueError(f"run {run.id} is already {run.status}")
    if run.status == "completed":
        raise ValueError(
            f"run {run.id} has already completed ({run.epochs_done or 0} epoch(s)); there is nothing "
            "to resume: start a new run to train longer"
        )
    if not (run.checkpoint_dir / "last.pt").is_file():
        raise ValueError(f"run {run.id} has no last.pt to resume from (it never finished an epoch)")


def resume(run_id: str, registry: RunRegistry | None = None) -> Submission:
    """Queue a stopped/interrupted/failed run to continue from its last.pt."""
    registry = registry or RunRegistry()
    check_resumable(registry.get(run_id))
    registry.requeue(run_id)
    dispatch(registry)
    started = registry.get(run_id).status == "running"
    message = f"Resumed run {run_id}." if started else f"Run {run_id} will resume when the current job ends."
    return Submission(registry.get(run_id), started, message)


def cancel_queued(
    run_ids: list[str],
    reason: str,
    registry: RunRegistry | None = None,
    check: Callable[[str], None] | None = None,
) -> list[str]:
    """Take the runs among `run_ids` that are still waiting out of the queue (marked stopped
    with `reason`); running ones are left to `runs.control.stop`. Returns the ids taken out.

    Holds the dispatch lock, so none of them can be launched between the check and the update.

    Args:
        check: called with each waiting run's id before it is taken out, under the lock; it
            raises to refuse (the runs taken out before it stay out).
    """
    registry = registry or RunRegistry()
    cancelled = []
    with _dispatch_lock():
        for run_id in run_ids:
            if registry.get(run_id).status == "queued":
                if check is not None:
                    check(run_id)
                registry.finish(run_id, "stopped", reason)
                cancelled.append(run_id)
    return cancelled


def dispatch_quietly() -> None:
    """For the end of a training process: start the next queued job; a failure is reported in
    this process's log (the app's next page load dispatches again) and never raised."""
    if os.environ.get("STORMSEG_NO_DISPATCH") == "1":
        return
    try:
        started = dispatch()
    except Exception as exc:  # noqa: BLE001 - the run itself already ended; don't turn it into a crash
        print(f"[warning] could not start the next queued run: {type(exc).__name__}: {exc}", flush=True)
    else:
        if started:
            print(f"[info] started the next queued run {started}", flush=True)
