"""The Label page in the dataset's own scheme: a RescueNet dataset shows RescueNet's classes in
the picker and on the shortcut buttons, and its saved masks hold RescueNet ids in RescueNet's
colours; a scheme whose two classes share a colour still saves the class that was drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.imagery.imageio import load_mask
from seg_core.labelling.labelstore import LabelStore
from seg_core.labelling.strokes import stroke_colours
from seg_core.schemes.scheme import RESCUENET
from seg_core.services import labelling

APP = Path(__file__).resolve().parents[2] / "app.py"
SHARED = {  # a team's own scheme: "debris" is drawn in the same red as "roof"
    "name": "team",
    "classes": [
        {"id": 0, "name": "ground", "color": "#000000", "role": "background"},
        {"id": 1, "name": "roof", "color": "#ff0000", "role": "building"},
        {"id": 2, "name": "debris", "color": "#ff0000", "role": "other"},
    ],
}


def storm(scheme: dict) -> Path:
    root = paths.data_root() / "michael"
    (root / "train_images").mkdir(parents=True)
    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(root / "train_images" / "p0.png")
    (root / "classes.json").write_text(json.dumps(scheme))
    return root


def label_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/label.py").run()


def one(elements, label: str):
    [element] = [e for e in elements if e.label == label]
    return element


def draw_and_save(at: AppTest, colour: str) -> np.ndarray:
    """A brush stroke across row 15 in `colour`, as the canvas reports it, then Save mask."""
    session = at.session_state["label_session"]
    view = (session.view.shape[1], session.view.shape[0])
    frame = labelling.CanvasFrame((0, 0, *view), view, view, session.original_size)
    stroke = {
        "type": "path",
        "strokeWidth": 4,
        "stroke": colour + "cc",
        "path": [["M", 0, 15], ["L", 39, 15]],
    }
    assert labelling.apply_canvas_objects(session, [stroke], frame, class_id=0) == 1
    one(at.button, "Save mask").click().run()
    assert not at.exception and any(s.value.startswith("Saved p0.png") for s in at.success)
    return load_mask(LabelStore(session.store.root).mask_path("p0"))


def legend_colour(at: AppTest) -> str:
    """The colour the page draws with now: its swatch above the canvas."""
    [swatch] = [m.value for m in at.markdown if "background:#" in m.value and " · Fill:" in m.value]
    return swatch.split("background:")[1][:7]


def test_a_rescuenet_dataset_is_labelled_in_rescuenet(stormseg_home):
    root = storm({"scheme": "rescuenet"})
    at = label_page()
    assert not at.exception
    picker = one(at.selectbox, "Class")
    assert picker.options == [f"{i} · {name}" for i, name in enumerate(RESCUENET.names)]
    buttons = [b.label for b in at.button]
    assert {"no damage", "major damage", "total destruction", "road blocked", "water"} <= set(buttons)
    assert "Roof" not in buttons
    one(at.button, "major damage").click().run()  # key 4: RescueNet's id 4
    assert one(at.selectbox, "Class").value == 4 and at.session_state["label_class"] == 4
    assert legend_colour(at) == RESCUENET.hex_color(4)
    mask = draw_and_save(at, legend_colour(at))
    assert mask[15, 20] == 4 and mask[0, 0] == 0  # RescueNet's building-major-damage, not Harvey's Vehicle
    palette = np.array(Image.open(root / "train_masks" / "p0.png").getpalette()[:33]).reshape(11, 3)
    np.testing.assert_array_equal(palette, RESCUENET.palette)


def test_two_classes_of_one_colour_save_the_class_that_was_drawn(stormseg_home):
    storm(SHARED)
    at = label_page()
    assert not at.exception
    assert one(at.selectbox, "Class").options == ["0 · ground", "1 · roof", "2 · debris"]
    one(at.button, "debris").click().run()
    debris = legend_colour(at)
    one(at.button, "roof").click().run()
    roof = legend_colour(at)
    assert roof == "#ff0000" and debris != roof  # unique per class by construction, still red
    assert debris == stroke_colours(LabelStore(paths.data_root() / "michael").scheme)[2]
    assert draw_and_save(at, debris)[15, 20] == 2


def test_a_malformed_scheme_file_is_one_sentence(stormseg_home):
    storm({"name": "team", "classes": [{"id": 0, "name": "ground", "color": "#000000", "role": "roof"}]})
    at = label_page()
    assert not at.exception
    assert any("classes.json" in e.value and "unknown role 'roof'" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Pre-label photos nobody has labelled"]


def test_a_class_picked_on_another_scheme_falls_back_to_this_schemes_default(stormseg_home):
    """Streamlit hands back the text a select box showed when it matches no option: after moving
    from a Harvey dataset to a RescueNet one, the class box's value was "1 · Roof" (a str), and
    comparing it with the class count stopped the page (found by the RescueNet browser test)."""
    storm({"scheme": "rescuenet"})
    for stale in ("1 · Roof", 24, -1):
        at = AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/label.py")
        at.session_state["label_class"] = stale
        at.run()
        assert not at.exception and not at.error, stale
        assert at.session_state["label_class"] == 1 and one(at.selectbox, "Class").value == 1  # water


def test_the_harvey_demo_model_pre_labels_a_rescuenet_dataset_by_role_when_asked(stormseg_home):
    root = storm({"scheme": "rescuenet"})
    at = label_page()
    one(at.button, "Pre-label photos nobody has labelled").click().run()
    assert not at.exception
    assert any("cannot pre-label michael" in e.value and "by role" in e.value for e in at.error)
    assert LabelStore(root).status("p0").status == "unlabelled"  # nothing stored

    one(at.toggle, "Pre-label by role with another scheme's model").set_value(True).run()
    one(at.button, "Pre-label photos nobody has labelled").click().run()
    assert not at.exception and not at.error
    assert any(i.value.startswith("harvey pre-labels carried into rescuenet by roles") for i in at.info)
    assert LabelStore(root).status("p0").status == "pre-labelled"
    assert load_mask(LabelStore(root).prelabel_path("p0")).max() < RESCUENET.num_classes
