"""The Segment page's background batches: pick a photo folder, start `predict` in its own
process, watch its progress (widgets only; the work is in seg_core.services.batch_jobs)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from seg_core.core import paths
from seg_core.core.progress import format_eta
from seg_core.core.text import count
from seg_core.services import batch_jobs
from ui.common import friendly_errors

SHOWN_JOBS = 5  # the newest; older ones stay on disk under <home>/predictions/


def background_batch(model_path: Path, gsd: float | None, tta: bool) -> None:
    with st.expander("Segment a whole folder in the background (thousands of photos)"):
        folders = batch_jobs.photo_folders()
        if not folders:
            st.caption(
                f"Put a folder of photos under the data root ({paths.data_root()}) to segment it here."
            )
        else:
            root = paths.data_root()
            folder = st.selectbox(
                "Photo folder",
                folders,
                format_func=lambda p: str(p.relative_to(root)),
                key="segment_batch_folder",
            )
            st.caption(
                "Runs as its own process with the model, GSD and TTA chosen above: closing the browser "
                "does not stop it, and starting the same folder again resumes it."
            )
            if st.button("Start in the background", icon=":material/play_arrow:", key="segment_batch_start"):
                with friendly_errors("Starting the batch"):
                    job = batch_jobs.start(model_path, folder, gsd, tta)
                    st.success(f"Started: {count(job.photos, 'photo')} into {job.out}")
        job_list()


def job_list() -> None:
    """The newest jobs; redrawn every 2 s only while one runs. A ticking fragment left on a page
    the analyst has left can still ask for reruns there, and each one cuts the page's own work
    short (the Label page's pre-labelling stopped after one photo), so nothing ticks for nothing."""
    items = batch_jobs.list_jobs()[:SHOWN_JOBS]
    if any(item.status == "running" for item in items):
        _live_job_list()
    else:
        _show_jobs(items)


@st.fragment(run_every=2)
def _live_job_list() -> None:
    items = batch_jobs.list_jobs()[:SHOWN_JOBS]
    _show_jobs(items)
    if not any(item.status == "running" for item in items):
        st.rerun(scope="app")  # the last job ended: the whole page draws the list without a timer


def _show_jobs(items) -> None:
    for item in items:
        job = item.job
        name = Path(job.folder).name
        if item.status == "running":
            eta = f", about {format_eta(item.eta_s)} left" if item.eta_s is not None else ""
            st.progress(
                min(item.done / max(job.photos, 1), 1.0), text=f"{name}: {item.done}/{job.photos}{eta}"
            )
        elif item.status == "completed":
            st.success(f"{name}: {item.message} (`{job.out}`)", icon=":material/check_circle:")
        else:
            st.error(f"{name}: stopped after {item.done} of {count(job.photos, 'photo')}: {item.message}")
