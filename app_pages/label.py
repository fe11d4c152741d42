"""Label: pre-label a new storm's photos with a model, correct them, save masks, fine-tune."""

from __future__ import annotations

import getpass

import streamlit as st

from seg_core.core import paths
from seg_core.labelling.labelstore import check_who
from seg_core.services import catalog, labelling
from ui import label_view, partial_view
from ui.auth import current_actor
from ui.common import friendly_errors, load_predictor, percent

st.title("Label photos")
st.caption(
    "Pre-label a new storm's photos with any model, correct them with region fills, brush and polygon, "
    "save the masks, and fine-tune the model on them: predict, correct, fine-tune, repeat."
)


def _default_who() -> str:
    try:
        return check_who(getpass.getuser())
    except (ValueError, OSError, KeyError):
        return "analyst"


with st.sidebar:
    if current_actor() is None:
        who = st.text_input("Your name (saved with each mask)", value=_default_who(), key="label_who")
    else:  # signed in: masks carry the account, not a typed name
        who = current_actor().user
try:
    check_who(who)
except ValueError as exc:
    st.error(str(exc))
    st.stop()

datasets = catalog.list_datasets()
with (
    st.sidebar.expander("Create a dataset from photos", expanded=not datasets),
    st.form("label_new_dataset", clear_on_submit=True),
):
    name = st.text_input("Dataset name", placeholder="e.g. ian-2026-fort-myers")
    uploads = st.file_uploader(
        "Photos (JPEG, PNG, TIFF)",
        accept_multiple_files=True,
        type=["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp"],
    )
    if st.form_submit_button("Create dataset", type="primary"):
        with friendly_errors("Creating the dataset"):
            folder, refused = labelling.create_dataset_from_photos(
                paths.data_root(),
                name,
                [(f.name, f.getvalue()) for f in uploads or []],
                actor=current_actor(),
            )
            for sentence in refused:
                st.warning(f"Skipped {sentence}")
            st.session_state["label_dataset"] = folder.name
            st.success(f"Created {folder.name} (train_images/ + train_masks/).")
            datasets = catalog.list_datasets()
if not datasets:
    st.info(f"No dataset under {paths.data_root()} yet: create one from your photos (sidebar).")
    st.stop()

names = [d.name for d in datasets]
if st.session_state.get("label_dataset") not in names:
    st.session_state["label_dataset"] = names[0]
models = catalog.list_models()
by_path = {str(m.path): m for m in models}
with st.sidebar:
    dataset_name = st.selectbox("Dataset", names, key="label_dataset")
    model_key = (
        st.selectbox(
            "Model (pre-labels, fine-tuning)",
            list(by_path),
            format_func=lambda p: by_path[p].label,
            key="label_model",
        )
        if models
        else None
    )
    if model_key and (chain := labelling.lineage(by_path[model_key].run_id)):
        st.caption("Fine-tuned from " + " ← ".join(chain))
    prelabel = st.button(
        "Pre-label photos nobody has labelled",
        disabled=model_key is None,
        icon=":material/auto_fix_high:",
        width="stretch",
    )
dataset = catalog.resolve_dataset(dataset_name)
if prelabel and model_key:
    bar = st.progress(0.0, text="Pre-labelling…")
    with friendly_errors("Pre-labelling"):
        predictor = load_predictor(by_path[model_key].path)
        problems = labelling.prelabel_photos(
            dataset,
            predictor,
            by_path[model_key].run_id or "demo",
            progress=lambda done, total: bar.progress(done / total, text=f"Pre-labelled {done} of {total}"),
            actor=current_actor(),
        )
        for problem in problems:
            st.warning(f"Skipped {problem}")
    bar.empty()
    opened = st.session_state.get("label_session")
    if opened is not None and not opened.editor.undo_stack and opened.source in ("empty", "pre-label"):
        st.session_state.pop("label_session")  # reopen from the new pre-label (nothing drawn yet)

table = labelling.photo_table(dataset)
ranking = labelling.next_to_label(dataset)
order = [r["stem"] for r in ranking] + [
    r["photo"] for r in table if r["photo"] not in {x["stem"] for x in ranking}
]
reasons = {r["stem"]: r["reason"] for r in ranking}
status = {r["photo"]: r for r in table}
counts = {
    s: sum(1 for r in table if r["status"] == s)
    for s in ("unlabelled", "pre-labelled", "corrected", "labelled")
}
st.caption(" · ".join(f"{n} {s}" for s, n in counts.items()) + " (photos listed most uncertain first)")
with st.expander("All photos and their status"):
    st.dataframe(
        [{**r, "uncertain": percent(r["uncertain"]) if r["uncertain"] is not None else ""} for r in table],
        hide_index=True,
        width="stretch",
    )
if not order:
    st.info("This dataset has no photos yet.")
    st.stop()

opened = st.session_state.get("label_session")
if opened is not None and opened.store.root == dataset and opened.stem not in order:
    st.warning(
        f"{opened.stem} was removed from {dataset_name} while you were labelling it; nothing was "
        "saved for it (your strokes up to the last one are in your draft, should the photo return)."
    )
stem = st.selectbox(
    "Photo",
    order,
    key="label_photo",
    format_func=lambda s: (
        f"{s} · {status[s]['status']}" + (f" · by {status[s]['by']}" if status[s]["by"] else "")
    ),
)
if stem in reasons:
    st.caption(f"Why here: {reasons[stem]}")

session = st.session_state.get("label_session")
if session is None or (session.store.root, session.stem, session.who) != (dataset, stem, who):
    try:
        session = labelling.open_photo(dataset, stem, who)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    st.session_state["label_session"] = session
    st.session_state.pop("label_conflict", None)
if session.source == "draft":
    st.info("Restored your unsaved draft of this photo (Discard draft goes back to what is saved).")
others = session.store.others_editing(stem, who)
if others:
    st.warning(
        f"{', '.join(others)} also has unsaved edits of this photo; whoever saves second is asked first."
    )

with friendly_errors("Correcting the mask"):
    label_view.actions(session)
    label_view.correction_view(session)
partial_view.labelled_classes_control(dataset, stem)

with st.sidebar.container(border=True):
    st.markdown("**Fine-tune on my labels**")
    saved = counts["corrected"] + counts["labelled"]
    st.caption(
        f"{saved} photo(s) of {dataset_name} have a saved mask. A short schedule (90 epochs, lr 6e-4, "
        "no validation split) trains the chosen model's whole network on them; the new run records "
        "its parent and runs in the background like any training job (Train, Runs)."
    )
    extra = partial_view.unlabelled_option(dataset, saved)
    if st.button(
        "Fine-tune on my labels",
        disabled=not saved or model_key is None,
        icon=":material/model_training:",
        width="stretch",
    ):
        with friendly_errors("Starting the fine-tuning run"):
            submission = labelling.finetune_on_labels(
                dataset, by_path[model_key].path, actor=current_actor(), **extra
            )
            st.success(submission.message)
            st.page_link(
                "app_pages/train.py", label="Follow it on the Train page", icon=":material/monitoring:"
            )
