"""Flight-scale `predict`: the manifest makes a batch resumable after Ctrl-C or a crash without
redoing finished photos (a half-written output or a changed photo is redone, a torn manifest line
ignored), and torchrun shards a batch over 2 CPU processes: every photo exactly once, the same
masks and the same merged statistics as one process; workers whose launcher is killed leave
promptly and a rerun resumes."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import write_tiny_checkpoint
from PIL import Image

from seg_core.analytics import report
from seg_core.cli import main
from seg_core.inference import predictor as predictor_module
from seg_core.inference.batch import (
    GATHER_FACTOR,
    GATHER_SLACK,
    OUTPUT_SUFFIXES,
    Manifest,
    Shard,
    gather_timeout,
)

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = 5


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "flight"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(PHOTOS):
        Image.fromarray(rng.integers(0, 256, (60 + i, 80, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


@pytest.fixture
def predicted(monkeypatch) -> list[str]:
    """Names of the photos the model ran on."""
    names: list[str] = []
    real = predictor_module.Predictor.predict_full

    def predict_full(self, image, *args, name=None, **kwargs):
        names.append(name)
        return real(self, image, *args, name=name, **kwargs)

    monkeypatch.setattr(predictor_module.Predictor, "predict_full", predict_full)
    return names


def _predict(checkpoint: Path, out: Path, photos: Path) -> int:
    return main(["predict", "--checkpoint", str(checkpoint), "--out", str(out), str(photos)])


def _images(out: Path) -> list[dict]:
    return json.loads((out / "stats.json").read_text())["images"]


def test_an_interrupted_batch_resumes_without_redoing_finished_photos(
    checkpoint, photos, tmp_path, predicted, monkeypatch, capsys
):
    reference = tmp_path / "reference"
    assert _predict(checkpoint, reference, photos) == 0
    real_write = report.write_outputs

    def ctrl_c_on_the_third(out, name, *args, **kwargs):
        if name == "img2.png":
            raise KeyboardInterrupt
        return real_write(out, name, *args, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(report, "write_outputs", ctrl_c_on_the_third)
    assert _predict(checkpoint, out, photos) == 130
    monkeypatch.setattr(report, "write_outputs", real_write)
    assert not (out / "img2_mask.png").exists()
    # The photos finished before Ctrl-C already have their rows (issue 18: an interrupted batch
    # keeps what it did); the resumed run adds the rest.
    assert [image["name"] for image in _images(out)] == ["img0.png", "img1.png"]

    predicted.clear()
    capsys.readouterr()
    assert _predict(checkpoint, out, photos) == 0
    assert predicted == ["img2.png", "img3.png", "img4.png"]  # broken.jpg was recorded as unreadable
    captured = capsys.readouterr()
    assert "resuming: 3 of 6 photo(s) already done" in captured.err
    assert "broken.jpg" in captured.err and "5 image(s) segmented" in captured.out
    assert _images(out) == _images(reference)
    for i in range(PHOTOS):
        assert (out / f"img{i}_mask.png").read_bytes() == (reference / f"img{i}_mask.png").read_bytes()


def test_missing_outputs_changed_photos_and_torn_lines_are_redone(checkpoint, photos, tmp_path, predicted):
    out = tmp_path / "out"
    assert _predict(checkpoint, out, photos) == 0
    (out / "img1_overlay.jpg").unlink()  # as if the crash came between two of its files
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(photos / "img3.png")  # replaced since
    with open(out / "predict_manifest.0.jsonl", "a") as manifest:
        manifest.write(
            '{"source": "' + str((photos / "img4.png").resolve()) + '", "status": "do'
        )  # killed mid-line
    predicted.clear()
    assert _predict(checkpoint, out, photos) == 0
    assert predicted == ["img1.png", "img3.png"]
    assert [image["height"] for image in _images(out)] == [60, 61, 62, 30, 64]
    assert len(Manifest(out).records) == PHOTOS + 1
    assert _predict(checkpoint, out, photos) == 0 and predicted == ["img1.png", "img3.png"]  # all done now


def test_shards_split_the_list_once_and_reject_bad_ranks(monkeypatch):
    items = list(range(7))
    parts = [Shard(r, 3).take(items) for r in range(3)]
    assert sorted(x for part in parts for x in part) == items and parts[0] == [0, 3, 6]
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="rank 2 of world size 2"):
        Shard.from_env()


@pytest.mark.slow
def test_torchrun_with_two_processes_equals_one_process(checkpoint, photos, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    command = ["-m", "seg_core", "predict", "--checkpoint", str(checkpoint)]
    one = subprocess.run(
        [sys.executable, *command, "--out", str(single), str(photos)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    two = subprocess.run(
        [*launcher, *command, "--out", str(sharded), str(photos)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "[rank 0/2]" in two.stderr and "[rank 1/2]" in two.stderr
    lines = [
        json.loads(line) for rank in (0, 1) for line in (sharded / f"predict_manifest.{rank}.jsonl").open()
    ]
    sources = sorted(Path(record["source"]).name for record in lines)
    assert sources == sorted([f"img{i}.png" for i in range(PHOTOS)] + ["broken.jpg"])  # each exactly once
    assert {len(list((sharded / f"predict_manifest.{r}.jsonl").open())) for r in (0, 1)} == {3}
    for i in range(PHOTOS):
        assert (sharded / f"img{i}_mask.png").read_bytes() == (single / f"img{i}_mask.png").read_bytes()
    assert (sharded / "stats.json").read_text() == (single / "stats.json").read_text()
    assert (sharded / "stats.csv").read_text() == (single / "stats.csv").read_text()
    assert two.stdout.count("image(s) segmented") == 1  # one merged summary, from rank 0


def test_the_final_gather_waits_in_proportion_to_the_work_left():
    # Nothing left: the slack alone (start-up, model loading), not a fixed half day.
    assert gather_timeout(0, None) == GATHER_SLACK
    assert gather_timeout(10, 2.0) == GATHER_SLACK + datetime.timedelta(seconds=10 * 2.0 * GATHER_FACTOR)
    # This rank did nothing (all resumed) while another has photos left: an unmeasured pace.
    assert gather_timeout(3, None) > gather_timeout(3, 1.0) > gather_timeout(0, 1.0)
    assert gather_timeout(100, 0.5) < datetime.timedelta(hours=1)


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie nobody has reaped yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the workers through Linux /proc")
def test_workers_leave_when_the_torchrun_launcher_is_killed_and_a_rerun_resumes(checkpoint, tmp_path):
    folder, out = tmp_path / "flight", tmp_path / "out"
    folder.mkdir()
    rng = np.random.default_rng(1)
    count = 40  # enough that the workers are still busy when the launcher goes
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = ["-m", "seg_core", "predict", "--checkpoint", str(checkpoint), "--out", str(out), str(folder)]
    launcher_command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    with open(tmp_path / "launcher.log", "w") as log:
        launcher = subprocess.Popen(
            [*launcher_command, *command], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    workers: list[int] = []
    try:
        _wait_for(
            lambda: any(p.stat().st_size for p in out.glob("predict_manifest.*.jsonl")), "a first photo"
        )
        workers = _children(launcher.pid)
        assert len(workers) == 2, workers
        launcher.kill()  # kill -9: the agent cannot stop its workers
        launcher.wait()
        _wait_for(lambda: not any(_alive(pid) for pid in workers), "the workers to leave", timeout=120)
    finally:
        for pid in [*workers, launcher.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert "the launcher (pid" in (tmp_path / "launcher.log").read_text()
    done_before = [
        json.loads(line)
        for manifest in out.glob("predict_manifest.*.jsonl")
        for line in manifest.read_text().splitlines()
    ]
    for record in done_before:  # complete: every line whole, every photo it names fully written
        assert all((out / f"{record['stem']}{suffix}").is_file() for suffix in OUTPUT_SUFFIXES)
    # How many photos the workers finish before they notice the kill is scheduler luck (on a busy
    # machine all 40): the rerun below resumes from whatever they left, each photo once.

    rerun = subprocess.run(
        [sys.executable, *command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming: {len(done_before)} of {count} photo(s) already done" in rerun.stderr
    done = [
        json.loads(line)["source"]
        for manifest in out.glob("predict_manifest.*.jsonl")
        for line in manifest.read_text().splitlines()
    ]
    assert sorted(Path(source).name for source in done) == sorted(f"p{i:02d}.png" for i in range(count))
    assert len(_images(out)) == count
