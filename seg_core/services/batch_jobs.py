"""Big folders segmented in the background for the Segment page (no Streamlit here).

A job is `python -m seg_core predict` started by `jobs.launcher`, like a training run: its own
process and session, so closing the browser, a refresh or an app restart does not touch it.
Each job has a folder under `<home>/predictions/<job id>/` holding `job.json` (what was asked,
and the pid with its kernel start time), `predict.log` (its console output), `exit.json` (how
the process ended, written by itself as its last act) and `out/` (masks, overlays, statistics
and predict's manifest).

Everything the page shows comes from these records, never from the log's text: progress from
the manifest, the outcome from the exit record. A process that is gone without an exit record
was killed (or the machine restarted): the job is interrupted, and starting the same folder
with the same model and settings again resumes it in place (the manifest skips what is done).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from seg_core.core import paths
from seg_core.core.atomic import atomic_write_bytes
from seg_core.core.locks import file_lock
from seg_core.core.progress import eta_seconds
from seg_core.imagery.imageio import IMAGE_SUFFIXES
from seg_core.inference.batch import Manifest
from seg_core.jobs.launcher import CLI_MODULE, launch, read_exit
from seg_core.jobs.process import owns_process

# Sub-folders of a dataset that hold photos (Harvey and generic layouts).
PHOTO_SUBFOLDERS = ("train_images", "test_images", "images")
INTERRUPTED_EXIT = 130  # Ctrl-C / SIGINT: the CLI's conventional 128 + 2
STATUSES = ("running", "completed", "failed", "interrupted")


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
    started: float  # this attempt's start (a resumed job starts again)
    proc_start: int | None = None  # the pid's kernel start time: a reused pid is not this job
    model_mtime: float | None = None  # the model file's version: a retrained model is a new job
    gsd_cm: float | None = None
    tta: bool = False
    done_before: int = 0  # photos finished by earlier attempts (a resumed job's ETA omits them)
    writes_exit: bool = False  # False: started before jobs recorded how they ended

    @property
    def home(self) -> Path:
        return Path(self.out).parent


@dataclass(frozen=True)
class JobProgress:
    job: BatchJob
    status: str  # one of STATUSES
    done: int  # photos finished (segmented or found unusable)
    eta_s: float | None
    message: str  # the summary when completed, why it ended otherwise


def start(
    model: Path, folder: Path, gsd_cm: float | None = None, tta: bool = False, module: str = CLI_MODULE
) -> BatchJob:
    """Launch `predict` over `folder` (one of `photo_folders()`) in its own process; an
    interrupted or failed job of the same folder, model and settings is resumed in place.

    Args:
        module: the CLI module; tests point it at a stub.

    Raises:
        ValueError: the folder is not one the app offers, or it holds no photos.
    """
    if folder not in photo_folders():
        raise ValueError(f"{folder} is not a photo folder under the data root {paths.data_root()}")
    # Two Starts of the same interrupted job (two tabs) must not resume it twice into one folder.
    with file_lock(jobs_dir() / "start.lock"):
        return _start(model, folder, gsd_cm, tta, module)


def _start(model: Path, folder: Path, gsd_cm: float | None, tta: bool, module: str) -> BatchJob:
    settings = {"model_mtime": _mtime(model), "gsd_cm": gsd_cm, "tta": tta}
    earlier = next(
        (
            p.job
            for p in list_jobs()
            if p.status in ("interrupted", "failed")
            and (p.job.folder, p.job.model) == (str(folder), str(model))
            and {k: getattr(p.job, k) for k in settings} == settings
        ),
        None,
    )
    if earlier is not None:
        job = replace(
            earlier, photos=len(_photos_in(folder)), done_before=len(_finished(earlier)), writes_exit=True
        )
        (job.home / "exit.json").unlink(missing_ok=True)  # the earlier attempt's ending
    else:
        job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
        out = jobs_dir() / job_id / "out"
        out.mkdir(parents=True)
        photos = len(_photos_in(folder))
        job = BatchJob(
            job_id, str(folder), str(model), str(out), 0, photos, 0.0, **settings, writes_exit=True
        )
    flag = "--model" if model.suffix.lower() == ".onnx" else "--checkpoint"
    args = ["predict", flag, str(model), "--out", job.out, str(folder)]
    args += ["--gsd", str(gsd_cm)] if gsd_cm else []
    args += ["--tta"] if tta else []
    launched = launch(args, job.home / "predict.log", exit_record=job.home / "exit.json", module=module)
    job = replace(job, pid=launched.pid, proc_start=launched.proc_start, started=time.time())
    atomic_write_bytes(job.home / "job.json", json.dumps(asdict(job)).encode())
    return job


def _mtime(model: Path) -> float | None:
    try:
        return model.stat().st_mtime
    except OSError:
        return None  # predict says why in its exit record


def _finished(job: BatchJob) -> list[dict]:
    """The manifest's record of each photo finished (segmented, or found unusable)."""
    out = Path(job.out)
    return list(Manifest(out).records.values()) if out.is_dir() else []


def progress(job: BatchJob) -> JobProgress:
    """Where `job` stands, from its records: its exit record, its manifest and its process."""
    finished = _finished(job)
    done = len(finished)
    ended = read_exit(job.home / "exit.json")
    if ended is not None and ended.pid == job.pid:
        return _outcome(job, finished, ended.exit_code, ended.error)
    if owns_process(job.out, job.pid, job.proc_start):
        # photos done by earlier attempts took none of this attempt's time
        eta = eta_seconds(time.time() - job.started, done - job.done_before, job.photos - job.done_before)
        return JobProgress(job, "running", done, eta, f"{done} of {job.photos} photo(s) done")
    if not job.writes_exit:  # no exit record to read: its outputs tell whether it got through
        whole = (Path(job.out) / "stats.json").is_file() and done >= job.photos
        return _outcome(
            job, finished, 0 if whole else 1, None if whole else "the job ended without a message"
        )
    return JobProgress(
        job,
        "interrupted",
        done,
        None,
        "the process ended without finishing (killed, or the machine restarted); "
        "start the same folder again to resume it",
    )


def _outcome(job: BatchJob, finished: list[dict], exit_code: int, error: str | None) -> JobProgress:
    done = len(finished)
    unread = [r.get("message") or r["source"] for r in finished if r.get("status") != "done"]
    if exit_code == 0:
        # Without the output folder: the page shows it beside the summary.
        summary = f"{done - len(unread)} image(s) segmented, {len(unread)} skipped"
        return JobProgress(job, "completed", done, 0.0, summary)
    if exit_code == INTERRUPTED_EXIT:
        return JobProgress(
            job, "interrupted", done, None, "interrupted; start the same folder again to resume it"
        )
    if error is None and unread:  # predict's "nothing usable": every photo was unreadable
        error = f"no photo could be segmented; {len(unread)} could not be read: {unread[0]}"
    return JobProgress(job, "failed", done, None, error or f"predict ended with exit status {exit_code}")


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
            continue  # not ours (written atomically, so never half of one)
    return jobs
