"""seg_core.core.atomic: the one atomic write (checkpoints, preview, prediction outputs, cache)."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from seg_core.core import atomic


def test_writes_through_a_pid_temp_in_the_same_folder_then_replaces(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    seen = {}

    def write(handle):
        seen["temp"] = handle.name
        handle.write(b"new")

    atomic.atomic_write(target, write)
    assert seen["temp"] == str(tmp_path / f".out.png.{os.getpid()}.partial")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("durable", [True, False])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, durable):
    target = tmp_path / "last.pt"
    target.write_bytes(b"good")

    def disk_full(handle):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic.atomic_write(target, disk_full, durable=durable)
    assert target.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_durable_writes_fsync_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    atomic.atomic_write_bytes(tmp_path / "a", b"x")
    assert len(synced) == 2
    atomic.atomic_write_bytes(tmp_path / "b", b"x", durable=False)
    assert len(synced) == 2


def test_stale_temps_of_every_writer_are_cleaned(tmp_path):
    from seg_core.schemes.scheme import HARVEY
    from seg_core.training.preview import save_preview

    (tmp_path / ".last.pt.123.partial").write_bytes(b"half")
    (tmp_path / ".preview.png.456.partial").write_bytes(b"half")
    truth = np.zeros((8, 8), np.uint8)
    save_preview(tmp_path / "preview.png", np.zeros((8, 8, 3), np.uint8), truth, truth, HARVEY)
    removed = atomic.clean_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == [".last.pt.123.partial", ".preview.png.456.partial"]
    assert [p.name for p in tmp_path.iterdir()] == ["preview.png"]
