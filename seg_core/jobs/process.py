"""Operating-system processes: is a pid alive, is it still the process a run recorded (and not
a reused pid), and signalling a process group. Knows nothing about the registry."""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from `state` on (the comm before it may contain spaces)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def process_start(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), None where unknown."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None  # field 22: starttime


def _cmdline(pid: int) -> list[str]:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def is_process_alive(pid: int) -> bool:
    """Whether `pid` is a running process (zombies count as dead)."""
    if not isinstance(pid, int) or pid <= 0:  # 0 and negatives address process groups in kill()
        return False
    if os.name == "nt":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    if not _PROC.is_dir():
        return True
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _windows_alive(pid: int) -> bool:
    # os.kill(pid, 0) would terminate the process on Windows; ask the kernel instead.
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    kernel32.CloseHandle(handle)
    return bool(ok) and code.value == 259  # STILL_ACTIVE


def owns_process(marker: str, pid: int | None, proc_start: int | None) -> bool:
    """Alive and not a reused pid: same kernel start time as recorded, or (when none was
    recorded) `marker` (a run id, a job's output folder) among its arguments. Without /proc, an
    alive pid is trusted."""
    if pid is None or not is_process_alive(pid):
        return False
    if not _PROC.is_dir():
        return True
    if proc_start is not None:
        return process_start(pid) == proc_start
    return marker in _cmdline(pid)


def signal_group(pid: int, sig: int) -> bool:
    """Send `sig` to the process group `pid` leads (DataLoader workers too), or to `pid` alone
    when it leads none. Returns False if the process is already gone."""
    killpg = getattr(os, "killpg", None)  # POSIX only
    try:
        if killpg is not None and os.getpgid(pid) == pid:
            killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
