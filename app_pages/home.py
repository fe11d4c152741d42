"""Home: what StormSeg does, the state of things at a glance, first-run actions."""

import streamlit as st

from seg_core.core import paths
from seg_core.runs.registry import RunRegistry
from seg_core.services import catalog
from ui.auth import current_actor, current_caller, may
from ui.common import friendly_errors

st.title("StormSeg")
st.markdown(
    "Per-pixel maps of what is on the ground after a hurricane, from drone photos: roofs, pools, "
    "vehicles, trees, roads, **flooded ground**, water, boats and 17 more classes of the Hurricane "
    "Harvey scheme. Upload photos on **Segment** and put them on a **Map**; check a dataset on **Data**; "
    "pre-label and correct your own photos on **Label**; train and compare models on **Train** and "
    "**Runs**, score them on **Evaluate**."
)

# The figures are drawn last, into this slot: an action below (a new demo dataset) is counted in
# the same run, without a rerun the browser might not show.
figures = st.container()

registry = RunRegistry()
st.subheader("Get started")
left, right = st.columns(2)
with left, st.container(border=True):
    st.markdown(
        "**Segment a photo now** with the shipped demo model (trained on synthetic flood scenes and "
        "real aerial tiles of dry ground)."
    )
    st.page_link("app_pages/segment.py", label="Open Segment", icon=":material/satellite_alt:")
with right, st.container(border=True):
    demo = paths.data_root() / catalog.DEMO_DATASET_NAME
    offer = st.empty()  # the offer gives way to the link once the dataset exists, in the same run
    if not demo.is_dir():
        with offer.container():
            st.markdown(
                f"**Generate a demo dataset**: {catalog.DEMO_LABELLED} synthetic flooded-neighbourhood photos "
                f"with masks and {catalog.DEMO_TEST} test photos without, in the Harvey layout, to try "
                "training without real data (about 10 seconds)."
            )
            generate = st.button(
                "Generate demo dataset", type="primary", disabled=not may(current_actor(), "dataset.create")
            )
        if generate:
            bar = st.progress(0.0, text="Drawing scenes…")
            with friendly_errors("Generating the demo dataset"):
                catalog.create_demo_dataset(
                    progress=lambda done, total: bar.progress(done / total, text=f"Scene {done} of {total}"),
                    caller=current_caller(),
                )
                offer.empty()
                st.success(f"Wrote the demo dataset to {demo}.")
            bar.empty()
    if demo.is_dir():
        st.markdown(f"A demo dataset exists in `{demo}`. Check it on **Data** or train on it on **Train**.")
        st.page_link("app_pages/data.py", label="Open Data", icon=":material/folder_open:")

device = catalog.device_summary()
datasets = catalog.list_datasets()
models = catalog.list_models(registry)
active = registry.active()
running = [r for r in active if r.status == "running"]
with figures:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Compute", device["device"].upper(), help=device["name"])
    c2.metric("Datasets", len(datasets), help=f"folders under {paths.data_root()}")
    c3.metric("Models", len(models), help="the demo model plus every run's best checkpoint")
    c4.metric(
        "Training jobs", f"{len(running)} running", f"{len(active) - len(running)} queued", delta_color="off"
    )
    for run in running:
        st.info(
            f"Training **{run.name or run.id}** ({run.config.get('arch')}, epoch {run.epochs_done or 0} of "
            f"{run.config.get('epochs')}) on {run.device}."
        )
        st.page_link("app_pages/train.py", label="Watch it live", icon=":material/monitoring:")
