"""Label page data: open a photo, apply canvas drawings at original size, pre-label, rank, save."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import Pointwise
from PIL import Image

from seg_core.imagery.imageio import load_mask
from seg_core.inference.predictor import Predictor
from seg_core.labelling.labelstore import ConflictError
from seg_core.labelling.strokes import object_class
from seg_core.schemes.classes import CLASS_NAMES
from seg_core.schemes.scheme import HARVEY
from seg_core.services import labelling


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "storm"
    (root / "train_images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(
            root / "train_images" / f"p{i}.png"
        )
    return root


def frame_for(session, canvas=(40, 30)):
    view = (session.view.shape[1], session.view.shape[0])
    return labelling.CanvasFrame((0, 0, *view), canvas, view, session.original_size)


def test_canvas_strokes_polygons_and_clicks_land_at_original_size(dataset):
    session = labelling.open_photo(dataset, "p0", "ana")
    frame = frame_for(session)  # canvas 40x30 shows the 80x60 photo: 2 original px per canvas px
    polygon = {
        "type": "Polygon",
        "points": [{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 10, "y": 10}, {"x": 0, "y": 10}],
    }
    stroke = {"type": "path", "strokeWidth": 2, "path": [["M", 20, 25], ["L", 35, 25]]}
    assert labelling.apply_canvas_objects(session, [polygon, stroke], frame, class_id=1) == 2
    mask = session.editor.mask
    assert set(np.unique(mask[0:21, 0:21])) == {1} and mask[30, 30] == 0
    assert mask[50, 40] == 1 and mask[50, 71] == 1 and mask[44, 55] == 0  # 4 px wide at original size
    # the draft follows every edit, so a closed tab loses nothing
    np.testing.assert_array_equal(session.store.load_draft("p0", "ana")[0], mask)
    # what the canvas's point tool sends: left/top at the stroked box's edge, vertically centred
    click = {
        "type": "Circle",
        "left": 25,
        "top": 5,
        "radius": 4,
        "strokeWidth": 2,
        "originX": "left",
        "originY": "center",
    }
    assert labelling.apply_canvas_objects(session, [click], frame, class_id=23, regions=("slic", 20)) == 1
    assert session.editor.mask[10, 60] == 23


def test_a_reopened_photo_restores_the_draft_and_save_clears_it(dataset):
    session = labelling.open_photo(dataset, "p1", "ana")
    session.editor.paint_stroke([(10, 10)], 6, 4)
    session.keep_draft()
    again = labelling.open_photo(dataset, "p1", "ana")
    assert again.source == "draft" and again.editor.mask[10, 10] == 4
    assert "Saved p1.png (80x60 px) as ana" in labelling.save_labels(again)
    assert load_mask(dataset / "train_masks" / "p1.png")[10, 10] == 4
    assert labelling.open_photo(dataset, "p1", "ana").source == "saved"


def test_two_analysts_on_one_photo_conflict_instead_of_overwriting(dataset):
    ana, ben = labelling.open_photo(dataset, "p2", "ana"), labelling.open_photo(dataset, "p2", "ben")
    labelling.save_labels(ana)
    with pytest.raises(ConflictError):
        labelling.save_labels(ben)


def pointwise_predictor() -> Predictor:
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
    }
    return Predictor(Pointwise(), meta, torch.device("cpu"))


def test_prelabel_then_rank_what_to_label_next(dataset):
    predictor = pointwise_predictor()
    seen = []
    problems = labelling.prelabel_photos(
        dataset, predictor, "pointwise", progress=lambda d, t: seen.append((d, t))
    )
    assert problems == [] and seen[-1] == (3, 3)
    table = labelling.photo_table(dataset)
    assert [r["status"] for r in table] == ["pre-labelled"] * 3 and table[0]["model"] == "pointwise"
    ranked = labelling.next_to_label(dataset)
    shares = [r["uncertain_share"] for r in ranked]
    assert shares == sorted(shares, reverse=True) and ranked[0]["reason"].startswith("#1 of 3")
    session = labelling.open_photo(dataset, ranked[0]["stem"], "ana")
    assert session.source == "pre-label"


def test_a_model_of_another_scheme_is_refused_for_pre_labels(dataset):
    (dataset / "classes.json").write_text('{"scheme": "rescuenet"}')
    with pytest.raises(
        ValueError,
        match=r"pointwise cannot pre-label storm: the model predicts scheme harvey \(25 classes\) but the "
        r"dataset is labelled in scheme rescuenet .*pre-label through a mapping",
    ):
        labelling.prelabel_photos(dataset, pointwise_predictor(), "pointwise")
    assert [r["status"] for r in labelling.photo_table(dataset)] == ["unlabelled"] * 3  # nothing stored


def test_a_model_of_another_scheme_pre_labels_through_roles_or_a_mapping_file(dataset, tmp_path):
    """The Harvey model's pre-labels of a RescueNet dataset hold RescueNet ids: by role (roofs as
    building-no-damage, Flooded and the other unnamed classes as background) or by a file."""
    from seg_core.schemes.scheme import RESCUENET

    predictor = pointwise_predictor()
    stems = sorted(p.stem for p in (dataset / "train_images").iterdir())
    labelling.prelabel_photos(dataset, predictor, "pointwise")
    harvey = {stem: load_mask(dataset / ".stormseg-labels" / "prelabels" / f"{stem}.png") for stem in stems}
    assert all(len(np.unique(m)) > 1 for m in harvey.values())  # the check below compares something
    for stem in stems:
        (dataset / ".stormseg-labels" / "prelabels" / f"{stem}.png").unlink()
    (dataset / "classes.json").write_text('{"scheme": "rescuenet"}')

    heard = []
    assert (
        labelling.prelabel_photos(dataset, predictor, "pointwise", mapping="roles", announce=heard.append)
        == []
    )
    [how] = heard
    assert "Property Roof → building-no-damage" in how and "Flooded" in how.split(";")[1]
    by_role = {  # what the roles carry; every other Harvey class becomes background (0)
        "Property Roof": "building-no-damage",
        "Road/Highway": "road-clear",
        "Swimming Pool": "pool",
        "Vehicle": "vehicle",
        "Water Body": "water",
        "Trees/Shrubs": "tree",
        "Grass": "tree",
        "Dense Vegetation/Forest": "tree",
    }
    table = np.zeros(256, np.uint8)
    for name, target in by_role.items():
        table[HARVEY.class_id(name)] = RESCUENET.class_id(target)
    for stem in stems:
        mask = load_mask(dataset / ".stormseg-labels" / "prelabels" / f"{stem}.png")
        np.testing.assert_array_equal(mask, table[harvey[stem]])
        assert mask.max() < RESCUENET.num_classes

    mapping = tmp_path / "harvey_to_rescuenet.json"
    mapping.write_text(
        '{"from": "harvey", "to": "rescuenet", "classes": {"water": ["Flooded", "Water Body"], '
        '"building-no-damage": ["Property Roof", "Secondary Structure"]}}'
    )
    labelling.prelabel_photos(dataset, predictor, "pointwise", mapping=mapping)
    for stem in stems:
        mask = load_mask(dataset / ".stormseg-labels" / "prelabels" / f"{stem}.png")
        expected = np.zeros(256, np.uint8)
        for name in ("Flooded", "Water Body"):
            expected[HARVEY.class_id(name)] = 1
        for name in ("Property Roof", "Secondary Structure"):
            expected[HARVEY.class_id(name)] = 2
        np.testing.assert_array_equal(mask, expected[harvey[stem]])

    mapping.write_text('{"from": "floodnet", "to": "rescuenet", "classes": {}}')
    with pytest.raises(ValueError, match="harvey_to_rescuenet.json.*\"from\" is 'floodnet'"):
        labelling.prelabel_photos(dataset, predictor, "pointwise", mapping=mapping)


def test_lineage_follows_parent_run_ids_through_the_registry():
    from seg_core.runs.registry import RunRegistry

    registry = RunRegistry()
    base = registry.create_run({"data": "x"}, name="base")
    child = registry.create_run({"data": "x", "parent_run_id": base.id}, name="child")
    grandchild = registry.create_run({"data": "x", "parent_run_id": child.id}, name="grandchild")
    assert labelling.lineage(grandchild.id, registry) == [child.id, base.id]
    assert labelling.lineage(None, registry) == []


def test_each_canvas_drawing_keeps_the_class_of_its_own_colour(dataset):
    """A stroke that reaches Python after the analyst picked another class (or the eraser) is
    painted with the colour it was drawn in; objects without a class colour take the selection."""
    from seg_core.schemes.classes import hex_color

    session = labelling.open_photo(dataset, "p0", "ana")
    frame = frame_for(session)
    flood = {
        "type": "path",
        "strokeWidth": 2,
        "stroke": hex_color(23) + "cc",
        "path": [["M", 5, 5], ["L", 15, 5]],
    }
    erased = {"type": "path", "strokeWidth": 2, "stroke": "#000000cc", "path": [["M", 5, 5], ["L", 8, 5]]}
    uncoloured = {"type": "path", "strokeWidth": 2, "path": [["M", 5, 20], ["L", 15, 20]]}
    assert labelling.apply_canvas_objects(session, [flood], frame, class_id=1) == 1
    assert session.editor.mask[10, 20] == 23
    assert labelling.apply_canvas_objects(session, [erased, uncoloured], frame, class_id=4) == 2
    assert session.editor.mask[10, 12] == 0 and session.editor.mask[10, 20] == 23
    assert session.editor.mask[40, 20] == 4
    assert session.edits == 3  # what the page shows after the canvas
    assert object_class({"type": "Circle", "fill": "rgba(0,0,0,0.5)"}, 7, HARVEY) == 7
