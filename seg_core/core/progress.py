"""A dependency-free console progress bar with ETA, for the CLI (the app draws its own)."""

from __future__ import annotations

import sys
import time


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


class ConsoleProgress:
    """Call with (done, total); draws `label [#####.....] 12/24 ETA 3s` on stderr.

    Redraws in place on a terminal; elsewhere (logs, CI) prints at most every 10% so log files
    stay readable.
    """

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        total = max(total, 1)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (total - done) if done else 0.0
        filled = int(20 * done / total)
        line = f"{self.label} [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} ETA {format_eta(eta)}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        elif (decile := int(10 * done / total)) != self._last_decile:
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        """Print a line (a skipped file, a warning) on the bar's stream; on a terminal it replaces
        the half-drawn bar instead of being glued onto it, and the next update redraws the bar."""
        self.stream.write(("\r\033[K" if self.tty else "") + message + "\n")
        self.stream.flush()
