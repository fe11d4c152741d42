"""The Label page's partial-label controls: "I labelled only these classes" writes the dataset's
partial-label sidecar, and the fine-tune box offers the photos without a mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.datasets.partial import read_partial_labels

APP = Path(__file__).resolve().parents[2] / "app.py"
ROAD, ROOF = 14, 1


def new_storm() -> Path:
    root = paths.data_root() / "newstorm"
    (root / "train_images").mkdir(parents=True)
    (root / "train_masks").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((30, 40, 3), 50 * i, np.uint8)).save(root / "train_images" / f"p{i}.png")
    Image.fromarray(np.zeros((30, 40), np.uint8), mode="L").save(root / "train_masks" / "p0.png")
    return root


def label_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/label.py").run()


def test_marking_the_labelled_classes_writes_the_sidecar_and_shows_them(stormseg_home):
    root = new_storm()
    at = label_page()
    stem = at.session_state["label_session"].stem
    at.multiselect(key=f"labelled_only_{stem}").set_value([ROAD, ROOF]).run()
    at.button(key=f"labelled_only_apply_{stem}").click().run()
    assert not at.exception
    assert read_partial_labels(root).labelled_only == {stem: (ROOF, ROAD)}
    assert any('"not Property Roof, Road/Highway"' in s.value for s in at.success)
    at.run()
    assert any(
        e.label.startswith("Labelled only some classes: Property Roof, Road/Highway") for e in at.expander
    )


def test_the_finetune_box_offers_the_photos_without_a_mask_with_their_cost(stormseg_home):
    new_storm()
    at = label_page()
    box = at.sidebar.checkbox(key="label_finetune_unlabelled")
    assert box.label.startswith("Also learn from the 2 photo(s) without a mask (about ")
    assert "180 unlabelled views" in box.help  # 1 photo: 90 epochs x 1 step x 2 views


def test_the_finetune_box_offers_the_real_ground_starter_with_one_photo_by_default(stormseg_home):
    from seg_core.training.finetune import FineTuneSchedule
    from ui.finetune import STARTER_OPTIONS

    new_storm()
    at = label_page()
    box = at.sidebar.selectbox(key="label_finetune_starter")
    assert box.label == "Real-ground starter" and box.value == "With 1 labelled photo"
    assert STARTER_OPTIONS[box.value] == FineTuneSchedule().starter  # the page's default is the schedule's
    assert box.options == ["With 1 labelled photo", "Always", "Never"]
    assert "with 1 labelled photo it lifted the mean IoU from 0.27 to 0.33" in box.help
    assert box.help.endswith("This fine-tune trains on 1 mask: it will be tried.")


def test_the_starter_choice_is_what_the_fine_tune_is_asked_for(stormseg_home, monkeypatch):
    from types import SimpleNamespace

    from seg_core.services import labelling

    asked: list[dict] = []

    def queued(dataset, parent, **settings):
        asked.append(settings)
        return SimpleNamespace(message="queued")

    monkeypatch.setattr(labelling, "finetune_on_labels", queued)
    new_storm()
    at = label_page()
    at.sidebar.checkbox(key="label_finetune_anyway").check().run()  # one photo only: asked first
    for choice in ("With 1 labelled photo", "Always", "Never"):
        at.sidebar.selectbox(key="label_finetune_starter").select(choice).run()
        next(b for b in at.sidebar.button if b.label == "Fine-tune on my labels").click().run()
    assert not at.exception and [s.get("starter") for s in asked] == ["auto", "real-ground", "none"]
