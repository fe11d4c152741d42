"""What the run registry stores: its SQLite schema, run ids and the rows it returns.

Kept apart from `runs.registry` (the connection, locking and queries) so that the schema and the
plain records read on their own; `registry` re-exports every name here.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("completed", "stopped", "failed", "interrupted")
LOG_LEVELS = ("debug", "info", "warning", "error")
# Device the launcher records before the child reports the real one; never overwrites it.
PENDING_DEVICE = "pending"
# Lowercase letters, digits and '-': always one safe path component, never a CLI option.
RUN_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
BUSY_TIMEOUT_S = 10.0  # a writer waits this long for the lock before raising

SCHEMA_VERSION = 1
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        config TEXT NOT NULL,          -- JSON
        pid INTEGER,
        proc_start INTEGER,            -- /proc/<pid>/stat start time: tells pid reuse apart
        device TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        best_metric REAL,
        best_epoch INTEGER,
        epochs_done INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        checkpoint_dir TEXT NOT NULL,
        host TEXT,
        earlier_s REAL NOT NULL DEFAULT 0  -- wall time of the attempts before the latest (resumes)
    )""",
    """CREATE TABLE IF NOT EXISTS metrics (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER, epoch INTEGER, split TEXT, name TEXT, value REAL, time REAL
    )""",
    "CREATE INDEX IF NOT EXISTS metrics_run_id ON metrics (run_id, id)",
    """CREATE TABLE IF NOT EXISTS logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        time REAL, level TEXT, message TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS logs_run_id ON logs (run_id, id)",
    # The audit trail (seg_core.team.audit): who did what to which run or file, when, from where.
    # Append-only: triggers refuse any UPDATE or DELETE. New in place: existing databases gain it
    # on their next open (IF NOT EXISTS), older StormSegs ignore it.
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        actor TEXT NOT NULL,           -- e-mail of the signed-in user, or 'owner' (CLI, single-user)
        role TEXT NOT NULL,
        action TEXT NOT NULL,          -- seg_core.team.access.ACTIONS
        target TEXT,                   -- run id, dataset or file
        outcome TEXT NOT NULL,         -- 'allowed' or 'refused'
        address TEXT,                  -- the browser's IP address as the server saw it
        bytes INTEGER,                 -- uploads: their size, for the per-user quota
        detail TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS audit_actor_action ON audit (actor, action, time)",
    "CREATE INDEX IF NOT EXISTS audit_target ON audit (target, action)",
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
)
_RUN_COLUMNS = (
    "id, name, status, config, pid, device, created_at, started_at, ended_at, best_metric, "
    "best_epoch, epochs_done, error, checkpoint_dir, host, earlier_s"
)


def validate_run_id(run_id: str) -> str:
    """Return `run_id` unchanged, or raise ValueError if it could escape a folder or a CLI."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(
            f"invalid run id {run_id!r}: use 1-64 lowercase letters, digits and '-', "
            "not starting with '-' (e.g. '20250101-120000-unet-3f2a')"
        )
    return run_id


def make_run_id(name: str) -> str:
    """`YYYYmmdd-HHMMSS-<slug of name, 24 chars max>-<4 hex>`, sortable by creation time."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24].strip("-") or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunRecord:
    """One row of `runs`; times are Unix seconds."""

    id: str
    name: str
    status: str
    config: dict
    pid: int | None
    device: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    best_metric: float | None
    best_epoch: int | None
    epochs_done: int
    error: str | None
    checkpoint_dir: Path
    host: str | None
    earlier_s: float = 0.0  # wall time of the attempts before the latest one (a resumed run)

    @property
    def duration_s(self) -> float | None:
        """Wall time of every attempt together (a stopped and resumed run counts the time it
        trained, not the pause); still counting while running, None if never started."""
        if self.started_at is None:
            return self.earlier_s or None
        end = self.ended_at if self.ended_at is not None else None
        if end is None and self.status == "running":
            end = time.time()
        return None if end is None else self.earlier_s + max(0.0, end - self.started_at)


@dataclass(frozen=True)
class MetricRow:
    id: int  # strictly increasing: pass the last one seen as `after_id` to read only new rows
    step: int
    epoch: int
    split: str  # "train", "val", "train_full", ...
    name: str  # "loss", "dice", "miou", ...
    value: float  # NaN stays NaN (SQLite stores it as NULL)
    time: float


@dataclass(frozen=True)
class LogRow:
    id: int
    time: float
    level: str
    message: str


def _record(row: sqlite3.Row) -> RunRecord:
    values = dict(row)
    values["config"] = json.loads(values["config"])
    values["checkpoint_dir"] = Path(values["checkpoint_dir"])
    return RunRecord(**values)
