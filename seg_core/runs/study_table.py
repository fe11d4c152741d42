"""The study's comparison table (Table 1) read from the registry: one row per run."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from seg_core.runs.metric_names import TRAIN_FULL_LOSS, TRAIN_LOSS, VAL_LOSS, VAL_MIOU, Metric
from seg_core.runs.registry import RunRegistry


def summary_table(registry: RunRegistry, run_ids: Sequence[str]) -> list[dict]:
    """One row per run for Table 1.

    Losses are the latest epoch's value; `val_miou_at_best` is the val mIoU of the epoch that gave
    `best_val_dice`. Missing numbers are None; a logged NaN stays NaN.
    """
    runs = [registry.get(run_id) for run_id in run_ids]
    table = []
    with registry.snapshot() as conn:
        for run in runs:
            table.append(
                {
                    "id": run.id,
                    "name": run.name,
                    "arch": run.config.get("arch"),
                    "optimizer": run.config.get("optimizer"),
                    "augmentation": run.config.get("augment"),
                    "final_train_loss": _last_value(conn, run.id, TRAIN_LOSS),
                    "val_loss": _last_value(conn, run.id, VAL_LOSS),
                    "train_full_loss": _last_value(conn, run.id, TRAIN_FULL_LOSS),
                    "best_val_dice": run.best_metric,
                    "val_miou_at_best": None
                    if run.best_epoch is None
                    else _last_value(conn, run.id, VAL_MIOU, run.best_epoch),
                    "wall_time_s": run.duration_s,
                    "status": run.status,
                }
            )
    return table


def _last_value(conn: sqlite3.Connection, run_id: str, metric: Metric, epoch: int | None = None) -> float | None:
    """The metric's value at its latest epoch (or at `epoch`); None if never logged."""
    sql = "SELECT value FROM metrics WHERE run_id = ? AND split = ? AND name = ?"
    params: list[object] = [run_id, metric.split, metric.name]
    if epoch is not None:
        sql, params = sql + " AND epoch = ?", [*params, epoch]
    row = conn.execute(sql + " ORDER BY epoch DESC, id DESC LIMIT 1", params).fetchone()
    if row is None:
        return None
    return float("nan") if row[0] is None else row[0]
