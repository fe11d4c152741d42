"""The review state machine: every transition against every role, checked in the engine call
(the services the page and the CLI use), not in the buttons; each attempt leaves one audit row.
Existing masks read with a sensible state without a migration, and hostile inputs get a sentence."""

from __future__ import annotations

import json
import re
import time

import pytest
from review_helpers import ANA, RITA, mask_of, put_in_state, storm

from seg_core.labelling import review
from seg_core.labelling.labelstore import LabelStore
from seg_core.labelling.provenance import own_truth_share, person_share
from seg_core.runs.registry import RunRegistry
from seg_core.services import agreement as agreement_service
from seg_core.services import labelling
from seg_core.services import review as review_service
from seg_core.services.caller import Caller
from seg_core.team import audit
from seg_core.team.access import AccessDenied, Actor

# Written out here, not read from the module: the table is what the test checks.
NEXT = {
    "accept": {"submitted": "accepted"},
    "reject": {"submitted": "rejected", "accepted": "rejected"},
    "fix": {"submitted": "accepted", "accepted": "accepted", "rejected": "accepted"},
}
ROLE_RANK = {"viewer": 0, "analyst": 1, "reviewer": 2, "admin": 3}
NEEDS = {"save": "analyst", "accept": "reviewer", "reject": "reviewer", "fix": "reviewer", "gold": "reviewer"}
AUDITED_AS = {"save": "label.save", "accept": "label.accept", "reject": "label.reject", "fix": "label.accept"}
AUDITED_AS["gold"] = "label.gold"
STATES = ("unlabelled", "pre-labelled", "draft", "submitted", "accepted", "rejected")
ROLES = ("viewer", "analyst", "reviewer", "admin", "owner")
CASES = [
    (state, action, role, own)
    for state in STATES
    for action in NEEDS
    for role in ROLES
    for own in ((False, True) if state in ("submitted", "accepted", "rejected") else (False,))
]


def expected(state: str, action: str, role: str, own: bool) -> tuple[str, str]:
    """(audit outcome, state after) for one attempt."""
    if role != "owner" and ROLE_RANK[role] < ROLE_RANK[NEEDS[action]]:
        return "refused", state
    if action == "save":
        return "allowed", "submitted"
    if action == "gold":
        return ("allowed", state) if state == "accepted" else ("failed", state)
    if state not in NEXT[action]:
        return "failed", state
    if action in ("accept", "fix") and own and role != "owner":
        return "refused", state
    return "allowed", NEXT[action][state]


def attempt(dataset, stem: str, action: str, caller: Caller, me: str, version: str):
    if action == "save" or action == "fix":
        session = labelling.open_photo(dataset, stem, me)
        session.editor.mask[-5:] = 23  # a correction: the bottom rows are flooded
        if action == "save":
            return labelling.save_labels(session, caller=caller)
        return review_service.fix_and_accept(session, caller)
    if action == "accept":
        return review_service.accept(dataset, stem, caller, expected_version=version)
    if action == "reject":
        return review_service.reject(dataset, stem, "the flood reaches the road", caller, version)
    return agreement_service.mark_gold(dataset, stem, caller, expected_version=version)


@pytest.mark.parametrize(("state", "action", "role", "own"), CASES, ids=lambda v: str(v))
def test_every_transition_against_every_role(tmp_path, state, action, role, own):
    dataset = storm(tmp_path / "storm", n=1)
    store = LabelStore(dataset)
    actor = None if role == "owner" else Actor(f"me.{role}@eoc.example.org", role)
    me = actor.user if actor else "owner"
    put_in_state(store, "p0", state, author=me if own else "someone.else@eoc.example.org")
    before = review.photo_state(store, "p0")
    registry = RunRegistry()
    outcome, after = expected(state, action, role, own)
    try:
        attempt(dataset, "p0", action, Caller(actor, registry), me, before.version)
    except AccessDenied:
        assert outcome == "refused"
    except ValueError:
        assert outcome in ("failed", "refused")
    else:
        assert outcome == "allowed"
    assert review.photo_state(store, "p0").state == after
    rows = audit.rows(registry, action=AUDITED_AS[action])
    assert rows and rows[0].outcome == outcome and rows[0].actor == me
    assert rows[0].target == f"{dataset.name}/p0"
    if outcome != "allowed":
        assert rows[0].detail  # the sentence the person read
    if action == "fix" and outcome == "allowed":
        now = review.photo_state(store, "p0")
        assert now.by == me and now.reviewer == me and now.submitted_by == before.by
        assert (store.load_working_mask("p0")[0][-5:] == 23).all()  # the fix is what was accepted


