"""The audit trail: one row per guarded action, allowed or refused, in the run registry's database.

The table (`audit`, defined with the registry's schema) is append-only: SQLite triggers abort
any UPDATE or DELETE, so neither the app nor a bug in it can rewrite history; only someone with
shell access to the database file can. Rows are written by `seg_core.team.access`; this module
stores and reads them and needs only the database path, so it never imports the registry.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Protocol

BUSY_TIMEOUT_S = 10.0  # as the registry: a writer waits this long for the lock
# refused: by the access rules; failed: allowed, but the action itself refused its input (the
# reason in `detail`), so an audited attempt never reads as done when nothing was.
OUTCOMES = ("allowed", "refused", "failed")
START_ACTION = "run.start"  # the row that attributes a run to the person who started it


class HasDatabase(Protocol):
    """A RunRegistry, or anything else that names the registry database (and created its schema)."""

    db_path: Path


@dataclass(frozen=True)
class AuditRow:
    id: int
    time: float  # Unix seconds
    actor: str
    role: str
    action: str
    target: str | None
    outcome: str
    address: str | None
    bytes: int | None
    detail: str | None


COLUMNS = tuple(f.name for f in fields(AuditRow))


@contextmanager
def _connect(registry: HasDatabase) -> Iterator[sqlite3.Connection]:
    # A connection per call, as the registry (Streamlit serves sessions from many threads).
    conn = sqlite3.connect(registry.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def record(
    registry: HasDatabase,
    actor: str,
    role: str,
    action: str,
    outcome: str,
    target: str | None = None,
    address: str | None = None,
    size_bytes: int | None = None,
    detail: str | None = None,
    at: float | None = None,
) -> None:
    """Append one row (its own transaction, committed before the action it describes goes on);
    `at`: its time (Unix seconds), now by default."""
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {OUTCOMES}, got {outcome!r}")
    with _connect(registry) as conn:
        conn.execute(
            "INSERT INTO audit (time, actor, role, action, target, outcome, address, bytes, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time() if at is None else at,
                actor,
                role,
                action,
                target,
                outcome,
                address,
                size_bytes,
                detail,
            ),
        )


def rows(
    registry: HasDatabase, limit: int = 10_000, actor: str | None = None, action: str | None = None
) -> list[AuditRow]:
    """The newest `limit` rows, newest first, optionally of one actor and/or one action."""
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit!r}")
    sql, params = f"SELECT {', '.join(COLUMNS)} FROM audit WHERE 1 = 1", []
    if actor is not None:
        sql, params = sql + " AND actor = ?", [*params, actor]
    if action is not None:
        sql, params = sql + " AND action = ?", [*params, action]
    with _connect(registry) as conn:
        found = conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, int(limit)]).fetchall()
    return [AuditRow(*row) for row in found]


def to_csv(audit_rows: Sequence[AuditRow]) -> bytes:
    """The rows as CSV (UTF-8, a header line, times as ISO 8601 UTC next to the Unix time)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*COLUMNS, "time_utc"])
    for row in audit_rows:
        writer.writerow([*astuple(row), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.time))])
    return buffer.getvalue().encode()


def run_owners(registry: HasDatabase, run_ids: Sequence[str] | None = None) -> dict[str, str]:
    """Who started each run (run id -> actor); runs started outside the guarded path (the CLI's
    `train`) have no row and are absent."""
    sql = "SELECT target, actor FROM audit WHERE action = ? AND outcome = 'allowed'"
    params: list[object] = [START_ACTION]
    if run_ids is not None:
        if not run_ids:
            return {}
        sql += f" AND target IN ({', '.join('?' * len(run_ids))})"
        params += list(run_ids)
    with _connect(registry) as conn:
        found = conn.execute(sql + " ORDER BY id DESC", params).fetchall()
    return dict(found)  # newest first, so the oldest row (the run's first start) is written last


def uploaded_bytes(registry: HasDatabase, actor: str, since: float) -> int:
    """Bytes `actor` uploaded (allowed upload rows) since `since` (Unix seconds)."""
    with _connect(registry) as conn:
        (total,) = conn.execute(
            "SELECT COALESCE(SUM(bytes), 0) FROM audit "
            "WHERE actor = ? AND action = 'upload' AND outcome = 'allowed' AND time >= ?",
            (actor, since),
        ).fetchone()
    return int(total)
