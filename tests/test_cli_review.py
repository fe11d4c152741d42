"""`python -m seg_core label states | accept | reject | sets | diff | export | agreement | gold`:
the review's non-visual parts from the command line, as the owner, audited."""

from __future__ import annotations

import json

import pytest
from review_helpers import ANA, BEN, RITA, put_in_state, storm

from seg_core.cli import main
from seg_core.labelling import review
from seg_core.labelling.labelstore import LabelStore
from seg_core.runs.registry import RunRegistry
from seg_core.services import agreement as agreement_service
from seg_core.services import labelling
from seg_core.services.caller import Caller
from seg_core.team import audit


@pytest.fixture
def dataset(tmp_path):
    root = storm(tmp_path / "storm", n=4, with_masks=1)
    store = LabelStore(root)
    put_in_state(store, "p1", "submitted", author=ANA.user)
    put_in_state(store, "p2", "submitted", author=BEN.user)
    put_in_state(store, "p3", "pre-labelled")
    return root


def run_json(capsys, *args) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_states_lists_every_photo_and_filters_by_state(dataset, capsys):
    rows = run_json(capsys, "label", "states", str(dataset))["photos"]
    assert [(r["photo"], r["state"]) for r in rows] == [
        ("p0", "accepted"),
        ("p1", "submitted"),
        ("p2", "submitted"),
        ("p3", "pre-labelled"),
    ]
    only = run_json(capsys, "label", "states", str(dataset), "--state", "submitted")["photos"]
    assert [r["photo"] for r in only] == ["p1", "p2"]
    assert main(["label", "states", str(dataset), "--state", "approved"]) == 2
    assert "--state 'approved' is not one of: unlabelled" in capsys.readouterr().err


def test_accept_in_bulk_as_the_owner_and_each_row_audited(dataset, capsys):
    assert main(["label", "accept", str(dataset)]) == 2  # neither photos nor --all
    assert "name the photos to accept, or --all" in capsys.readouterr().err
    result = run_json(capsys, "label", "accept", str(dataset), "--all")
    assert result == {"accepted": ["p1", "p2"], "refused": []}
    assert [r.outcome for r in audit.rows(RunRegistry(), actor="owner", action="label.accept")] == [
        "allowed"
    ] * 2
    assert main(["label", "accept", str(dataset), "p3"]) == 2  # pre-labelled: nothing to accept
    assert "p3 is pre-labelled: only a submitted mask can be accepted" in capsys.readouterr().err


def test_reject_needs_a_comment_and_says_the_new_state(dataset, capsys):
    assert main(["label", "reject", str(dataset), "p1", "--comment", "the shed is a car"]) == 0
    assert capsys.readouterr().out.strip() == "p1: rejected by owner (saved by ana@eoc.example.org)"
    assert main(["label", "reject", str(dataset), "p2", "--comment", "x" * 5000]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "5,000 characters" in err


def test_export_sets_and_diff(dataset, tmp_path, capsys):
    assert main(["label", "export", str(dataset), "--out", str(tmp_path / "v1")]) == 0
    first = json.loads((tmp_path / "v1" / "labelset.json").read_text())
    assert [p["stem"] for p in first["photos"]] == ["p0"]
    assert sorted(p.name for p in (tmp_path / "v1" / "train_masks").iterdir()) == ["p0.png"]
    assert main(["label", "export", str(dataset), "--out", str(tmp_path / "v1")]) == 2  # never over a folder
    capsys.readouterr()
    run_json(capsys, "label", "accept", str(dataset), "p1")
    change = run_json(capsys, "label", "diff", first["id"], "--data", str(dataset))
    assert change["added"] == ["p1"] and change["removed"] == []
    assert main(["label", "export", str(dataset), "--out", str(tmp_path / "v2")]) == 0
    capsys.readouterr()
    sets = run_json(capsys, "label", "sets", str(dataset))["sets"]
    assert [s["masks"] for s in sets] == [1, 2]
    assert (
        main(["label", "export", str(dataset), "--out", str(tmp_path / "again"), "--set", first["id"]]) == 0
    )
    again = json.loads((tmp_path / "again" / "labelset.json").read_text())
    assert again["id"] == first["id"]  # the old set, reproduced
    assert main(["label", "diff", "ls-000000000000", "--data", str(dataset)]) == 2
    assert "no label set 'ls-000000000000'" in capsys.readouterr().err


def test_agreement_and_gold_reports(dataset, capsys):
    store = LabelStore(dataset)
    agreement_service.request_labels(dataset, "p3", Caller(RITA))
    for who, rows in ((ANA, 20), (BEN, 10)):
        session = labelling.open_photo(dataset, "p3", who.user)
        session.editor.mask[:rows] = 3
        labelling.save_labels(session, caller=Caller(who))
    (request,) = run_json(capsys, "label", "agreement", str(dataset))["requests"]
    assert request["ready"] and request["miou"] == 0.5 and request["labels"] == f"{ANA.user}, {BEN.user}"
    assert review.photo_state(store, "p0").state == "accepted"
    agreement_service.mark_gold(dataset, "p0", Caller(RITA))
    session = labelling.open_photo(dataset, "p0", ANA.user)
    labelling.save_labels(session, caller=Caller(ANA))
    gold = run_json(capsys, "label", "gold", str(dataset))
    assert [a["who"] for a in gold["analysts"]] == [ANA.user] and len(gold["scores"]) == 1


def test_a_path_for_a_photo_name_is_refused(dataset, capsys):
    for name in ("../../etc/passwd", ".stormseg-labels", "p1/.."):
        assert main(["label", "accept", str(dataset), name]) == 2
        assert "is not a photo name" in capsys.readouterr().err
    assert not (dataset.parent / "etc").exists()
