"""Run registry (SQLite): runs, their metrics and log lines.

A run is one row in `runs`, its numbers in `metrics` and its log lines in `logs`. A training
process writes while many Streamlit sessions (threads) read, hence:

- WAL mode, so readers never block the writer and the writer never blocks readers;
- a new connection per call, because sqlite3 connections must not cross threads and a short
  connection never pins an old snapshot;
- `BEGIN IMMEDIATE` for every write, so two writers queue on the busy timeout instead of
  failing with "database is locked" when a read transaction tries to upgrade to a write.

Starting and stopping a run's process is `runs.control`; telling whether a recorded pid is
still that run's process is `jobs.process`, which this module asks when it reconciles. The schema
and the row records are `runs.records`.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from seg_core.core import paths
from seg_core.jobs.process import owns_process, process_start
from seg_core.runs.records import (  # noqa: F401 (re-exported: callers import them from here)
    _RUN_COLUMNS,
    ACTIVE_STATUSES,
    BUSY_TIMEOUT_S,
    FINAL_STATUSES,
    LOG_LEVELS,
    PENDING_DEVICE,
    RUN_ID_PATTERN,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
    LogRow,
    MetricRow,
    RunRecord,
    _record,
    make_run_id,
    validate_run_id,
)


class RunRegistry:
    """The run registry at `db_path` (default `<home>/runs/registry.db`); safe from any thread."""

    def __init__(self, db_path: Path | None = None) -> None:
        self.db_path = Path(db_path) if db_path is not None else paths.runs_dir() / "registry.db"
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._ensure_schema()

    # -- connections ---------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # `timeout` is SQLite's busy_timeout; isolation_level=None: we issue BEGIN ourselves.
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL survives app crashes
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read connection inside one transaction: every query sees the same state."""
        with self._read() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _ensure_schema(self) -> None:
        self._enable_wal()
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.db_path} has schema version {version}; this StormSeg knows {SCHEMA_VERSION}"
                )
            for statement in SCHEMA:
                conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
            if "earlier_s" not in columns:  # a registry written before resumes banked their time
                conn.execute("ALTER TABLE runs ADD COLUMN earlier_s REAL NOT NULL DEFAULT 0")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _enable_wal(self) -> None:
        """Switch the database to WAL (persistent; cannot run inside a transaction).

        On a new database, processes opening it at the same instant (the first page loads, a
        Start, the trainer) race to switch it, and SQLite fails the loser at once with "database
        is locked" instead of waiting (waiting could deadlock), so retry within the busy timeout.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self._read() as conn:
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def _update(self, run_id: str, sql: str, params: Sequence[object]) -> int:
        """Run one UPDATE on `run_id`; raise if the run does not exist. Returns rows changed."""
        validate_run_id(run_id)
        with self._write() as conn:
            changed = conn.execute(sql, params).rowcount
            if not changed and not conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise ValueError(f"no run with id {run_id!r}")
        return changed

    # -- run lifecycle -------------------------------------------------------------------
    def create_run(self, config: dict, name: str | None = None) -> RunRecord:
        """Register a queued run and create its checkpoint folder.

        Args:
            config: the training settings (JSON-serialisable; Paths and the like become strings).
            name: display name; defaults to `config["name"]`, then `config["arch"]`, then "run".
        """
        if not isinstance(config, dict):
            raise ValueError(f"config must be a dict, got {type(config).__name__}")
        name = name or str(config.get("name") or config.get("arch") or "run")
        config_json = json.dumps(config, sort_keys=True, default=str)
        for _ in range(5):  # 4 random hex digits per second and name: retry the rare clash
            run_id = make_run_id(name)
            folder = paths.checkpoints_dir() / run_id
            try:
                with self._write() as conn:
                    conn.execute(
                        "INSERT INTO runs (id, name, status, config, created_at, checkpoint_dir, host) "
                        "VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                        (run_id, name, config_json, time.time(), str(folder), socket.gethostname()),
                    )
            except sqlite3.IntegrityError:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            return self.get(run_id)
        raise RuntimeError("could not allocate a unique run id")

    def mark_running(self, run_id: str, pid: int, device: str) -> None:
        """Record the training process. The child calls this with its real device; the
        launcher calls it with `PENDING_DEVICE`, which only fills in a still-queued run, so it
        never overwrites the child's device nor revives a run that already finished."""
        if not isinstance(pid, int) or pid <= 0:
            raise ValueError(f"pid must be a positive int, got {pid!r}")
        now, start, host = time.time(), process_start(pid), socket.gethostname()
        sql = (
            "UPDATE runs SET status = 'running', pid = ?, proc_start = ?, device = ?, "
            # A run resumed in place (`train --resume`) after an attempt that ended: bank that
            # attempt's time and start the clock again (SQLite's SET reads the old row).
            "earlier_s = earlier_s + CASE WHEN ended_at IS NOT NULL AND started_at IS NOT NULL "
            "THEN MAX(0, ended_at - started_at) ELSE 0 END, "
            "started_at = CASE WHEN ended_at IS NOT NULL THEN ? ELSE COALESCE(started_at, ?) END, "
            "host = ?, ended_at = NULL, error = NULL WHERE id = ?"
        )
        if device == PENDING_DEVICE:
            sql += " AND status = 'queued'"
        self._update(run_id, sql, (pid, start, device, now, now, host, run_id))

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """Set a final status (completed, stopped, failed, interrupted) and the end time."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"final status must be one of {FINAL_STATUSES}, got {status!r}")
        self._update(
            run_id,
            "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?",
            (status, time.time(), error, run_id),
        )

    def set_best(self, run_id: str, metric: float, epoch: int) -> None:
        self._update(
            run_id,
            "UPDATE runs SET best_metric = ?, best_epoch = ? WHERE id = ?",
            (float(metric), int(epoch), run_id),
        )

    def set_epochs_done(self, run_id: str, epochs: int) -> None:
        self._update(run_id, "UPDATE runs SET epochs_done = ? WHERE id = ?", (int(epochs), run_id))

    def requeue(self, run_id: str) -> None:
        """Put a finished run back in the queue (to resume it); refuses an active run."""
        if self.get(run_id).status in ACTIVE_STATUSES:
            raise ValueError(f"run {run_id!r} is already queued or running")
        self.reset_for_launch(run_id)

    def reset_for_launch(self, run_id: str) -> None:
        """Reset a run before (re)launching it: the last attempt's wall time is banked in
        `earlier_s`, and started/ended then describe the new attempt."""
        self._update(
            run_id,
            "UPDATE runs SET status = 'queued', pid = NULL, proc_start = NULL, device = NULL, "
            "earlier_s = earlier_s + CASE WHEN ended_at IS NOT NULL AND started_at IS NOT NULL "
            "THEN MAX(0, ended_at - started_at) ELSE 0 END, "
            "started_at = NULL, ended_at = NULL, error = NULL WHERE id = ?",
            (run_id,),
        )

    # -- metrics and logs ----------------------------------------------------------------
    def log_metrics(self, run_id: str, rows: Iterable[tuple[int, int, str, str, float]]) -> None:
        """Append `(step, epoch, split, name, value)` rows in one transaction."""
        validate_run_id(run_id)
        now = time.time()
        values = [(run_id, int(s), int(e), str(sp), str(n), float(v), now) for s, e, sp, n, v in rows]
        if not values:
            return
        try:
            with self._write() as conn:
                conn.executemany(
                    "INSERT INTO metrics (run_id, step, epoch, split, name, value, time) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
        except sqlite3.IntegrityError as exc:  # the foreign key: metrics of an unknown run
            raise ValueError(f"no run with id {run_id!r}") from exc

    def log(self, run_id: str, message: str, level: str = "info") -> None:
        validate_run_id(run_id)
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {LOG_LEVELS}, got {level!r}")
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO logs (run_id, time, level, message) VALUES (?, ?, ?, ?)",
                    (run_id, time.time(), level, str(message)),
                )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"no run with id {run_id!r}") from exc

    def metrics(self, run_id: str, after_id: int = 0, names: Sequence[str] | None = None) -> list[MetricRow]:
        """Metric rows with id > `after_id` (optionally only these `names`), oldest first."""
        validate_run_id(run_id)
        sql = "SELECT id, step, epoch, split, name, value, time FROM metrics WHERE run_id = ? AND id > ?"
        params: list[object] = [run_id, int(after_id)]
        if names is not None:
            names = list(names)
            if not names:
                return []
            sql += f" AND name IN ({', '.join('?' * len(names))})"
            params += names
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [
            MetricRow(**{**dict(r), "value": float("nan") if r["value"] is None else r["value"]})
            for r in rows
        ]

    def logs(self, run_id: str, after_id: int = 0, limit: int = 200) -> list[LogRow]:
        """The newest `limit` log lines with id > `after_id`, oldest first (a live tail)."""
        validate_run_id(run_id)
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit!r}")
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM (SELECT id, time, level, message FROM logs WHERE run_id = ? AND id > ? "
                "ORDER BY id DESC LIMIT ?) ORDER BY id",
                (run_id, int(after_id), int(limit)),
            ).fetchall()
        return [LogRow(**dict(r)) for r in rows]

    # -- queries -------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        validate_run_id(run_id)
        with self._read() as conn:
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise ValueError(f"no run with id {run_id!r}")
        return _record(row)

    def list(self, statuses: Sequence[str] | None = None) -> list[RunRecord]:
        """Runs, newest first, after marking dead ones interrupted (see `reconcile`)."""
        statuses = list(STATUSES if statuses is None else statuses)
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise ValueError(f"unknown status {unknown[0]!r}; expected one of {STATUSES}")
        self.reconcile()
        if not statuses:
            return []
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN ({', '.join('?' * len(statuses))}) "
                "ORDER BY created_at DESC, rowid DESC",
                statuses,
            ).fetchall()
        return [_record(r) for r in rows]

    def active(self) -> list[RunRecord]:
        return self.list(ACTIVE_STATUSES)

    def is_live(self, run_id: str) -> bool:
        """Whether the run's recorded process is alive on this host and is really that run's."""
        validate_run_id(run_id)
        with self._read() as conn:
            row = conn.execute("SELECT pid, proc_start, host FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise ValueError(f"no run with id {run_id!r}")
        return row["host"] in (None, socket.gethostname()) and owns_process(
            run_id, row["pid"], row["proc_start"]
        )

    def reconcile(self) -> list[str]:
        """Mark 'running' runs whose process is gone (or whose pid now belongs to another
        process) as 'interrupted'. Runs recorded on another host are left alone.

        Returns:
            The ids marked interrupted.
        """
        host = socket.gethostname()
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, pid, proc_start, host FROM runs WHERE status = 'running'"
            ).fetchall()
        gone = [
            r
            for r in rows
            if r["host"] in (None, host) and not owns_process(r["id"], r["pid"], r["proc_start"])
        ]
        error = "the training process ended without reporting a final status"
        return [r["id"] for r in gone if self.close_if_running(r["id"], r["pid"], "interrupted", error)]

    def close_if_running(self, run_id: str, pid: int | None, status: str, error: str | None) -> bool:
        """Give a final status to a run still recorded as running under `pid`; whether it did."""
        # `pid IS ?`: a relaunch in the meantime recorded a new process; leave that one alone.
        return bool(
            self._update(
                run_id,
                "UPDATE runs SET status = ?, ended_at = ?, error = COALESCE(error, ?) "
                "WHERE id = ? AND status = 'running' AND pid IS ?",
                (status, time.time(), error, run_id, pid),
            )
        )

    def delete(self, run_id: str) -> None:
        """Remove a run's rows, log file and checkpoint folder; refuses while it is running.
        (Who may delete, and the audit row: `services.runs.delete`.)

        The folder is removed only if it is exactly `<checkpoints_dir>/<run_id>` once resolved,
        so a stale or edited record can never make this delete anything else.
        """
        validate_run_id(run_id)
        self.reconcile()
        run = self.get(run_id)
        if run.status == "running":
            raise ValueError(f"run {run_id!r} is running (pid {run.pid}); stop it before deleting")
        root = paths.checkpoints_dir().resolve()
        folder = run.checkpoint_dir.resolve()
        if folder.parent == root and folder.name == run_id and folder.is_dir():
            shutil.rmtree(folder)
        (paths.runs_dir() / f"{run_id}.log").unlink(missing_ok=True)
        with self._write() as conn:
            for table, column in (("metrics", "run_id"), ("logs", "run_id"), ("runs", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (run_id,))
