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
