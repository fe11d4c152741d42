"""Background batches for the Segment page: `predict` over a photo folder under the data root in
its own process, progress from its manifest, the summary when done; folders outside the data
root are refused; the page starts one and shows it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import write_tiny_checkpoint
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
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


def _wait(job: batch_jobs.BatchJob) -> None:
    _, status = os.waitpid(job.pid, 0)  # the job is this test process's child
    assert os.waitstatus_to_exitcode(status) == 0, (Path(job.out).parent / "predict.log").read_text()


def test_a_background_job_segments_the_folder_and_reports_progress(checkpoint, flight):
    assert batch_jobs.photo_folders() == [flight]
    job = batch_jobs.start(checkpoint, flight)
    assert job.photos == 3 and batch_jobs.list_jobs()[0].job == job
    _wait(job)
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
    _wait(job)
    app.run()
    assert any("3 image(s) segmented" in s.value for s in app.success)
