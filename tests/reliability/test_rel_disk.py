"""The disk fills up during a training job: the run fails with the reason, the previous epoch's
checkpoints still load, no temp file is left, and the registry is intact.

Two ways to run out of space:
- simulated: the job is launched (as the app launches it) through a wrapper module that makes
  the third `last.pt` save write half a file and raise ENOSPC, then runs seg_core's CLI;
- real: the checkpoints folder lives on a small tmpfs that the test fills once two epochs are
  committed (needs root and mount rights; skipped otherwise).

(tests/test_checkpoint.py checks save_checkpoint alone against a failing torch.save.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers import registry_integrity
from test_train import _wait_for, tiny_config

from seg_core.core import paths
from seg_core.models.checkpoint import load_checkpoint
from seg_core.runs.control import launch
from seg_core.runs.registry import RunRegistry
from seg_core.training import queue as run_queue

ENOSPC_WRAPPER = textwrap.dedent(
    """
    import errno, os, sys
    import torch
    from seg_core.cli import main

    real_save, saves = torch.save, []

    def save(obj, f, *args, **kwargs):
        if "last.pt" in str(getattr(f, "name", f)):
            saves.append(1)
            if len(saves) == int(os.environ["FAIL_ON_LAST_SAVE"]):
                f.write(b"PK\\x03\\x04 half a checkpoint")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    torch.save = save
    sys.exit(main(sys.argv[1:]))
    """
)


def _check_failed_cleanly(registry: RunRegistry, run_id: str) -> int:
    """The checks both ways share; returns the epochs committed before the disk filled."""
    _wait_for(lambda: registry.get(run_id).status not in ("queued", "running"), timeout=120, what="the end")
    run = registry.get(run_id)
    assert run.status == "failed", (run.status, run.error)
    assert "no space left" in run.error.lower() and "resume" in run.error
    assert not run.error.startswith("internal error")
    committed = run.epochs_done
    assert committed >= 2
    last = load_checkpoint(run.checkpoint_dir / "last.pt")
    assert last["train_state"]["loop"]["epoch"] == committed  # the previous epoch's, whole
    assert load_checkpoint(run.checkpoint_dir / "best.pt")["meta"]["epoch"] <= committed
    leftovers = [p.name for p in run.checkpoint_dir.iterdir() if p.name.endswith((".partial", ".tmp"))]
    assert leftovers == []
    assert registry_integrity(registry.db_path) == "ok"
    epochs = {m.epoch for m in registry.metrics(run_id, names=["dice"]) if m.split == "val"}
    assert set(range(1, committed + 1)) <= epochs
    assert any("no space left" in line.message.lower() for line in registry.logs(run_id, limit=50))
    return committed


@pytest.mark.slow
def test_enospc_on_a_save_fails_the_run_with_the_reason(tiny_dataset, tmp_path, monkeypatch) -> None:
    code = tmp_path / "wrapper"
    code.mkdir()
    (code / "stormseg_enospc.py").write_text(ENOSPC_WRAPPER)
    monkeypatch.setenv("PYTHONPATH", str(code))
    monkeypatch.setenv("FAIL_ON_LAST_SAVE", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    registry = RunRegistry()
    run = registry.create_run(tiny_config(tiny_dataset, epochs=5).to_dict(), name="full disk")
    launch(run.id, registry, module="stormseg_enospc")  # as run_queue.dispatch launches a run
    assert _check_failed_cleanly(registry, run.id) == 2
    print(f"\nENOSPC (simulated, 3rd last.pt save): {registry.get(run.id).error}")


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    return result.returncode == 0


def _fill(folder: Path) -> int:
    """Write a file until the disk is full; returns its size."""
    written = 0
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                written += handle.write(b"\0" * 65536)
        except OSError:
            pass
    return written


@pytest.mark.slow
def test_a_real_full_disk_fails_the_run_with_the_reason(tiny_dataset, tmp_path, monkeypatch) -> None:
    mount = tmp_path / "small_disk"
    if not _mount_tmpfs(mount, "16m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights); the simulated test stands")
    try:
        paths.checkpoints_dir().parent.mkdir(parents=True, exist_ok=True)
        paths.checkpoints_dir().symlink_to(mount)  # the registry stays on the roomy disk
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        registry = RunRegistry()
        submission = run_queue.submit(tiny_config(tiny_dataset, epochs=1000, name="full disk"), registry)
        run_id = submission.run.id
        _wait_for(lambda: registry.get(run_id).epochs_done >= 2, timeout=120, what="two epochs")
        filler = _fill(mount)
        committed = _check_failed_cleanly(registry, run_id)
        print(
            f"\nENOSPC (tmpfs of 16 MB filled with {filler / 1e6:.1f} MB after epoch 2): failed after "
            f"{committed} committed epochs: {registry.get(run_id).error}"
        )
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
