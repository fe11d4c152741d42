"""Big folders segmented in the background for the Segment page (no Streamlit here).

A job is `python -m seg_core predict` in its own OS process and session, like a training run:
closing the browser, a refresh or an app restart does not touch it, and because `predict` keeps
a manifest, starting the same folder again resumes it. Each job has a folder under
`<home>/predictions/<job id>/` holding `job.json` (what was asked), `predict.log` (its console
output) and `out/` (masks, overlays, statistics, manifest). Progress is read from the manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from seg_core.core import paths
from seg_core.imagery.imageio import IMAGE_SUFFIXES
from seg_core.inference.batch import Manifest

# Sub-folders of a dataset that hold photos (Harvey and generic layouts).
PHOTO_SUBFOLDERS = ("train_images", "test_images", "images")


def jobs_dir() -> Path:
    return paths.home() / "predictions"


def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def photo_folders() -> list[Path]:
    """Folders under the data root that hold photos: each top folder and its image sub-folders
    (the app never opens a path a user types)."""
    root = paths.data_root()
    if not root.is_dir():
        return []
    found = []
    for top in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for folder in (top, *(top / name for name in PHOTO_SUBFOLDERS)):
            if folder.is_dir() and _photos_in(folder):
                found.append(folder)
    return found


@dataclass(frozen=True)
class BatchJob:
    id: str
    folder: str
    model: str
    out: str
    pid: int
    photos: int
    started: float


@dataclass(frozen=True)
class JobProgress:
    job: BatchJob
    status: str  # running | completed | failed
    done: int  # photos finished (segmented or found unusable)
    eta_s: float | None
    message: str  # the log's last line: the summary when completed, the error when failed


def start(model: Path, folder: Path, gsd_cm: float | None = None, tta: bool = False) -> BatchJob:
    """Launch `predict` over `folder` (one of `photo_folders()`) in its own process.

    Raises:
        ValueError: the folder is not one the app offers, or it holds no photos.
    """
    if folder not in photo_folders():
        raise ValueError(f"{folder} is not a photo folder under the data root {paths.data_root()}")
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    home = jobs_dir() / job_id
    out = home / "out"
    out.mkdir(parents=True)
    flag = "--model" if model.suffix.lower() == ".onnx" else "--checkpoint"
    command = [sys.executable, "-m", "seg_core", "predict", flag, str(model), "--out", str(out), str(folder)]
    command += ["--gsd", str(gsd_cm)] if gsd_cm else []
    command += ["--tta"] if tta else []
    with open(home / "predict.log", "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=paths.REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(paths.REPO_ROOT)},
            start_new_session=True,
        )
    job = BatchJob(
        job_id, str(folder), str(model), str(out), process.pid, len(_photos_in(folder)), time.time()
    )
    (home / "job.json").write_text(json.dumps(asdict(job)))
    return job


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped by the app server)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def _last_line(log: Path) -> str:
    try:
        lines = [line.split("\r")[-1].strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


def progress(job: BatchJob) -> JobProgress:
    out = Path(job.out)
    done = len(Manifest(out).records) if out.is_dir() else 0
    log = Path(job.out).parent / "predict.log"
    if _alive(job.pid):
        elapsed = time.time() - job.started
        eta = elapsed / done * (job.photos - done) if done else None
        return JobProgress(job, "running", done, eta, _last_line(log))
    if (out / "stats.json").is_file() and done >= job.photos:
        summary = next(
            (line for line in log.read_text(errors="replace").splitlines() if "segmented into" in line), ""
        )
        return JobProgress(job, "completed", done, 0.0, summary.strip())
    return JobProgress(job, "failed", done, None, _last_line(log) or "the job ended without a message")


def list_jobs() -> list[JobProgress]:
    """Every background job, newest first."""
    root = jobs_dir()
    if not root.is_dir():
        return []
    jobs = []
    for record in sorted(root.glob("*/job.json"), reverse=True):
        try:
            jobs.append(progress(BatchJob(**json.loads(record.read_text()))))
        except (OSError, ValueError, TypeError):
            continue  # a job folder being written right now, or not ours
    return jobs
