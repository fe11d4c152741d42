"""Review on the Label page (AppTest): the owner's queue with accept and reject, the panel under
the photo (a rejection's comment, fix and accept), agreement and gold screens, and in team mode
what an analyst and a reviewer are offered. Runs shows which labels made a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_data import storm, submit
from streamlit.testing.v1 import AppTest

from seg_core.labelling import review
from seg_core.labelling.labelstore import LabelStore
from seg_core.runs.registry import RunRegistry
from seg_core.services import agreement as agreement_service
from seg_core.services import labelling
from seg_core.services.caller import Caller
from seg_core.team import access, audit
from seg_core.team.access import Actor

APP = Path(__file__).resolve().parents[2] / "app.py"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "cookie-secret",
    "client_id": "stormseg",
    "client_secret": "client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ANA, BEN = "ana@eoc.example.org", "ben@eoc.example.org"


def label_page(email: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if email is not None:
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "email": email}
    return at.switch_page("app_pages/label.py").run()


def one(elements, label: str):
    [element] = [e for e in elements if e.label == label]
    return element


def modes(at: AppTest) -> list:
    """The Label page's review mode picker (a list: empty when the page does not offer it)."""
    return [e for e in at.get("segmented_control") if e.key.startswith("review_mode__")]


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.caption, *at.info, *at.warning, *at.success, *at.error])


def test_the_owner_accepts_and_rejects_from_the_queue(stormseg_home):
    root = storm(2)
    submit(root, "p0", "owner")
    submit(root, "p1", "ana")
    at = label_page()
    (mode,) = modes(at)
    assert mode.options == ["Label photos", "Review queue (2)", "Agreement and gold"]
    mode.set_value("Review queue").run()
    assert not at.exception
    assert [c for image in at.image for c in image.captions] == [
        "Submitted mask",
        "Prediction (demo)",  # the sidebar's model: the shipped demo model
        "Uncertainty (dark: sure · yellow: unsure)",
    ]
    assert "submitted (saved by owner)" in texts(at)
    one(at.button, "Accept").click().run()  # the owner works alone: their own mask too
    assert "p0: accepted by owner (saved by owner)." in texts(at)
    one(at.text_area, "Why reject it (the analyst reads this)").input("the car is a shed").run()
    one(at.button, "Reject with this comment").click().run()
    assert "p1: rejected by owner (saved by ana)." in texts(at)
    store = LabelStore(root)
    assert [review.photo_state(store, s).state for s in ("p0", "p1")] == ["accepted", "rejected"]
    assert "Nothing waits for review" in texts(at)
    rows = audit.rows(RunRegistry(), actor="owner")
    assert [(r.action, r.outcome) for r in rows[:2]] == [
        ("label.reject", "allowed"),
        ("label.accept", "allowed"),
    ]


def test_the_panel_shows_a_rejection_and_a_fix_is_saved_and_accepted(stormseg_home):
    root = storm(1)
    submit(root, "p0", "ana")
    review.review(LabelStore(root), "p0", "reject", "rita", comment="the pool is a roof")
    at = label_page()
    assert any("Rejected by rita: the pool is a roof" in w.value for w in at.warning)
    session = at.session_state["label_session"]
    session.editor.paint_stroke([(0, 25), (39, 25)], 4, 23)  # a correction, as a brush stroke would
    at.run()
    one(at.button, "Save my fix and accept").click().run()
    assert not at.exception
    state = review.photo_state(LabelStore(root), "p0")
    assert (state.state, state.reviewer, state.submitted_by) == ("accepted", "owner", "ana")


def test_fix_it_opens_the_photo_on_the_label_view_and_the_mode_never_empties(stormseg_home):
    root = storm(2)
    submit(root, "p1", "ana")
    at = label_page()
    assert at.session_state["label_stem"] != "p1"
    (mode,) = modes(at)
    mode.set_value("Review queue").run()
    (mode,) = modes(at)
    mode.set_value(None).run()  # the chosen segment clicked again: it stays chosen
    assert not at.exception and [m.value for m in modes(at)] == ["Review queue"]
    one(at.button, "Fix it on the Label view").click().run()
    assert not at.exception and not at.error  # it set the mode the control showed: an error before
    assert [m.value for m in modes(at)] == ["Label photos"]
    assert at.session_state["label_session"].stem == "p1"
    assert any(b.label == "Save my fix and accept" for b in at.button)


def test_agreement_and_gold_screens(stormseg_home):
    root = storm(2)
    submit(root, "p1", "carl", class_id=5)
    review.review(LabelStore(root), "p1", "accept", "rita")
    agreement_service.request_labels(root, "p0")
    for who, rows in ((ANA, 20), (BEN, 10)):
        session = labelling.open_photo(root, "p0", who)
        session.editor.mask[:rows] = 3
        labelling.save_labels(session)
    at = label_page()
    modes(at)[0].set_value("Agreement and gold").run()
    assert not at.exception
    assert "p0: 2 of 2 labels" in texts(at)
    assert at.metric[0].value == "0.50"  # mean IoU of the two labels
    one(at.button, f"Take {ANA}'s label and accept it").click().run()
    state = review.photo_state(LabelStore(root), "p0")
    assert (state.state, state.by) == ("accepted", ANA)
    one(at.button, "Mark as gold").click().run()
    assert any("is a gold photo" in s.value for s in at.success)


@pytest.fixture
def team_roles(tmp_path, monkeypatch):
    path = tmp_path / "roles.toml"
    path.write_text('[roles]\nreviewer = ["rita@eoc.example.org"]\nanalyst = ["*@eoc.example.org"]\n')
    monkeypatch.setenv(access.ROLES_FILE_ENV, str(path))


def test_an_analyst_has_no_review_screens_and_a_reviewer_cannot_accept_their_own(stormseg_home, team_roles):
    root = storm(2)
    submit(root, "p0", "rita@eoc.example.org")
    submit(root, "p1", ANA)
    at = label_page(ANA)
    assert not at.exception and not modes(at)
    assert not [b for b in at.button if b.label in ("Accept as saved", "Save my fix and accept")]
    at = label_page("rita@eoc.example.org")
    modes(at)[0].set_value("Review queue").run()
    assert one(at.button, "Accept").disabled  # p0, the longest waiting, is her own
    # The engine refuses what a crafted request would still send.
    with pytest.raises(review.OwnMaskError):
        from seg_core.services import review as review_service

        review_service.accept(root, "p0", Caller(Actor("rita@eoc.example.org", "reviewer")))


def test_runs_shows_which_labels_made_a_model(stormseg_home):
    from seg_core.labelling import labelset

    root = storm(2)
    submit(root, "p0", "ana")
    review.review(LabelStore(root), "p0", "accept", "rita")
    registry = RunRegistry()
    run = registry.create_run({"data": str(root)}, name="tuned")
    from seg_core.datasets.discovery import validate_dataset

    labelset.for_run(root, validate_dataset(root).pairs, False, run.checkpoint_dir / labelset.RUN_RECORD)
    at = AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/runs.py").run()
    at.session_state["runs_table"] = {"selection": {"rows": [0]}}  # tick the run
    at.run()
    assert not at.exception
    assert any(
        e.label.startswith("Labels: label set ls-") and "1 mask (1 accepted)" in e.label for e in at.expander
    )
