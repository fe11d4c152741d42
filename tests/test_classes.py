import itertools

import numpy as np
import pytest

from seg_core.schemes import classes


def test_catalogue_has_the_25_harvey_classes_in_id_order():
    assert classes.NUM_CLASSES == 25
    assert [c.id for c in classes.CLASSES] == list(range(25))
    assert classes.CLASS_NAMES[0] == "Background"
    assert classes.CLASS_NAMES[23] == "Flooded"
    assert classes.CLASS_NAMES[24] == "Boat"
    assert classes.class_id("flooded") == 23
    with pytest.raises(ValueError, match="valid names"):
        classes.class_id("Lava")


def test_palette_colours_are_clearly_distinct():
    colors = classes.PALETTE.astype(float)
    for a, b in itertools.combinations(range(25), 2):
        assert np.linalg.norm(colors[a] - colors[b]) >= 60, (classes.CLASS_NAMES[a], classes.CLASS_NAMES[b])
    # The pairs analysts compare most must be far apart.
    for a, b in [
        ("Flooded", "Water Body"),
        ("Swimming Pool", "Water Body"),
        ("Property Roof", "Road/Highway"),
        ("Grass", "Trees/Shrubs"),
        ("Flooded", "Swimming Pool"),
    ]:
        distance = np.linalg.norm(colors[classes.class_id(a)] - colors[classes.class_id(b)])
        assert distance >= 150, (a, b, distance)


def test_colorize_maps_ids_to_palette_and_survives_bad_ids():
    mask = np.array([[0, 1], [23, 200]], dtype=np.uint8)
    rgb = classes.colorize(mask)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 1]) == classes.CLASSES[1].color
    assert tuple(rgb[1, 0]) == classes.CLASSES[23].color
    assert tuple(rgb[1, 1]) == (0, 0, 0)


def test_legend_entries_report_shares_sorted():
    mask = np.array([[1, 1, 1, 23]], dtype=np.uint8)
    rows = classes.legend_entries(mask)
    assert [(r["name"], r["share"]) for r in rows] == [("Property Roof", 0.75), ("Flooded", 0.25)]
    assert rows[0]["color"] == classes.hex_color(1)
    assert len(classes.legend_entries()) == 25
    assert len(classes.pil_palette()) == 768