def test_existing_masks_read_with_a_sensible_state_without_a_migration(tmp_path):
    dataset = storm(tmp_path / "storm", n=5, with_masks=2)  # p0, p1 came with the dataset
    store = LabelStore(dataset)
    put_in_state(store, "p2", "pre-labelled")
    # p3: saved by an earlier StormSeg, whose records had no review (nor provenance) at all
    store.save("p3", mask_of(3), "ana", store.version("p3"))
    record = json.loads(store.record_path("p3").read_text())
    record.pop("provenance")
    store.record_path("p3").write_text(json.dumps(record))
    # p1: saved in StormSeg, then replaced outside it (the record no longer describes the file)
    store.save("p1", mask_of(2), "ana", store.version("p1"))
    time.sleep(0.01)  # a distinct mtime for the replaced file's version token
    from PIL import Image

    Image.fromarray(mask_of(4)).save(store.mask_path("p1"))
    states = {s.stem: s for s in review.photo_states(store)}
    assert {stem: s.state for stem, s in states.items()} == {
        "p0": "accepted",  # the dataset's own truth
        "p1": "submitted",  # nobody vouched for the file now on disk
        "p2": "pre-labelled",
        "p3": "submitted",  # a person's save waits for review
        "p4": "unlabelled",
    }
    assert states["p0"].describe() == "accepted (came with the dataset)"
    assert states["p1"].describe() == "submitted (changed outside StormSeg)"
    assert states["p2"].describe() == "pre-labelled by demo"
    assert states["p3"].describe() == "submitted (saved by ana)"


def test_a_rejected_mask_goes_back_to_review_when_saved_again_and_keeps_the_comment_until_then(tmp_path):
    dataset = storm(tmp_path / "storm", n=1)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "submitted", author=ANA.user)
    review_service.reject(dataset, "p0", "  the pool is a roof\n", Caller(RITA))
    rejected = review.photo_state(store, "p0")
    assert (rejected.state, rejected.comment, rejected.reviewer) == (
        "rejected",
        "the pool is a roof",
        RITA.user,
    )
    session = labelling.open_photo(dataset, "p0", ANA.user)
    labelling.save_labels(session, caller=Caller(ANA))
    again = review.photo_state(store, "p0")
    assert (again.state, again.comment, again.by) == ("submitted", None, ANA.user)
    (row,) = audit.rows(RunRegistry(), action="label.reject")
    assert re.fullmatch(r"submitted -> rejected \(mask [0-9a-f]{12}\): the pool is a roof", row.detail)


def test_an_accepted_mask_counts_as_a_persons_for_evaluate_and_the_cautions(tmp_path):
    dataset = storm(tmp_path / "storm", n=1)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "pre-labelled")
    session = labelling.open_photo(dataset, "p0", "ana")  # saved untouched: all the model's guess
    labelling.save_labels(session)
    assert person_share(store.saved_provenance("p0")) == 0.0
    assert any("mostly a model's pre-label" in c for c in labelling.finetune_cautions(dataset))
    review_service.accept(dataset, "p0", Caller(RITA))  # a reviewer looked at it: it is truth now
    provenance = store.saved_provenance("p0")
    assert person_share(provenance) == 1.0
    assert not any("mostly a model's pre-label" in c for c in labelling.finetune_cautions(dataset))
    assert own_truth_share(mask_of(1), mask_of(1), provenance) == 0.0


