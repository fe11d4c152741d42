"""What the benchmarks read about processes: resident memory now and at peak, and worker runs."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux folds the parent's resident size at
    fork time into a child's ru_maxrss, which inflated every figure measured from a big parent."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size now (Linux); the peak so far where /proc is missing."""
    now = _status_mb("VmRSS")
    return now if now is not None else peak_rss_mb()


def run_worker(script: str, *args: object) -> dict:
    """`python SCRIPT --worker ARGS...` in a fresh process; its last stdout line is JSON."""
    output = subprocess.run(
        [sys.executable, script, "--worker", *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])
