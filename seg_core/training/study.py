"""The student study in one call: its four runs (Table 1), then their comparison.

U-Net + SGD, U-Net + Adam (lr 5e-4, 20 epochs each), DeepLabV3+ on ResNet50 without and with
rot90/flip augmentation (lr 1e-3, 30 and 60 epochs); cross-entropy throughout, fixed epochs (no
early stop), the study's 0.15 validation split. ImageNet weights for ResNet50 are used where
they can be had; offline they cannot, and the runs say so in their name and log.

The runs go through the training queue (`seg_core.training.queue`), as the app's "Queue the whole study"
does: they train one after another as background jobs, after any job already running, never
beside it. `run_study` follows them and returns Table 1 once all four have ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from seg_core.core.runtime import StopRequested
from seg_core.models.weights import hub_weights_obtainable
from seg_core.runs.control import stop
from seg_core.runs.registry import FINAL_STATUSES, RunRegistry
from seg_core.training import queue as run_queue
from seg_core.training.config import TrainConfig
from seg_core.training.preflight import check_before_run
from seg_core.training.presets import STUDY_PRESETS

NO_IMAGENET_NOTICE = (
    "ImageNet weights for ResNet50 cannot be downloaded here (no network): the two DeepLabV3+ runs "
    "start from random weights, unlike the study's, and their names say so."
)


def imagenet_weights_available(encoder: str) -> bool:
    """True when smp can fetch (or has cached) ImageNet weights for `encoder`; milliseconds offline."""
    return hub_weights_obtainable(encoder)


def study_configs(
    data: str | Path,
    epochs: int | None = None,
    resolution: int = 512,
    crop: int = 256,
    batch_size: int = 4,
    imagenet: bool | None = None,
) -> list[TrainConfig]:
    """The four study runs as configs; `imagenet=None` probes whether the weights can be had."""
    if imagenet is None:
        imagenet = imagenet_weights_available("resnet50")
    configs = []
    for label, preset in STUDY_PRESETS.items():
        values = {
            **preset,
            "data": str(Path(data).resolve()),
            "resolution": resolution,
            "crop": crop,
            "batch_size": batch_size,
            "early_stop_patience": 0,
            "warmup_epochs": 0,
            "val_ratio": 0.15,
            "name": f"study: {label}",
        }
        if epochs is not None:  # 0 is refused by TrainConfig, never taken as "not given"
            values["epochs"] = epochs
        if values["weights"] == "imagenet" and not imagenet:
            values["weights"] = "none"
            values["name"] += " [no ImageNet weights offline: from scratch]"
        configs.append(TrainConfig.from_dict(values))
    return configs


def run_study(
    data: str | Path,
    epochs: int | None = None,
    resolution: int = 512,
    crop: int = 256,
    batch_size: int = 4,
    registry: RunRegistry | None = None,
    poll_s: float = 1.0,
    echo: Callable[[str], None] = lambda line: print(line, flush=True),
    stop_request: StopRequested | None = None,
) -> list[dict]:
    """Queue the four runs, follow their logs until all have ended, return the Table 1 rows.

    Every setting and the dataset are checked before the first run is queued (ValueError).
    SIGINT/SIGTERM (Ctrl-C) stop the study: the runs still waiting leave the queue and the
    running one saves last.pt and stops (`runs resume ID` continues it later); pass
    `stop_request` to learn afterwards whether that happened.
    """
    registry = registry or RunRegistry()
    configs = study_configs(data, epochs, resolution, crop, batch_size)
    report = None
    for cfg in configs:  # one dataset validation serves all four checks
        report = check_before_run(cfg, report=report)
    if any(cfg.weights == "none" and cfg.arch != "unet" for cfg in configs):
        echo(NO_IMAGENET_NOTICE)
    submissions = [run_queue.submit(cfg, registry) for cfg in configs]
    for submission in submissions:
        echo(f"{submission.run.name}: {submission.message}")
    ids = [s.run.id for s in submissions]
    echo(f"the table at any time: python -m seg_core runs compare {' '.join(ids)}")
    stop_request = stop_request or StopRequested()
    stop_request.install()
    _follow(ids, list(STUDY_PRESETS), registry, stop_request, poll_s, echo)
    return registry.summary_table(ids)


def _follow(
    ids: list[str],
    labels: list[str],
    registry: RunRegistry,
    stop_request: StopRequested,
    poll_s: float,
    echo: Callable[[str], None],
) -> None:
    """Print the runs' new log lines until every run has a final status."""
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
            run_queue.cancel_queued(ids, "the study was stopped before this run started", registry)
            for run_id in ids:
                stop(run_id, registry)
        elif not stopping:
            run_queue.dispatch(registry)  # as every app page load does: the queue never stalls
        time.sleep(poll_s)
