"""A dataset's classes.json and the scheme a checkpoint records: read, validated, one sentence each."""

from __future__ import annotations

import json

import pytest

from seg_core.cli import main
from seg_core.schemes.files import (
    SchemeError,
    read_dataset_scheme,
    scheme_from_dict,
    scheme_of_meta,
    write_dataset_scheme,
)
from seg_core.schemes.scheme import BUILDING, FLOODED, HARVEY, RESCUENET, builtin

TEAM = {
    "name": "county-2026",
    "classes": [
        {"id": 0, "name": "background", "color": "#000000", "role": "background"},
        {"id": 1, "name": "house", "color": [230, 25, 75], "role": "building", "damage": "No damage"},
        {"id": 2, "name": "house-roof-off", "color": "#FFB806", "role": "building", "damage": "Major"},
        {"id": 3, "name": "flood", "color": [150, 0, 255], "role": "flooded", "flooded": True},
    ],
}


def write(root, values) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps(values))


def test_a_built_in_is_named_and_a_teams_own_scheme_is_declared(tmp_path):
    write(tmp_path / "a", {"scheme": "RescueNet"})
    assert read_dataset_scheme(tmp_path / "a") is RESCUENET
    write(tmp_path / "b", TEAM)
    own = read_dataset_scheme(tmp_path / "b")
    assert own.name == "county-2026" and own.names == ("background", "house", "house-roof-off", "flood")
    assert own.ids(BUILDING) == (1, 2) and own.damage_of(2) == "Major" and own.ids(FLOODED) == (3,)
    assert own.classes[2].color == (255, 184, 6)  # '#rrggbb' and [r, g, b] both read
    assert read_dataset_scheme(tmp_path / "none") is None  # no file: the caller's default
    # Written back, each reads as itself: a built-in by name, a team's own in full.
    assert json.loads(write_dataset_scheme(tmp_path / "c", RESCUENET).read_text()) == {"scheme": "rescuenet"}
    write_dataset_scheme(tmp_path / "d", own)
    assert read_dataset_scheme(tmp_path / "d") == own


def hostile(classes: list, **extra) -> dict:
    return {"name": "x", "classes": classes, **extra}


def entry(i: int, **changes) -> dict:
    return {"id": i, "name": f"c{i}", "color": [i, i, i], "role": "other", **changes}


@pytest.mark.parametrize(
    "values, sentence",
    [
        (hostile([entry(0), entry(1), entry(1, name="again")]), "id 1 is used twice ('c1' and 'again')"),
        (
            hostile([entry(0), {"id": 1, "name": "roof", "role": "building"}]),
            "class #2 ('roof') has no colour",
        ),
        (hostile([entry(i) for i in range(300)]), "declares 300 classes; at most 255"),
        (hostile([entry(0, role="roof")]), "class #1 ('c0') has unknown role 'roof'; roles: background"),
        (hostile([entry(0), entry(2)]), "ids must run 0..1 without gaps; 1 is missing"),
        (hostile([entry(0, color="red")]), "has colour 'red'; give '#rrggbb'"),
        (hostile([entry(0, role="vehicle", damage="Major")]), "only a building grades damage"),
        (hostile([entry(0, colour=[1, 2, 3])]), "unknown key(s) colour"),
        (hostile([entry(0), entry(1, name="C0")]), "name 'C0' is used twice"),
        (hostile([entry(0)], ignore_index=0), '"ignore_index" 0 must be a whole number outside the ids'),
        ({"scheme": "lavanet"}, "unknown label scheme 'lavanet'; built in: harvey, floodnet, rescuenet"),
        ({"name": "harvey", "classes": [entry(0)]}, "named 'harvey' like the built-in scheme"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_a_hostile_scheme_file_is_refused_with_one_sentence_naming_the_file(tmp_path, values, sentence):
    write(tmp_path, values)
    with pytest.raises(SchemeError) as caught:
        read_dataset_scheme(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'classes.json'}: ") and sentence in message
    assert "\n" not in message and "Traceback" not in message


def test_every_problem_of_a_file_is_named_not_only_the_first(tmp_path):
    write(tmp_path, hostile([entry(0, role="roof"), {"id": 1, "name": "b", "role": "other"}, entry(1)]))
    with pytest.raises(SchemeError) as caught:
        read_dataset_scheme(tmp_path)
    assert len(caught.value.problems) == 2
    assert "unknown role 'roof'" in caught.value.problems[0] and "no colour" in caught.value.problems[1]


def test_an_unreadable_file_is_one_sentence(tmp_path):
    (tmp_path / "classes.json").write_text("{not json")
    with pytest.raises(SchemeError, match="classes.json: cannot be read as JSON"):
        read_dataset_scheme(tmp_path)


def test_the_cli_refuses_a_hostile_scheme_file_with_exit_2_and_one_line(tmp_path, capsys):
    from helpers import make_pairs

    make_pairs(tmp_path, 2)
    write(tmp_path, hostile([entry(0), entry(0)]))
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "id 0 is used twice" in err and "classes.json" in err


def test_a_checkpoints_scheme_is_checked_against_its_outputs():
    assert scheme_of_meta({"num_classes": 25}, "old.pt") is HARVEY  # written before schemes: harvey
    assert scheme_of_meta({"num_classes": 11, "scheme": RESCUENET.to_dict()}, "r.pt") is RESCUENET
    with pytest.raises(SchemeError, match="r.pt: records 11 classes but no label scheme"):
        scheme_of_meta({"num_classes": 11}, "r.pt")
    with pytest.raises(SchemeError, match="25 outputs but its label scheme 'rescuenet' has 11 classes"):
        scheme_of_meta({"num_classes": 25, "scheme": RESCUENET.to_dict()}, "r.pt")
    with pytest.raises(SchemeError, match="its label scheme: class #1 .* unknown role"):
        bad = {"name": "t", "classes": [entry(0, role="tower")]}
        scheme_of_meta({"num_classes": 1, "scheme": bad}, "t.pt")


def test_to_dict_round_trips_every_built_in():
    for scheme in (HARVEY, RESCUENET, builtin("floodnet")):
        assert scheme_from_dict(scheme.to_dict(), "meta") is scheme
