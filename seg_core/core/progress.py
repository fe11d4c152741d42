"""Progress with ETA, once: the time-left arithmetic (`EtaClock`), its wording (`format_eta`),
a callback for any display (`eta_updates`: the app's progress bars) and a dependency-free
console bar for the CLI (`ConsoleProgress`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


def eta_seconds(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left at the rate so far (`done` of `total` in `elapsed` s); None before any is done."""
    if done <= 0:
        return None
    return elapsed / done * max(total - done, 0)


class EtaClock:
    """Time left for work timed from now. `start_done`: units done before the clock started (a
    resumed run), which took none of its time; `now`: the clock read (tests pass their own)."""

    def __init__(self, start_done: int = 0, now: Callable[[], float] = time.perf_counter):
        self.now = now
        self.start = now()
        self.start_done = start_done

    def seconds(self, done: int, total: int) -> float | None:
        return eta_seconds(self.now() - self.start, done - self.start_done, total - self.start_done)


def eta_updates(
    show: Callable[[float, str], None], label: str, unit: str, clock: EtaClock | None = None
) -> Callable[[int, int], None]:
    """A (done, total) progress callback that calls show(fraction, text) with text like
    'ortho.tif: window 3 of 40, about 1m05s left', timed from this call (or by `clock`)."""
    clock = clock or EtaClock()

    def update(done: int, total: int) -> None:
        eta = format_eta(clock.seconds(done, total) or 0.0)
        show(done / max(total, 1), f"{label}: {unit} {done} of {total}, about {eta} left")

    return update


class ConsoleProgress:
    """Call with (done, total); draws `label [#####.....] 12/24 ETA 3s` on stderr.

    Redraws in place on a terminal; elsewhere (logs, CI) prints at most every 10% so log files
    stay readable.
    """

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.clock = EtaClock()
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        total = max(total, 1)
        eta = self.clock.seconds(done, total) or 0.0
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
