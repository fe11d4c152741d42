"""The Label page: guidance without datasets, a sentence for a bad analyst name, photo status and
the labelling order with a dataset, and a removed photo reported instead of a traceback; the photo
picker holds on to its photo when the list is re-sorted, the create-dataset form keeps its inputs
on a refusal and audits how each attempt ended, and fine-tuning on unreviewed masks is cautioned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from page_data import storm
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.labelling.labelstore import LabelStore
from seg_core.runs.registry import RunRegistry
from seg_core.team import audit

APP = Path(__file__).resolve().parents[2] / "app.py"


def label_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/label.py").run()


def labelled(elements, label: str):
    """The one element of `elements` with this label (widget keys are the page's business)."""
    [element] = [e for e in elements if e.label == label]
    return element


def uncertainty(share: float) -> dict:
    return {
        "mean": share / 2,
        "uncertain_share": share,
        "least_sure_class": "Flooded",
        "least_sure_share": 0.5,
    }


def test_without_datasets_the_page_says_how_to_start(stormseg_home):
    at = label_page()
    assert not at.exception
    assert any("create one from your photos" in i.value for i in at.info)


def test_a_bad_analyst_name_gets_a_sentence(stormseg_home):
    storm()
    at = label_page()
    at.sidebar.text_input(key="label_who").set_value("../x").run()
    assert not at.exception
    assert any("analyst name '../x'" in e.value for e in at.error)


def test_photos_are_listed_with_status_and_the_reason_for_their_place(stormseg_home):
    root = storm()
    LabelStore(root).save_prelabel(
        "p1",
        np.zeros((30, 40), np.uint8),
        "demo",
        {"mean": 0.3, "uncertain_share": 0.4, "least_sure_class": "Flooded", "least_sure_share": 0.5},
    )
    at = label_page()
    assert not at.exception
    assert any("1 unlabelled · 1 pre-labelled" in c.value for c in at.caption)
    assert labelled(at.selectbox, "Photo").value == "p1"  # the only ranked photo comes first
    assert any(c.value.startswith("Why here: #1 of 1: 40% of its pixels are uncertain") for c in at.caption)


def test_a_photo_removed_while_being_labelled_gets_a_sentence(stormseg_home):
    root = storm()
    at = label_page()
    assert at.session_state["label_session"].stem == "p0"
    (root / "train_images" / "p0.png").unlink()
    at.run()
    assert not at.exception
    assert any("p0 was removed from newstorm while you were labelling it" in w.value for w in at.warning)
    assert not (root / "train_masks" / "p0.png").exists()


def test_the_photo_picker_keeps_its_photo_when_a_pre_label_re_sorts_the_list(stormseg_home):
    root = storm(3)
    at = label_page()
    labelled(at.selectbox, "Photo").set_value("p1").run()
    assert at.session_state["label_session"].stem == "p1"
    store = LabelStore(root)  # a pre-label of every photo: p1's status changes, p2 goes to the top
    for stem, share in (("p0", 0.2), ("p1", 0.1), ("p2", 0.6)):
        store.save_prelabel(stem, np.zeros((30, 40), np.uint8), "demo", uncertainty(share))
    at.run()
    assert not at.exception
    picker = labelled(at.selectbox, "Photo")
    assert picker.value == "p1" and picker.options[picker.index] == "p1 · pre-labelled"
    assert at.session_state["label_session"].stem == "p1"
    # The status table lists the photos in the picker's order, most uncertain first.
    table = [t for t in at.dataframe if "photo" in t.value.columns][0].value
    assert list(table["photo"]) == ["p2", "p0", "p1"]


def test_the_create_form_keeps_its_inputs_on_a_refusal_and_audits_the_outcome(stormseg_home):
    at = label_page()
    photo = (Path(__file__).resolve().parents[2] / "samples").glob("*.jpg").__next__().read_bytes()
    labelled(at.sidebar.text_input, "Dataset name").set_value("bad name").run()
    labelled(at.sidebar.file_uploader, "Photos (JPEG, PNG, TIFF)").set_value(
        ("a.jpg", photo, "image/jpeg")
    ).run()
    labelled(at.sidebar.button, "Create dataset").click().run()
    assert not at.exception
    assert any("dataset name 'bad name' must be" in e.value for e in at.error)
    assert labelled(at.sidebar.text_input, "Dataset name").value == "bad name"  # kept to correct it
    [row] = audit.rows(RunRegistry(), action="dataset.create")
    assert (row.outcome, row.target) == ("failed", "bad name") and "must be 1-64 letters" in row.detail

    labelled(at.sidebar.text_input, "Dataset name").set_value("ian-fort-myers").run()
    labelled(at.sidebar.button, "Create dataset").click().run()  # the photos were kept too
    assert not at.exception and not at.error
    assert (paths.data_root() / "ian-fort-myers" / "train_images" / "a.jpg").is_file()
    assert labelled(at.selectbox, "Dataset").value == "ian-fort-myers"
    assert labelled(at.sidebar.text_input, "Dataset name").value == ""  # a fresh form once created
    newest = audit.rows(RunRegistry(), action="dataset.create")[0]
    assert (newest.outcome, newest.target, newest.detail) == ("allowed", "ian-fort-myers", "1 photo")


def test_what_a_creation_did_stays_said_while_its_dataset_is_open(stormseg_home):
    storm()
    at = label_page()
    photo = (Path(__file__).resolve().parents[2] / "samples").glob("*.jpg").__next__().read_bytes()
    labelled(at.sidebar.text_input, "Dataset name").set_value("ian-fort-myers").run()
    labelled(at.sidebar.file_uploader, "Photos (JPEG, PNG, TIFF)").set_value(
        [("a.jpg", photo, "image/jpeg"), ("notes.jpg", b"not a photo", "image/jpeg")]
    ).run()
    labelled(at.sidebar.button, "Create dataset").click().run()

    def said() -> list[str]:
        return [e.value for e in [*at.sidebar.success, *at.sidebar.warning]]

    assert "Created ian-fort-myers (train_images/ + train_masks/)." in said()
    assert any(s.startswith("Skipped notes.jpg") for s in said())
    at.run()  # the next rerun (in the browser, the new photo's canvas reports its value at once)
    assert "Created ian-fort-myers (train_images/ + train_masks/)." in said()
    assert any(s.startswith("Skipped notes.jpg") for s in said())
    labelled(at.selectbox, "Dataset").select("newstorm").run()
    assert not any("ian-fort-myers" in s or "notes.jpg" in s for s in said())
    labelled(at.selectbox, "Dataset").select("ian-fort-myers").run()
    assert not any("Created" in s for s in said())  # said once, for the dataset just made


def test_the_analyst_name_defaults_to_the_name_the_audit_uses(stormseg_home):
    storm()
    at = label_page()
    assert at.sidebar.text_input(key="label_who").value == "owner"


def test_fine_tuning_on_unreviewed_pre_labels_asks_first(stormseg_home):
    root = storm(2)
    store = LabelStore(root)
    store.save_prelabel("p0", np.ones((30, 40), np.uint8), "demo", uncertainty(0.3))
    at = label_page()
    assert at.session_state["label_session"].source == "pre-label"  # p0, the ranked one, opens first
    labelled(at.button, "Save mask").click().run()  # saved without a single edit
    assert not at.exception
    cautions = [w.value for w in at.sidebar.warning]
    assert any(c.startswith("Only 1 photo of newstorm has a saved mask") for c in cautions)
    assert any(
        "mostly a model's pre-label that nobody changed or confirmed: p0 (100%)" in c for c in cautions
    )
    assert labelled(at.sidebar.button, "Fine-tune on my labels").disabled
    labelled(at.sidebar.checkbox, "Fine-tune anyway").check().run()
    assert labelled(at.sidebar.button, "Fine-tune on my labels").disabled  # the mask waits for review
    labelled(at.sidebar.toggle, "Also masks nobody has reviewed yet").set_value(True).run()
    assert any("1 mask(s) nobody has reviewed will train the model" in w.value for w in at.sidebar.warning)
    assert not labelled(at.sidebar.button, "Fine-tune on my labels").disabled
    assert any("0% a person's" in option for option in labelled(at.selectbox, "Photo").options)


def test_pre_labelling_cut_short_by_a_rerun_carries_on_with_the_photos_left(stormseg_home):
    """A click or the canvas's first value can rerun the page mid-way: the photos still to do stay
    in the session, and the next run pre-labels them (never drops them)."""
    root = storm(3)
    at = label_page()
    at.session_state["label_prelabel_todo"] = ["p1", "p2"]  # as left by a run cut short after p0
    at.run()
    assert not at.exception and not at.error
    assert {p.stem: p.status for p in LabelStore(root).photos()} == {
        "p0": "unlabelled",
        "p1": "pre-labelled",
        "p2": "pre-labelled",
    }
    assert "label_prelabel_todo" not in at.session_state
    next(b for b in at.button if b.label == "Pre-label photos nobody has labelled").click().run()
    assert not at.exception and {p.status for p in LabelStore(root).photos()} == {"pre-labelled"}
