"""Train: pick a dataset and settings (or one of the study's presets), start or queue a run, and
watch the current run live. The run is an OS process; this page only reads the registry, so
leaving, refreshing or opening a second tab never loses or duplicates it."""

import json

import streamlit as st

from seg_core.core import paths
from seg_core.runs.registry import ACTIVE_STATUSES, RunRegistry
from seg_core.services import catalog, labelling
from seg_core.services import runs as run_actions
from seg_core.training import study
from seg_core.views import monitor
from ui import train_form
from ui.auth import current_caller
from ui.common import friendly_errors
from ui.finetune import LABELLED_DATASET_KEY, finetune_controls
from ui.live import ended_notice, live_run_view, run_view
from ui.pickers import model_picker, pick_by_id


def submit_one(dataset: str) -> None:
    try:
        cfg = train_form.checked_config(train_form.form_values(dataset))
    except ValueError as exc:
        st.error(f"Cannot start: {exc}")
        return
    signature = json.dumps(cfg.to_dict(), sort_keys=True)
    if train_form.is_double_click(signature):
        st.session_state["train_last_submission"]["messages"].append(
            "Already submitted (double click ignored)."
        )
        return
    with friendly_errors("Starting the run"):
        submission = run_actions.start(cfg, current_caller())
        train_form.remember(signature, [submission.message], submission.started)


def submit_study(dataset: str) -> None:
    with friendly_errors("Queueing the study"):
        imagenet = train_form.imagenet_reachable()
        configs = train_form.checked_study(dataset, imagenet)
        signature = json.dumps([c.to_dict() for c in configs], sort_keys=True)
        if train_form.is_double_click(signature):
            return
        submissions = [run_actions.start(cfg, current_caller()) for cfg in configs]
        messages = [s.message for s in submissions]
        if not imagenet:
            messages.append(study.NO_IMAGENET_NOTICE)
        train_form.remember(signature, messages, any(s.started for s in submissions))


def finetune_section(form_dataset: str) -> None:
    """Fine-tune on my labels, as on the Label page: the dataset being labelled (if any), else the
    form's, and the session's model."""
    with st.expander("Fine-tune a model on my labels", icon=":material/tune:"):
        datasets = [d.name for d in catalog.list_datasets()]
        labelled = st.session_state.get(LABELLED_DATASET_KEY)
        name = pick_by_id(
            "Dataset with the saved masks",
            datasets,
            str,
            LABELLED_DATASET_KEY,
            default=labelled if labelled in datasets else form_dataset,
            help="The dataset you label on the Label page (or any other with saved masks).",
        )
        models = catalog.list_models()
        if not models:
            st.caption("No model yet: train one, or rebuild the shipped demo model.")
            return
        model = model_picker(models, "Model to fine-tune")
        dataset = catalog.resolve_dataset(name)
        saved = sum(1 for row in labelling.photo_table(dataset) if row["status"] in ("corrected", "labelled"))
        finetune_controls(dataset, model, saved, key="train_finetune")


def show_last_submission() -> None:
    last = st.session_state.get("train_last_submission")
    if last:
        (st.success if last["started"] else st.info)("  \n".join(last["messages"]))


st.title("Train")
st.markdown(
    "Train a segmentation model on a dataset under the data root and watch it learn. Runs keep going when "
    "you leave this page; compare them on **Runs**, use their model on **Segment** and **Evaluate**."
)

datasets = catalog.list_datasets()
if datasets:
    dataset = train_form.settings_form(datasets)
    with st.container(horizontal=True, vertical_alignment="center"):
        if st.button("Start training", type="primary", icon=":material/play_arrow:"):
            submit_one(dataset)
        if st.button(
            "Queue the whole study (4 runs)",
            icon=":material/playlist_add:",
            help="The study's four runs on this dataset, one after another, at this resolution, crop "
            "and batch size; each keeps its own optimiser, learning rate, epochs and augmentation.",
        ):
            submit_study(dataset)
        st.caption("One job trains at a time; a run started while another is training waits in the queue.")
    show_last_submission()
    finetune_section(dataset)
else:
    st.info(
        f"No dataset yet. Generate the synthetic demo dataset with **Generate demo dataset** on Home, or put a "
        f"Hurricane Harvey folder (train_images/ + train_masks/) or an images/ + masks/ folder under the data root "
        f"`{paths.data_root()}`."
    )
    st.page_link("app_pages/home.py", label="Open Home", icon=":material/home:")

st.divider()
registry = RunRegistry()
runs = registry.list()
current = monitor.current_run(runs)
header, link = st.columns([4, 1], vertical_alignment="bottom")
header.subheader("Current run")
link.page_link("app_pages/runs.py", label="All runs and comparisons", icon=":material/query_stats:")
ended_notice(current.id if current else None)
if current is None:
    st.caption("No runs yet: start one above.")
else:
    waiting = [
        r for r in sorted(runs, key=lambda r: r.created_at) if r.status == "queued" and r.id != current.id
    ]
    if waiting:
        st.caption(f"Waiting in the queue: {', '.join(r.name for r in waiting)}.")
    if current.status in ACTIVE_STATUSES:
        live_run_view(current.id)
    else:
        run_view(current.id)