# ---- hostile inputs --------------------------------------------------------------------------
def test_a_comment_of_one_megabyte_is_refused_with_a_sentence_and_nothing_changes(tmp_path):
    dataset = storm(tmp_path / "storm", n=1)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "submitted", author=ANA.user)
    with pytest.raises(review.ReviewError, match=r"the comment has 1,048,576 characters; .* at most 2,000"):
        review_service.reject(dataset, "p0", "x" * (1 << 20), Caller(RITA))
    assert review.photo_state(store, "p0").state == "submitted"
    (row,) = audit.rows(RunRegistry(), action="label.reject")
    assert row.outcome == "failed" and len(row.detail) < 200  # the sentence, not the megabyte
    with pytest.raises(review.ReviewError, match="needs a comment"):
        review_service.reject(dataset, "p0", "   ", Caller(RITA))
    with pytest.raises(review.ReviewError, match="control characters"):
        review_service.reject(dataset, "p0", "bad\x1b[2J", Caller(RITA))


def test_accepting_a_photo_that_changed_since_it_was_submitted_is_refused(tmp_path):
    dataset = storm(tmp_path / "storm", n=1)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "submitted", author=ANA.user)
    seen = review.photo_state(store, "p0")  # what the reviewer opened
    store.save("p0", mask_of(5), ANA.user, seen.version)  # ana saves again meanwhile
    with pytest.raises(review.MaskChangedError, match=r"p0: the mask changed after you opened it .*ana@"):
        review_service.accept(dataset, "p0", Caller(RITA), expected_version=seen.version)
    assert review.photo_state(store, "p0").state == "submitted"
    (row,) = audit.rows(RunRegistry(), action="label.accept")
    assert row.outcome == "failed" and "changed after you opened it" in row.detail


def test_an_accepted_state_never_applies_to_another_mask(tmp_path):
    dataset = storm(tmp_path / "storm", n=1)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "accepted", author=ANA.user)
    store.save("p0", mask_of(7), "ben", store.version("p0"))  # a new save: a new version to review
    assert review.photo_state(store, "p0").state == "submitted"


def test_bulk_accept_as_the_owner_accepts_every_submitted_mask_and_audits_each(tmp_path):
    dataset = storm(tmp_path / "storm", n=4, with_masks=1)
    store = LabelStore(dataset)
    for stem in ("p1", "p2"):
        put_in_state(store, stem, "submitted", author="owner")
    put_in_state(store, "p3", "rejected")
    accepted, refused = review_service.accept_all(dataset)
    assert (accepted, refused) == (["p1", "p2"], [])
    assert [s.state for s in review.photo_states(store)] == ["accepted", "accepted", "accepted", "rejected"]
    rows = audit.rows(RunRegistry(), action="label.accept")
    assert [(r.actor, r.target, r.outcome) for r in rows][::-1] == [
        ("owner", f"{dataset.name}/p1", "allowed"),
        ("owner", f"{dataset.name}/p2", "allowed"),
    ]


def test_a_reviewer_bulk_accept_leaves_their_own_masks_for_someone_else(tmp_path):
    dataset = storm(tmp_path / "storm", n=2)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "submitted", author=RITA.user)
    put_in_state(store, "p1", "submitted", author=ANA.user)
    accepted, refused = review_service.accept_all(dataset, Caller(RITA))
    assert accepted == ["p1"] and len(refused) == 1 and "ask another reviewer" in refused[0]
    assert review.photo_state(store, "p0").state == "submitted"


def test_an_unknown_action_or_a_removed_photo_is_a_sentence(tmp_path):
    dataset = storm(tmp_path / "storm", n=1)
    with pytest.raises(ValueError, match="unknown review action 'approve'"):
        review.next_state("submitted", "approve")
    (dataset / "train_images" / "p0.png").unlink()
    with pytest.raises(ValueError, match="no longer in the dataset"):
        review_service.accept(dataset, "p0", Caller(RITA))
