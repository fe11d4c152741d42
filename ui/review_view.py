"""The Label page's review: a reviewer's screens (the queue of submitted masks, agreement and
gold photos), the review panel under the photo being labelled, and the fine-tune switch.

Every button calls a guarded service (`seg_core.services.review`, `.agreement`) that checks the
role and the state again: the buttons only offer what the engine would allow, they decide nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from seg_core.labelling.review import MAX_COMMENT_CHARS, MaskState, same_person
from seg_core.services import agreement, labelsets
from seg_core.services import review as review_service
from ui.auth import current_actor, current_caller, may
from ui.common import friendly_errors, kept_button, load_predictor
from ui.pickers import pick_by_id, pick_segment

LABEL, QUEUE, AGREEMENT = "Label photos", "Review queue", "Agreement and gold"
MODE_KEY = "review_mode"
FLASH_KEY = "review_flash"  # the last action's sentence, shown after the rerun it causes


def _me() -> str:
    actor = current_actor()
    return actor.user if actor else "owner"


def _flash(sentence: str) -> None:
    st.session_state[FLASH_KEY] = sentence
    st.rerun()


def _show_flash() -> None:
    if sentence := st.session_state.pop(FLASH_KEY, None):
        st.success(sentence)


def review_screens(dataset: Path, model, photo_key: str) -> bool:
    """The picker between labelling and a reviewer's screens (reviewers, admins and the owner
    only), and the screen picked; True when a review screen was shown (the page stops there).

    Args:
        model: the sidebar's ModelChoice (its prediction is shown beside a mask), or None.
        photo_key: where the Label page keeps the photo being labelled ("Fix it" opens it there).
    """
    if not may(current_actor(), "label.accept"):
        return False
    waiting = len(review_service.queue(dataset))
    options = [LABEL, QUEUE, AGREEMENT]
    names = {QUEUE: f"{QUEUE} ({waiting})"}
    # Held in plain state, not a widget key: "Fix it" sets it while the control is on screen.
    mode = pick_segment(
        "Mode", options, lambda o: names.get(o, o), MODE_KEY, default=LABEL, label_visibility="collapsed"
    )
    _show_flash()
    if mode == QUEUE:
        with friendly_errors("Reviewing"):
            queue_screen(dataset, model, photo_key)
    elif mode == AGREEMENT:
        with friendly_errors("Comparing labels"):
            agreement_screen(dataset)
    return mode != LABEL


# ---- the queue ------------------------------------------------------------------------------
def _pictures(dataset: Path, state: MaskState, model) -> review_service.ReviewPictures:
    """The pictures of one queue item, kept for the rerun that follows a click."""
    key = (str(dataset), state.stem, state.version, model.id if model else None)
    held = st.session_state.get("review_pictures")
    if held is None or held[0] != key:
        predictor = load_predictor(model.path) if model else None
        with st.spinner("Predicting with the chosen model…"):
            held = (key, review_service.pictures(dataset, state.stem, predictor, model.id if model else ""))
        st.session_state["review_pictures"] = held
    return held[1]


def queue_screen(dataset: Path, model, photo_key: str) -> None:
    queue = review_service.queue(dataset)
    if not queue:
        st.info("Nothing waits for review in this dataset: every saved mask is accepted or rejected.")
        return
    by_stem = {s.stem: s for s in queue}
    stem = pick_by_id(
        "Submitted photo (longest waiting first)",
        list(by_stem),
        lambda s: f"{s} · {by_stem[s].describe()}",
        "review_stem",
    )
    state = by_stem[stem]
    saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(state.at)) if state.at else "at an unknown time"
    st.caption(f"{state.describe()}, {saved}; {len(queue)} waiting.")
    pictures = _pictures(dataset, state, model)
    mask_col, model_col, doubt_col = st.columns(3)
    mask_col.image(pictures.mask, caption="Submitted mask", width="stretch")
    if pictures.prediction is not None:
        model_col.image(
            pictures.prediction, caption=f"Prediction ({pictures.prediction_source})", width="stretch"
        )
    else:
        model_col.info("No model prediction: pick a model in the sidebar, or pre-label the photo.")
    if pictures.uncertainty is not None:
        doubt_col.image(
            pictures.uncertainty, caption="Uncertainty (dark: sure · yellow: unsure)", width="stretch"
        )
    if pictures.model_figures:
        doubt_col.caption(
            f"Uncertain pixels: {pictures.model_figures.get('uncertain_share', 0):.0%}; most doubt on "
            f"{pictures.model_figures.get('least_sure_class') or '–'}."
        )
    decide(dataset, state, photo_key)


def decide(dataset: Path, state: MaskState, photo_key: str) -> None:
    """Accept, reject with a comment, or open the photo to fix it, for the mask `state` shows."""
    own = current_actor() is not None and same_person(state.by, _me())
    accept_col, fix_col = st.columns(2)
    if accept_col.button(
        "Accept",
        type="primary",
        icon=":material/check_circle:",
        width="stretch",
        disabled=own,
        help="You saved this mask: another reviewer accepts it." if own else None,
        key=f"review_accept_{state.stem}",
    ):
        with friendly_errors("Accepting"):
            done = review_service.accept(
                dataset, state.stem, current_caller(), expected_version=state.version
            )
            _flash(f"{state.stem}: {done.describe()}.")
    if fix_col.button(
        "Fix it on the Label view",
        icon=":material/brush:",
        width="stretch",
        disabled=own,
        key=f"review_fix_{state.stem}",
        help="Opens the photo for correction; 'Save my fix and accept' is under the canvas.",
    ):
        st.session_state[photo_key] = state.stem
        st.session_state[MODE_KEY] = LABEL
        st.rerun()
    comment = st.text_area(
        "Why reject it (the analyst reads this)",
        max_chars=MAX_COMMENT_CHARS,
        key=f"review_comment_{state.stem}",
        placeholder="e.g. the flooded road on the left is marked as Road",
    )
    if kept_button("Reject with this comment", f"review_reject_{state.stem}", icon=":material/cancel:"):
        with friendly_errors("Rejecting"):
            done = review_service.reject(dataset, state.stem, comment, current_caller(), state.version)
            _flash(f"{state.stem}: {done.describe()}.")


# ---- under the photo being labelled --------------------------------------------------------------
def photo_panel(session) -> None:
    """The photo's review state for everyone (a rejection's comment for the analyst who fixes it),
    and for reviewers: accept, save a fix and accept, ask for independent labels, mark gold."""
    from seg_core.labelling import agreement as agreement_store
    from seg_core.labelling import review

    store, stem = session.store, session.stem
    if agreement_store.independent(store, stem):
        st.info(
            "This photo is labelled independently: your save is your own label, and a reviewer compares it."
        )
        return
    state = review.photo_state(store, stem)
    if state.state == "rejected":
        st.warning(
            f"Rejected by {state.reviewer}: {state.comment}  \nFix the mask and save it to submit it again."
        )
    else:
        st.caption(f"Review: {state.describe()}.")
    _show_flash()
    if not may(current_actor(), "label.accept"):
        return
    own = current_actor() is not None and same_person(state.by, _me())
    fix, accept = state.state in ("submitted", "accepted", "rejected"), state.state == "submitted"
    columns = iter(st.columns(3))
    if fix and next(columns).button(
        "Save my fix and accept",
        icon=":material/task_alt:",
        width="stretch",
        disabled=own or not session.editor.undo_stack,
        help="Draw your correction first; you cannot accept a mask you saved yourself.",
        key="review_fix_accept",
    ):
        with friendly_errors("Saving and accepting"):
            done = review_service.fix_and_accept(session, current_caller())
            _flash(f"{stem}: {done.describe()}.")
    if accept and next(columns).button(
        "Accept as saved",
        icon=":material/check_circle:",
        width="stretch",
        disabled=own,
        key="review_accept_here",
    ):
        with friendly_errors("Accepting"):
            done = review_service.accept(store.root, stem, current_caller(), expected_version=state.version)
            _flash(f"{stem}: {done.describe()}.")
    if next(columns).button(
        "Ask two analysts to label it",
        icon=":material/group:",
        width="stretch",
        key="review_ask_two",
        help="From now on analysts label this photo without seeing the saved mask or each other's work.",
    ):
        with friendly_errors("Asking for independent labels"):
            agreement.request_labels(store.root, stem, current_caller())
            _flash(f"{stem}: asked for two independent labels.")


# ---- agreement and gold ----------------------------------------------------------------------
def agreement_screen(dataset: Path) -> None:
    requests = agreement.open_requests(dataset)
    st.subheader("Two analysts, one photo")
    if not requests:
        st.caption("No photo is being labelled independently. Ask for it under a photo in Label photos.")
    for row in requests:
        st.caption(
            f"{row['stem']}: {len(row['labels'])} of {row['needed']} labels"
            + (f" ({', '.join(row['labels'])})" if row["labels"] else "")
            + (" · ready to compare" if row["ready"] else "")
        )
    ready = {r["stem"]: r for r in requests if r["ready"]}
    if ready:
        compare_and_resolve(dataset, ready)
    st.divider()
    gold_screen(dataset)


def compare_and_resolve(dataset: Path, ready: dict[str, dict]) -> None:
    stem = pick_by_id("Photo to compare", list(ready), str, "agreement_stem")
    names = ready[stem]["labels"]
    a_col, b_col = st.columns(2)
    a = a_col.selectbox("Label A", names, index=0, key=f"agreement_a_{stem}")
    b = b_col.selectbox("Label B", names, index=1, key=f"agreement_b_{stem}")
    if a == b:
        st.info("Pick two different labels to compare.")
        return
    result = agreement.compare_labels(dataset, stem, a, b)
    st.metric("Mean IoU of the two labels", f"{result.miou:.2f}")
    st.caption(f"{result.pixel_agreement:.0%} of the pixels have the same class in both labels.")
    picture_col, table_col = st.columns(2)
    picture_col.image(
        agreement.labels_picture(dataset, stem, a, b),
        caption="Magenta: the two labels disagree; elsewhere A's classes",
        width="stretch",
    )
    table_col.dataframe(
        [
            {"class": r["name"], "IoU": r["iou"], "pixels A": r["pixels_a"], "pixels B": r["pixels_b"]}
            for r in result.per_class
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "IoU": st.column_config.ProgressColumn("IoU", min_value=0.0, max_value=1.0, format="%.2f")
        },
    )
    for who, column in zip((a, b), st.columns(2), strict=True):
        if column.button(
            f"Take {who}'s label and accept it", key=f"agreement_take_{stem}_{who}", width="stretch"
        ):
            with friendly_errors("Resolving"):
                done = agreement.resolve(dataset, stem, who, current_caller())
                _flash(f"{stem}: {done.describe()}; the independent labelling is closed.")


def gold_screen(dataset: Path) -> None:
    from seg_core.labelling import agreement as agreement_store
    from seg_core.labelling.labelstore import LabelStore

    st.subheader("Gold photos")
    store = LabelStore(dataset)
    gold = agreement_store.gold(store)
    accepted = [
        s.stem for s in review_service.states(dataset) if s.state == "accepted" and s.stem not in gold
    ]
    pick_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    stem = pick_by_id("Accepted photo", accepted, str, "gold_stem", container=pick_col) if accepted else None
    if button_col.button("Mark as gold", disabled=stem is None, key="gold_mark", width="stretch"):
        with friendly_errors("Marking gold"):
            agreement.mark_gold(dataset, stem, current_caller())
            _flash(f"{stem} is a gold photo: analysts who open it label it independently.")
    st.caption(
        f"{len(gold)} gold photo(s): {', '.join(gold) or 'none yet'}. Analysts see a gold photo like any "
        "photo labelled independently; their labels made after it became gold are scored against it."
    )
    scores = agreement.gold_scores(dataset)
    if not scores:
        return
    st.dataframe(agreement.gold_summary(scores), hide_index=True, width="stretch")
    st.line_chart(
        [
            {
                "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(s["at"])),
                "who": s["who"],
                "mIoU with gold": s["miou"],
            }
            for s in scores
        ],
        x="when",
        y="mIoU with gold",
        color="who",
    )


# ---- fine-tuning ---------------------------------------------------------------------------
def finetune_labels(dataset: Path, key: str) -> tuple[bool, int]:
    """The fine-tune controls' line on review and their switch: (include masks nobody has
    reviewed, how many masks the run would take). `key`: tells one page's widgets from another's."""
    states = [s.state for s in review_service.states(dataset)]
    accepted, submitted, rejected = (states.count(s) for s in ("accepted", "submitted", "rejected"))
    st.caption(
        f"Trains on accepted masks: {accepted} accepted, {submitted} waiting for review, {rejected} "
        "rejected (never used)."
    )
    include = st.toggle(
        "Also masks nobody has reviewed yet",
        key=f"{key}_unreviewed",
        disabled=not submitted,
    )
    if include:
        st.warning(
            f"{submitted} mask(s) nobody has reviewed will train the model: a mistake in them, or a "
            "model's pre-label nobody corrected, becomes what the model learns. The run records which."
        )
    return include, accepted + (submitted if include else 0)


def run_label_set(run_id: str) -> None:
    """Runs: which labels made this model (the run's label set), as a short line and a table."""
    with friendly_errors("Reading the run's label set"):
        found = labelsets.of_run(run_id)
        if found is None:
            st.caption(
                "Labels: not recorded (the run started before label sets were kept, or has not started)."
            )
            return
        with st.expander(f"Labels: {found.summary()}"):
            st.caption(
                f"Dataset {found.dataset}; masks {'frozen in its label store' if found.frozen else 'used in place'}."
            )
            st.dataframe(labelsets.rows(found), hide_index=True, width="stretch")
