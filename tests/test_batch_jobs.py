"""Background batches for the Segment page: `predict` over a photo folder under the data root in
its own process (started by jobs.launcher, the home pinned), progress from its manifest, the
outcome from its exit record (never from the log's text), a killed job interrupted and resumed in
place, a reused pid never taken for the job; folders outside the data root are refused; the page
starts one and shows it."""

from __future__ import annotations

import json
import signal
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from helpers import wait_for, write_tiny_checkpoint
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.jobs.process import is_process_alive, process_start, signal_group
from seg_core.services import batch_jobs

PAGE = Path(__file__).resolve().parents[1] / "app_pages" / "segment.py"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.fixture
def flight() -> Path:
    folder = paths.data_root() / "flight"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"f{i}.jpg")
    return folder


def _wait(job: batch_jobs.BatchJob) -> batch_jobs.JobProgress:
    """The job's progress once it has ended (the bound is for a loaded machine: torch imports)."""
    wait_for(lambda: batch_jobs.progress(job).status != "running", timeout=300, what="the job to end")
    return batch_jobs.progress(job)


def test_a_background_job_segments_the_folder_and_reports_progress(checkpoint, flight):
    assert batch_jobs.photo_folders() == [flight]
    job = batch_jobs.start(checkpoint, flight)
    assert job.photos == 3 and batch_jobs.list_jobs()[0].job == job
    ended = _wait(job)
    assert (ended.status, ended.done) == ("completed", 3), (job.home / "predict.log").read_text()
    progress = batch_jobs.list_jobs()[0]
    assert (progress.status, progress.done) == ("completed", 3)
    assert "3 image(s) segmented" in progress.message
    assert (Path(job.out) / "f2_mask.png").is_file() and (Path(job.out) / "stats.json").is_file()


def test_folders_outside_the_data_root_are_refused(checkpoint, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "elsewhere" / "a.png")
    with pytest.raises(ValueError, match="is not a photo folder under the data root"):
        batch_jobs.start(checkpoint, tmp_path / "elsewhere")


def test_the_segment_page_starts_a_job_and_lists_it(checkpoint, flight, monkeypatch):
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", checkpoint)
    app = AppTest.from_file(str(PAGE), default_timeout=60).run()
    next(b for b in app.button if b.label == "Start in the background").click().run()
    assert not app.exception and not app.error
    assert any("Started: 3 photo(s)" in s.value for s in app.success)
    job = batch_jobs.list_jobs()[0].job
    assert _wait(job).status == "completed"
    app.run()
    assert any("3 image(s) segmented" in s.value for s in app.success)


# Stands in for `python -m seg_core`: reports what it was given, runs the real `predict` on the
# folder's first photo only where asked (so the manifest holds one), says so, and waits.
STUB_PREDICT = """
import json, os, sys, time
from pathlib import Path
from seg_core.cli import main

out = Path(os.environ["STUB_OUT"])
args = sys.argv[1:]  # predict --checkpoint MODEL --out OUT FOLDER
(out / "seen.json").write_text(json.dumps({"home": os.environ.get("STORMSEG_HOME"), "args": args}))
if os.environ.get("STUB_PREDICT_FIRST"):
    first = sorted(Path(args[-1]).iterdir())[0]
    main([*args[:-1], str(first)])  # in-process: no exit record, as a killed job leaves none
(out / "ready").write_text("")
time.sleep(120)
"""


@pytest.fixture
def stub_predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    code_dir, out = tmp_path / "stub", tmp_path / "stub-out"
    code_dir.mkdir()
    out.mkdir()
    (code_dir / "stormseg_stub_predict.py").write_text(textwrap.dedent(STUB_PREDICT))
    monkeypatch.setenv("PYTHONPATH", str(code_dir))
    monkeypatch.setenv("STUB_OUT", str(out))
    return "stormseg_stub_predict", out


@pytest.mark.slow
def test_a_killed_job_is_interrupted_and_starting_the_folder_again_resumes_it(
    checkpoint, flight, stub_predict, monkeypatch
):
    module, stub_out = stub_predict
    monkeypatch.setenv("STUB_PREDICT_FIRST", "1")
    job = batch_jobs.start(checkpoint, flight, module=module)
    try:
        wait_for(lambda: (stub_out / "ready").exists(), timeout=300, what="the first photo")
        assert (batch_jobs.progress(job).status, batch_jobs.progress(job).done) == ("running", 1)
    finally:
        signal_group(job.pid, signal.SIGKILL)  # a kill -9, or the machine going down
    wait_for(lambda: not is_process_alive(job.pid), what="the job to die")
    killed = batch_jobs.progress(job)
    assert (killed.status, killed.done) == ("interrupted", 1)
    assert "start the same folder again to resume" in killed.message

    resumed = batch_jobs.start(checkpoint, flight)
    assert (resumed.id, resumed.out, resumed.done_before) == (job.id, job.out, 1)
    assert [p.job.id for p in batch_jobs.list_jobs()] == [job.id]  # the same job, not a new one
    ended = _wait(resumed)
    log = (resumed.home / "predict.log").read_text()
    assert (ended.status, ended.done) == ("completed", 3), log
    assert "resuming: 1 of 3 photo(s) already done" in log
    assert ended.message.startswith("3 image(s) segmented")


def test_a_job_runs_in_the_apps_home_even_when_the_environment_names_none(
    checkpoint, stub_predict, tmp_path, monkeypatch
):
    module, stub_out = stub_predict
    home = tmp_path / "installed-home"  # an installed StormSeg's home is the app's current folder
    monkeypatch.delenv("STORMSEG_HOME")
    monkeypatch.setattr(paths, "home", lambda: home)
    folder = paths.data_root() / "flight"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    job = batch_jobs.start(checkpoint, folder, module=module)
    try:
        wait_for(lambda: (stub_out / "ready").exists(), timeout=300, what="the stub job")
        seen = json.loads((stub_out / "seen.json").read_text())
        assert seen["home"] == str(home)
        assert Path(job.out).is_relative_to(home / "predictions") and job.out in seen["args"]
    finally:
        signal_group(job.pid, signal.SIGKILL)


def test_a_reused_pid_is_never_taken_for_a_running_job(checkpoint, flight, sleeper):
    home = batch_jobs.jobs_dir() / "20250101-000000-abcd"
    (home / "out").mkdir(parents=True)
    stranger = sleeper()  # alive, with the pid the job once had
    job = batch_jobs.BatchJob(
        "20250101-000000-abcd", str(flight), str(checkpoint), str(home / "out"), stranger.pid, 3, 0.0
    )
    recycled = replace(job, proc_start=process_start(stranger.pid) - 1, writes_exit=True)
    (home / "job.json").write_text(json.dumps(asdict(recycled)))
    (listed,) = batch_jobs.list_jobs()
    assert listed.status == "interrupted" and stranger.poll() is None
    assert batch_jobs.progress(replace(recycled, proc_start=None)).status == "interrupted"  # no marker
    assert batch_jobs.progress(replace(recycled, proc_start=process_start(stranger.pid))).status == "running"


def test_a_failed_job_says_why_from_its_exit_record(flight, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    job = batch_jobs.start(broken, flight)
    ended = _wait(job)
    assert ended.status == "failed" and ended.message.startswith("error: ") and "broken.pt" in ended.message
