"""The label scheme as data: built-ins, roles and their validation."""

import numpy as np
import pytest

from seg_core.schemes import classes
from seg_core.schemes.scheme import (
    BUILDING,
    FLOODED,
    HARVEY,
    ROAD,
    LabelScheme,
    SchemeClass,
    builtin,
)


def test_harvey_scheme_is_todays_table():
    assert HARVEY.names == classes.CLASS_NAMES
    assert np.array_equal(HARVEY.palette, classes.PALETTE)
    assert HARVEY.ignore_index == classes.IGNORE_INDEX
    assert HARVEY.ids(FLOODED) == (classes.class_id("Flooded"),)
    assert HARVEY.ids(BUILDING) == (classes.class_id("Property Roof"),)
    assert not HARVEY.grades_damage


def test_rescuenet_grades_damage_and_floodnet_floods_buildings_and_roads():
    rescuenet, floodnet = builtin("rescuenet"), builtin("FloodNet")
    assert rescuenet.num_classes == 11 and floodnet.num_classes == 10
    assert [rescuenet.damage_of(i) for i in rescuenet.ids(BUILDING)] == [
        "No damage",
        "Minor",
        "Major",
        "Destroyed",
    ]
    assert rescuenet.ids(ROAD, blocked=True) == (rescuenet.class_id("road-blocked"),)
    assert floodnet.ids(flooded=True) == (
        floodnet.class_id("building-flooded"),
        floodnet.class_id("road-flooded"),
    )
    assert not floodnet.has_role(FLOODED)  # no flooded-ground class: figures say so, never guess an id


def test_bad_schemes_are_refused_with_a_sentence():
    with pytest.raises(ValueError, match="unknown label scheme 'nope'"):
        builtin("nope")
    with pytest.raises(ValueError, match="unknown role 'roof'"):
        SchemeClass(0, "roof", (1, 2, 3), role="roof")
    with pytest.raises(ValueError, match="expected 0"):
        LabelScheme("x", (SchemeClass(1, "a", (0, 0, 0)),))
    with pytest.raises(ValueError, match="only a building class"):
        SchemeClass(0, "car", (0, 0, 0), role="vehicle", damage="Minor")


def test_the_engine_reads_the_scheme_at_hand_never_the_harvey_constants():
    import ast
    from pathlib import Path

    engine = Path(__file__).resolve().parent.parent / "seg_core"
    readers = []
    for path in sorted(engine.rglob("*.py")):
        name = str(path.relative_to(engine))
        if name.startswith("schemes/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            if "seg_core.schemes.classes" in modules or (
                "seg_core.schemes" in modules and "classes" in names
            ):
                readers.append(name)
    assert readers == []


def test_published_names_and_colours():
    rescuenet, floodnet = builtin("rescuenet"), builtin("floodnet")
    # RescueNet's loader (Segmentation-Experiments/data/rescuenet.py): ids and colour_encoding.
    assert rescuenet.names[6:9] == ("vehicle", "road-clear", "road-blocked")
    assert [rescuenet.hex_color(i) for i in (2, 5, 9)] == ["#b47878", "#ff0000", "#04fa07"]
    assert floodnet.names == (
        "background",
        "building-flooded",
        "building-non-flooded",
        "road-flooded",
        "road-non-flooded",
        "water",
        "tree",
        "vehicle",
        "pool",
        "grass",
    )
    assert floodnet.classes[1].color == (255, 0, 0) and floodnet.classes[5].color == (61, 230, 250)
