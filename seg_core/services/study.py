"""The student study in one call: its four runs (`training.study.study_configs`) queued through
`services.runs`, as the app's "Queue the whole study" does (one after another as background
jobs, after any job already running, never beside it), followed until all four have ended, and
their comparison (Table 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from seg_core.core.runtime import StopRequested
from seg_core.runs.registry import FINAL_STATUSES
from seg_core.runs.study_table import summary_table
from seg_core.services import runs
from seg_core.services.caller import Caller
from seg_core.training import queue as run_queue
from seg_core.training.preflight import check_all
from seg_core.training.presets import STUDY_PRESETS
from seg_core.training.study import NO_IMAGENET_NOTICE, study_configs


def run_study(
    data: str | Path,
    epochs: int | None = None,
    resolution: int = 512,
    crop: int = 256,
    batch_size: int = 4,
    caller: Caller | None = None,
    poll_s: float = 1.0,
    echo: Callable[[str], None] = lambda line: print(line, flush=True),
    stop_request: StopRequested | None = None,
) -> list[dict]:
    """Queue the four runs, follow their logs until all have ended, return the Table 1 rows.

    Every setting and the dataset are checked before the first run is queued (ValueError).
    SIGINT/SIGTERM (Ctrl-C) stop the study: the runs still waiting leave the queue and the
    running one saves last.pt and stops (`runs resume ID` continues it later); pass
    `stop_request` to learn afterwards whether that happened. `caller` None: the machine's owner.
    """
    caller = (caller or Caller()).opened()
    configs = study_configs(data, epochs, resolution, crop, batch_size)
    check_all(configs)  # every setting and the dataset, before the first run is queued
    if any(cfg.weights == "none" and cfg.arch != "unet" for cfg in configs):
        echo(NO_IMAGENET_NOTICE)
    submissions = [runs.start(cfg, caller) for cfg in configs]
    for submission in submissions:
        echo(f"{submission.run.name}: {submission.message}")
    ids = [s.run.id for s in submissions]
    echo(f"the table at any time: python -m seg_core runs compare {' '.join(ids)}")
    stop_request = stop_request or StopRequested()
    stop_request.install()
    _follow(ids, list(STUDY_PRESETS), caller, stop_request, poll_s, echo)
    return summary_table(caller.runs, ids)


def _follow(
    ids: list[str],
    labels: list[str],
    caller: Caller,
    stop_request: StopRequested,
    poll_s: float,
    echo: Callable[[str], None],
) -> None:
    """Print the runs' new log lines until every run has a final status."""
    registry = caller.runs
    seen = dict.fromkeys(ids, 0)
    stopping = False
    while True:
        registry.reconcile()  # a job killed outright must not keep the study waiting
        for run_id, label in zip(ids, labels, strict=True):
            for line in registry.logs(run_id, after_id=seen[run_id]):
                echo(f"[{label}] {line.message}")
                seen[run_id] = line.id
        if all(registry.get(run_id).status in FINAL_STATUSES for run_id in ids):
            return
        if stop_request.requested and not stopping:
            stopping = True
            echo(f"{stop_request.signal_name or 'stop'} received: stopping the study")
            runs.cancel_queued(ids, "the study was stopped before this run started", caller)
            for run_id in ids:
                runs.stop(run_id, caller)
        elif not stopping:
            run_queue.dispatch(registry)  # as every app page load does: the queue never stalls
        time.sleep(poll_s)
