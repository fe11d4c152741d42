"""The reporter a training run writes its progress through: log lines and metrics to the
run registry (rank 0 only) and to stdout."""

from __future__ import annotations

import time

from seg_core.runs.registry import RunRegistry


class RunReporter:
    """Sends a run's progress to the registry (rank 0 only) and to stdout.

    Step losses are buffered and flushed every `flush_s` seconds so a fast loop does not write
    to SQLite on every step.
    """

    def __init__(self, registry: RunRegistry | None, run_id: str, is_main: bool, flush_s: float = 2.0):
        self.registry, self.run_id, self.is_main, self.flush_s = registry, run_id, is_main, flush_s
        self._pending: list[tuple[int, int, str, str, float]] = []
        self._last_flush = time.monotonic()

    def log(self, message: str, level: str = "info") -> None:
        if not self.is_main:
            return
        print(f"[{level}] {message}", flush=True)
        if self.registry:
            self.registry.log(self.run_id, message, level)

    def metrics(self, rows: list[tuple[int, int, str, str, float]], flush: bool = True) -> None:
        if not self.is_main:
            return
        self._pending.extend(rows)
        if flush or time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        if self._pending and self.registry:
            self.registry.log_metrics(self.run_id, self._pending)
        self._pending = []
        self._last_flush = time.monotonic()
