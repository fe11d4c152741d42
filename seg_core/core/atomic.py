"""One way to write a file that readers and crashes never see half-written.

The bytes go to a temp file in the destination's folder (`<name>.<pid>.partial`: same file
system, so the rename is atomic; the pid keeps two writers apart), are fsynced, `os.replace`d
over the final name, and the folder is fsynced so the rename itself survives a power cut. A
crash or SIGKILL at any instant leaves either the old or the new file under the final name; a
temp left by a killed writer is removed by `clean_stale_temps`, and a failed write (a full disk)
removes its own temp before the error propagates.

Used by checkpoints, the training preview, prediction outputs and the dataset cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".partial"


def temp_path(path: str | Path) -> Path:
    """The temp name this process writes `path` through: hidden (a dot first), so a writer killed
    mid-write never leaves a stray that a dataset listing or a file browser shows."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def fsync_dir(folder: str | Path) -> None:
    """Make a rename inside `folder` durable (a no-op where folders cannot be opened, e.g. Windows,
    whose renames are atomic anyway)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], durable: bool = True) -> Path:
    """Write `path` through `write(handle)` atomically.

    Args:
        path: the final file name; its folder must exist.
        write: writes the whole content to the open binary handle.
        durable: fsync the file and its folder. Only a cache that is rebuilt when an entry
            fails to load may skip it (after a power cut its entry may be empty, never mixed).

    Raises:
        OSError: the disk is full or not writable; the previous file at `path` is untouched and
            no temp file is left behind.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> Path:
    """`atomic_write` of a bytes object."""
    return atomic_write(path, lambda handle: handle.write(data), durable)


def clean_stale_temps(folder: str | Path) -> list[Path]:
    """Remove temp files left in `folder` by writers killed mid-write; returns what was removed.

    Call it only where no other process is writing (e.g. a run's own checkpoint folder as it
    starts): a live writer's temp would be removed under it."""
    removed = []
    for tmp in Path(folder).glob(f"*{TEMP_SUFFIX}"):  # pathlib's * matches hidden names too
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed
