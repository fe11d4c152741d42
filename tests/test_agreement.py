"""Two analysts label one photo independently: neither sees the saved mask or the other's work,
their per-class IoU and the pixels they disagree on are shown, and a reviewer who did not label
it resolves it. Gold photos score each analyst's later labels against the accepted mask."""

from __future__ import annotations

import numpy as np
import pytest
from review_helpers import ANA, BEN, RITA, mask_of, put_in_state, storm

from seg_core.labelling import agreement, review
from seg_core.labelling.labelstore import LabelStore
from seg_core.runs.registry import RunRegistry
from seg_core.schemes.scheme import RESCUENET
from seg_core.services import agreement as agreement_service
from seg_core.services import labelling
from seg_core.services.caller import Caller
from seg_core.team import audit
from seg_core.team.access import AccessDenied, Actor

ROSS = Actor("ross@eoc.example.org", "reviewer")


def label_as(dataset, stem: str, who, paint) -> str:
    """Open the photo on the Label page's path, paint, save; returns the page's sentence."""
    session = labelling.open_photo(dataset, stem, who.user)
    paint(session.editor.mask)
    return labelling.save_labels(session, caller=Caller(who))


@pytest.fixture
def asked(tmp_path):
    """p0: accepted (saved by ana), pre-labelled, and asked for independent labels by rita."""
    dataset = storm(tmp_path / "storm", n=2)
    store = LabelStore(dataset)
    put_in_state(store, "p0", "pre-labelled")
    store.save("p0", mask_of(5), "carl", store.version("p0"))
    review.review(store, "p0", "accept", "rita")
    agreement_service.request_labels(dataset, "p0", Caller(RITA))
    return dataset


def test_independent_labels_start_from_the_pre_label_and_leave_the_saved_mask_alone(asked):
    store = LabelStore(asked)
    session = labelling.open_photo(asked, "p0", ANA.user)
    assert session.source == "pre-label" and np.array_equal(session.editor.mask, mask_of(1))
    saved_before = (store.version("p0"), review.photo_state(store, "p0").state)
    sentence = label_as(asked, "p0", ANA, lambda m: m.__setitem__(slice(0, 20), 3))
    assert (
        sentence.startswith("Saved your own label of p0 (40x30 px) as ana@")
        and "compares the labels" in sentence
    )
    assert (store.version("p0"), review.photo_state(store, "p0").state) == saved_before
    # ben opens it: the pre-label again, never ana's label
    assert np.array_equal(labelling.open_photo(asked, "p0", BEN.user).editor.mask, mask_of(1))
    # ana opens it again: her own label
    reopened = labelling.open_photo(asked, "p0", ANA.user)
    assert reopened.source == "saved" and (reopened.editor.mask[:20] == 3).all()


def test_per_class_iou_and_the_disagreement_overlay(asked):
    label_as(asked, "p0", ANA, lambda m: m.__setitem__(slice(0, 20), 3))  # rows 0-19 pool
    label_as(asked, "p0", BEN, lambda m: m.__setitem__(slice(0, 10), 3))  # rows 0-9 pool, 10-29 background
    result = agreement_service.compare_labels(asked, "p0", ANA.user, BEN.user)
    iou = {row["name"]: row["iou"] for row in result.per_class}
    # pool: 10 rows shared of 20 in either; background: 10 rows shared of 20 in either
    assert iou == {"Background": 0.5, "Swimming Pool": 0.5}
    assert result.pixel_agreement == pytest.approx(20 / 30, abs=1e-4) and result.miou == 0.5
    photo = np.full((30, 40, 3), 100, np.uint8)
    picture = agreement_service.disagreement_picture(
        photo, *(agreement.load_label(LabelStore(asked), "p0", w.user) for w in (ANA, BEN))
    )
    magenta = (picture[..., 0] > 150) & (picture[..., 1] < 100) & (picture[..., 2] > 150)
    assert magenta[10:20].all() and not magenta[:10].any() and not magenta[20:].any()


def test_a_reviewer_who_did_not_label_it_resolves_it(asked):
    label_as(asked, "p0", ANA, lambda m: m.__setitem__(slice(0, 20), 3))
    with pytest.raises(review.ReviewError, match="has 1 of the 2 independent labels"):
        agreement_service.resolve(asked, "p0", ANA.user, Caller(RITA))
    label_as(asked, "p0", RITA, lambda m: m.__setitem__(slice(0, 10), 3))  # a reviewer may label too
    with pytest.raises(review.OwnMaskError, match="labelled this photo too"):
        agreement_service.resolve(asked, "p0", ANA.user, Caller(RITA))
    with pytest.raises(AccessDenied):
        agreement_service.resolve(asked, "p0", ANA.user, Caller(BEN))
    state = agreement_service.resolve(asked, "p0", ANA.user, Caller(ROSS))
    store = LabelStore(asked)
    assert (state.state, state.by, state.reviewer) == ("accepted", ANA.user, ROSS.user)
    assert (store.load_working_mask("p0")[0][:20] == 3).all()
    assert not agreement.independent(store, "p0")  # back to ordinary labelling
    outcomes = [(r.actor, r.outcome) for r in audit.rows(RunRegistry(), action="label.agreement")][::-1]
    assert outcomes == [
        (RITA.user, "allowed"),  # the request
        (RITA.user, "failed"),
        (RITA.user, "refused"),
        (BEN.user, "refused"),
        (ROSS.user, "allowed"),
    ]


def test_gold_photos_score_later_labels_and_are_not_announced(asked):
    dataset, store = asked, LabelStore(asked)
    label_as(dataset, "p0", ANA, lambda m: m.__setitem__(slice(0, 15), 5))
    label_as(dataset, "p0", BEN, lambda m: None)
    agreement_service.resolve(dataset, "p0", ANA.user, Caller(ROSS))
    with pytest.raises(review.ReviewError, match="only an accepted mask can be gold"):
        agreement_service.mark_gold(dataset, "p1", Caller(RITA))
    agreement_service.mark_gold(dataset, "p0", Caller(RITA))
    assert agreement_service.gold_scores(dataset) == []  # labels made before it was gold do not count
    # An analyst opening the gold photo starts from the pre-label, as on any independent photo.
    session = labelling.open_photo(dataset, "p0", BEN.user)
    assert np.array_equal(session.editor.mask, mask_of(1))  # his own earlier label: the pre-label
    assert not np.array_equal(session.editor.mask, store.load_working_mask("p0")[0])  # not the gold
    assert "gold" not in labelling.photo_table(dataset)[0]["review"]
    label_as(dataset, "p0", BEN, lambda m: m.__setitem__(slice(0, 15), 5))  # matches gold
    label_as(dataset, "p0", ANA, lambda m: m.__setitem__(slice(0, 30), 5))  # all 'Grass'
    scores = agreement_service.gold_scores(dataset)
    assert [(s["who"], s["miou"]) for s in scores] == [(BEN.user, 1.0), (ANA.user, 0.25)]
    summary = {row["who"]: row for row in agreement_service.gold_summary(scores)}
    assert summary[BEN.user]["gold_photos"] == 1 and summary[ANA.user]["latest_miou"] == 0.25
    # A later save of the photo's mask leaves the gold reference as it was.
    agreement_service.unmark_gold(dataset, "p0", Caller(RITA))
    store.save("p0", mask_of(9), "carl", store.version("p0"))
    assert not agreement.is_gold(store, "p0")


def test_only_reviewers_ask_and_mark_gold(asked):
    for action in (
        lambda: agreement_service.request_labels(asked, "p1", Caller(ANA)),
        lambda: agreement_service.mark_gold(asked, "p0", Caller(ANA)),
    ):
        with pytest.raises(AccessDenied, match="needs the reviewer role"):
            action()


def test_agreement_speaks_the_datasets_scheme(asked):
    (asked / "classes.json").write_text('{"scheme": "rescuenet"}')
    major = RESCUENET.class_id("building-major-damage")
    label_as(asked, "p0", ANA, lambda m: m.__setitem__(slice(0, 20), major))
    label_as(asked, "p0", BEN, lambda m: m.__setitem__(slice(0, 10), major))
    result = agreement_service.compare_labels(asked, "p0", ANA.user, BEN.user)
    assert {row["name"] for row in result.per_class} == {"background", "building-major-damage"}
    picture = agreement_service.labels_picture(asked, "p0", ANA.user, BEN.user)
    photo = agreement_service.photo_view(asked, "p0").astype(np.float64)
    # rows both call major damage: RescueNet's colour for it blended in, not Harvey's id 4 (Vehicle)
    expected = RESCUENET.palette[major] * 0.3 + photo[0, 0] * 0.7
    np.testing.assert_allclose(picture[0, 0], expected, atol=1)
