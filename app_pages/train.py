"""Train: pick a dataset and settings (or one of the study's presets), start or queue a run, and
watch the current run live. The run is an OS process; this page only reads the registry, so
leaving, refreshing or opening a second tab never loses or duplicates it."""

import json

import streamlit as st

from seg_core.core import paths
from seg_core.runs.registry import ACTIVE_STATUSES, RunRegistry
from seg_core.services import catalog, labelling
from seg_core.services import runs as run_actions
from seg_core.training import finetune, study
from seg_core.views import monitor
from ui import train_form
from ui.auth import current_caller
from ui.common import friendly_errors
from ui.live import ended_notice, live_run_view, run_view


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


def finetune_section(dataset: str) -> None:
    """The Label page's "Fine-tune on my labels", on the dataset chosen above (same engine call)."""
    models = catalog.list_models()
    with st.expander("Fine-tune a model on my labels", icon=":material/tune:"):
        st.caption(
            f"Trains the chosen model's whole network on the saved masks of **{dataset}** with a short "
            f"schedule for a few photos ({finetune.schedule_summary()}); the new run records its "
            "parent (Runs shows the lineage). Label photos on **Label** first."
        )
        if not models:
            st.caption("No model yet: train one, or rebuild the shipped demo model.")
            return
        by_path = {str(m.path): m for m in models}
        chosen = st.selectbox(
            "Model to fine-tune",
            list(by_path),
            format_func=lambda p: by_path[p].label,
            key="train_finetune_model",
        )
        if st.button("Fine-tune on my labels", icon=":material/model_training:", key="train_finetune"):
            with friendly_errors("Starting the fine-tuning run"):
                submission = labelling.finetune_on_labels(
                    catalog.resolve_dataset(dataset), by_path[chosen].path, caller=current_caller()
                )
                st.success(submission.message)


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
