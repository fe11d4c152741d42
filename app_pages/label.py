"""Label: pre-label a new storm's photos with a model, correct them, save masks, fine-tune."""

from __future__ import annotations

import streamlit as st

from seg_core.core import paths
from seg_core.core.text import count
from seg_core.labelling.labelstore import check_who
from seg_core.services import catalog, labelling
from seg_core.team.access import OWNER
from ui import label_view, partial_view, review_view
from ui.auth import current_actor, current_caller
from ui.common import cross_off, friendly_errors, kept_button, load_predictor
from ui.finetune import LABELLED_DATASET_KEY, finetune_controls
from ui.pickers import model_picker, pick_by_id

DATASET_KEY = LABELLED_DATASET_KEY  # the dataset being labelled (Train's fine-tune offers it too)
PHOTO_KEY = "label_stem"  # the photo being corrected, by name: re-sorting the list never moves it
PRELABEL_KEY = "label_prelabel_todo"  # the photos still to pre-label, in this session
NEW_ROUND_KEY = "label_new_round"  # bumped after a dataset is created: empties the form, only then

st.title("Label photos")
st.caption(
    "Pre-label a new storm's photos with any model, correct them with region fills, brush and polygon, "
    "save the masks, and fine-tune the model on them: predict, correct, fine-tune, repeat."
)

with st.sidebar:
    if current_actor() is None:  # single-user mode: the name the audit trail also uses, by default
        who = st.text_input("Your name (saved with each mask)", value=OWNER, key="label_who")
    else:  # signed in: masks carry the account, not a typed name
        who = current_actor().user
try:
    check_who(who)
except ValueError as exc:
    st.error(str(exc))
    st.stop()


def create_dataset_form(expanded: bool) -> None:
    """Name and photos, then Create: Enter in the name does not submit, and a refusal keeps both."""
    round_ = st.session_state.get(NEW_ROUND_KEY, 0)
    with st.sidebar.expander("Create a dataset from photos", expanded=expanded):
        name = st.text_input(
            "Dataset name", placeholder="e.g. ian-2026-fort-myers", key=f"label_new_name_{round_}"
        )
        uploads = st.file_uploader(
            "Photos (JPEG, PNG, TIFF)",
            accept_multiple_files=True,
            type=["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp"],
            key=f"label_new_photos_{round_}",
        )
        if not kept_button("Create dataset", "label_create", type="primary", disabled=not (name and uploads)):
            if not (name and uploads):
                st.caption("Name the dataset and choose its photos, then create it.")
            return
        with friendly_errors("Creating the dataset"):
            folder, refused = labelling.create_dataset_from_photos(
                paths.data_root(),
                name.strip(),
                [(f.name, f.getvalue()) for f in uploads],
                caller=current_caller(),
            )
            st.session_state[NEW_ROUND_KEY] = round_ + 1
            st.session_state[DATASET_KEY] = folder.name
            st.session_state["label_created"] = (folder.name, [f"Skipped {sentence}" for sentence in refused])
            st.rerun()


datasets = catalog.list_datasets()
create_dataset_form(expanded=not datasets)
creation_note = st.sidebar.container()  # what the form did, under it (filled once the dataset is picked)
if not datasets:
    st.info(f"No dataset under {paths.data_root()} yet: create one from your photos (sidebar).")
    st.stop()

models = catalog.list_models()
with st.sidebar:
    dataset_name = pick_by_id("Dataset", [d.name for d in datasets], str, DATASET_KEY)
# What the creation did (and every photo it skipped) stays said while the new dataset is open: a
# message shown for one run only was gone in 2 s, when the new photo's canvas reported its value.
if created := st.session_state.get("label_created"):
    if dataset_name == created[0]:
        creation_note.success(f"Created {created[0]} (train_images/ + train_masks/).")
        for sentence in created[1]:
            creation_note.warning(sentence)
    else:  # another dataset is open: said, and done with
        del st.session_state["label_created"]
dataset = catalog.resolve_dataset(dataset_name)
# A malformed classes.json: its sentence before any control that reads the dataset (the pre-label
# button's callback runs before the page, where no sentence could catch it).
if problem := labelling.scheme_problem(dataset):
    st.error(problem)
    st.stop()
with st.sidebar:
    model = model_picker(models, "Model (pre-labels, fine-tuning)")
    if model and (chain := labelling.lineage(model.run_id)):
        st.caption("Fine-tuned from " + " ← ".join(chain))
    # The click is kept by its callback, which Streamlit runs before the page: a run that the next
    # rerun request stops at once (the canvas reporting its value) still leaves the list behind.
    st.button(
        "Pre-label photos nobody has labelled",
        disabled=model is None,
        icon=":material/auto_fix_high:",
        width="stretch",
        on_click=lambda folder: st.session_state.update({PRELABEL_KEY: labelling.photos_to_prelabel(folder)}),
        args=(dataset,),
    )
    by_role = st.toggle(
        "Pre-label by role with another scheme's model",
        key="label_prelabel_by_role",
        help="A model trained on other classes (e.g. Harvey's) pre-labels this dataset by carrying each "
        "of its classes to this dataset's class of the same role (roofs to buildings, roads to roads); "
        "classes without a match become background. The page says which class went where.",
    )
if st.session_state.get(PRELABEL_KEY) is not None and model:
    # One photo at a time, each crossed off by name once saved (two runs may share the list).
    bar = st.progress(0.0, text="Pre-labelling…")
    carried: list[str] = []  # how another scheme's classes were carried over (said once, below)
    with friendly_errors("Pre-labelling"):
        predictor = load_predictor(model.path)
        while todo := st.session_state.get(PRELABEL_KEY):
            for problem in labelling.prelabel_photos(
                dataset,
                predictor,
                model.id,
                stems=todo[:1],
                caller=current_caller(),
                mapping="roles" if by_role else None,
                announce=carried.append,
            ):
                st.warning(f"Skipped {problem}")
            left = cross_off(st.session_state, PRELABEL_KEY, todo[0])
            bar.progress(
                1.0 - len(left) / (len(left) + 1), text=f"Pre-labelling… {count(len(left), 'photo')} to go"
            )
    st.session_state.pop(PRELABEL_KEY, None)  # done, or stopped by an error it has shown
    if carried:
        st.info(carried[-1])  # the same sentence for every photo
    bar.empty()
    opened = st.session_state.get("label_session")
    if opened is not None and not opened.editor.undo_stack and opened.source in ("empty", "pre-label"):
        st.session_state.pop("label_session")  # reopen from the new pre-label (nothing drawn yet)

if review_view.review_screens(dataset, model, PHOTO_KEY):  # a reviewer's queue, agreement and gold
    st.stop()

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
        label_view.status_rows([status[stem] for stem in order]),
        hide_index=True,
        width="stretch",
        column_config=label_view.STATUS_COLUMNS,
        placeholder="–",
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
stem = pick_by_id("Photo", order, lambda s: label_view.photo_label(status[s]), PHOTO_KEY)
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
    review_view.photo_panel(session)
    label_view.correction_view(session)
partial_view.labelled_classes_control(dataset, stem)

with st.sidebar.container(border=True):
    st.markdown("**Fine-tune on my labels**")
    finetune_controls(dataset, model, counts["corrected"] + counts["labelled"], key="label_finetune")
