"""Fine-tune on my labels: one set of controls for the Label page and the Train page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from seg_core.core.text import count
from seg_core.services import labelling
from seg_core.services.catalog import ModelChoice
from seg_core.training import finetune
from ui.auth import current_caller
from ui.common import friendly_errors, kept_button
from ui.partial_view import unlabelled_option
from ui.review_view import finetune_labels

LABELLED_DATASET_KEY = "label_dataset_name"  # the dataset being labelled: Label's picker writes it
# The fine-tune's further start (TrainConfig.starter), in words; the first is the schedule's default.
STARTER_OPTIONS = {
    "With 1 labelled photo": finetune.STARTER_AUTO,
    "Always": finetune.STARTER_REAL_GROUND,
    "Never": finetune.STARTER_NONE,
}


def finetune_controls(dataset: Path, model: ModelChoice | None, saved: int, key: str) -> None:
    """What fine-tuning would train on, the cautions first (a single photo, masks that are mostly
    unreviewed pre-labels: an explicit "anyway" is needed), then the button.

    Args:
        saved: photos of `dataset` with a saved mask.
        key: tells the widgets of one page from another's.
    """
    st.caption(
        f"{count(saved, 'photo')} of **{dataset.name}** {'has' if saved == 1 else 'have'} a saved mask. A "
        f"short schedule ({finetune.schedule_summary()}) trains the chosen model's whole network on them; "
        "the new run records its parent (Runs shows the lineage) and runs in the background."
    )
    cautions = labelling.finetune_cautions(dataset) if saved else []
    for caution in cautions:
        st.warning(caution)
    anyway = st.checkbox("Fine-tune anyway", key=f"{key}_anyway") if cautions else True
    epochs = st.number_input(
        "Fine-tune epochs",
        min_value=1,
        max_value=1000,
        value=None,
        placeholder=f"the schedule's ({finetune.FineTuneSchedule().epochs})",
        key=f"{key}_epochs",
        help="Fewer for a quick first look at what the labels change; the schedule's own for the real run.",
    )
    include_unreviewed, usable = finetune_labels(dataset, key)
    semi = unlabelled_option(dataset, saved, key)
    starter = st.selectbox(
        "Real-ground starter",
        list(STARTER_OPTIONS),
        key=f"{key}_starter",
        help="The start check can also try the demo model trained further on 99 tiles of real aerial "
        "ground (CC0 imagery of Dubai), for a model of the demo model's kind and Harvey's classes. "
        "Measured on real photos (docs/benchmarks-analysis.md section 19, 3 seeds): with 1 labelled "
        "photo it lifted the mean IoU from 0.27 to 0.33 (4 held-out tasks, 10 epochs) and never ended "
        "below ImageNet, so it is tried by default then; at the schedule's 90 epochs one photo gave 0.30 "
        "against ImageNet's 0.28, but 6 of 12 runs ended below ImageNet's. With 4 or 16 photos the "
        "check picked it in 7 of 24 runs where it did worse. About a third more check time."
        + (
            " This fine-tune trains on 1 mask: it will be tried."
            if usable == finetune.STARTER_AUTO_PHOTOS
            else ""
        ),
    )
    # A click kept across a stopped run fine-tunes the dataset it was made for, never the next one.
    if kept_button(
        "Fine-tune on my labels",
        f"{key}_{dataset.name}",
        disabled=not usable or model is None or not anyway,
        icon=":material/model_training:",
        width="stretch",
    ):
        with friendly_errors("Starting the fine-tuning run"):
            overrides = {} if epochs is None else {"epochs": int(epochs)}
            overrides.update(semi)
            overrides["starter"] = STARTER_OPTIONS[starter]
            submission = labelling.finetune_on_labels(
                dataset,
                model.path,
                caller=current_caller(),
                include_unreviewed=include_unreviewed,
                **overrides,
            )
            st.success(submission.message)
            st.page_link(
                "app_pages/train.py", label="Follow it on the Train page", icon=":material/monitoring:"
            )
