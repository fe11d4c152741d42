"""The Label page: guidance without datasets, a sentence for a bad analyst name, photo status and
the labelling order with a dataset, and a removed photo reported instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.labelling.labelstore import LabelStore

APP = Path(__file__).resolve().parents[2] / "app.py"


def label_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/label.py").run()


def new_storm(count: int = 2) -> Path:
    root = paths.data_root() / "newstorm"
    (root / "train_images").mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((30, 40, 3), 50 * i, np.uint8)).save(root / "train_images" / f"p{i}.png")
    return root


def test_without_datasets_the_page_says_how_to_start(stormseg_home):
    at = label_page()
    assert not at.exception
    assert any("create one from your photos" in i.value for i in at.info)


def test_a_bad_analyst_name_gets_a_sentence(stormseg_home):
    new_storm()
    at = label_page()
    at.sidebar.text_input(key="label_who").set_value("../x").run()
    assert not at.exception
    assert any("analyst name '../x'" in e.value for e in at.error)


def test_photos_are_listed_with_status_and_the_reason_for_their_place(stormseg_home):
    root = new_storm()
    LabelStore(root).save_prelabel(
        "p1",
        np.zeros((30, 40), np.uint8),
        "demo",
        {"mean": 0.3, "uncertain_share": 0.4, "least_sure_class": "Flooded", "least_sure_share": 0.5},
    )
    at = label_page()
    assert not at.exception
    assert any("1 unlabelled · 1 pre-labelled" in c.value for c in at.caption)
    assert at.selectbox(key="label_photo").value == "p1"  # the only ranked photo comes first
    assert any(c.value.startswith("Why here: #1 of 1: 40% of its pixels are uncertain") for c in at.caption)


def test_a_photo_removed_while_being_labelled_gets_a_sentence(stormseg_home):
    root = new_storm()
    at = label_page()
    assert at.session_state["label_session"].stem == "p0"
    (root / "train_images" / "p0.png").unlink()
    at.run()
    assert not at.exception
    assert any("p0 was removed from newstorm while you were labelling it" in w.value for w in at.warning)
    assert not (root / "train_masks" / "p0.png").exists()
