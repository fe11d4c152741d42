"""Team mode in the app: the network refusal, sign-in, what each role is offered, the Audit page.
(The engine refuses whatever a page might still send: tests/test_access.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest
from test_runs_page import add_run

from seg_core.runs.registry import RunRegistry
from seg_core.team import access, audit

APP = Path(__file__).resolve().parents[2] / "app.py"
SECRET = "client-secret-that-must-never-show"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "cookie-secret-that-must-never-show",
    "client_id": "stormseg",
    "client_secret": SECRET,
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture(autouse=True)
def roles(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "roles.toml"
    path.write_text(
        '[roles]\nadmin = ["ada@eoc.example.org"]\nanalyst = ["ana@eoc.example.org"]\nviewer = ["*@eoc.example.org"]\n'
    )
    monkeypatch.setenv(access.ROLES_FILE_ENV, str(path))
    return path


def app(email: str | None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False} if email is None else {"is_logged_in": True, "email": email}
    if page:
        at.switch_page(page)
    return at.run()


def page_text(at: AppTest) -> str:
    parts = [e.value for e in [*at.markdown, *at.caption, *at.error, *at.title, *at.info]]
    return "\n".join(str(p) for p in parts)


def test_served_to_the_network_without_sign_in_it_refuses_with_a_sentence():
    config.set_option("server.address", "0.0.0.0")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    (error,) = at.error
    assert "StormSeg is not served: this server listens on 0.0.0.0" in error.value
    assert "configure sign-in" in error.value and not at.title  # no page ran


def test_with_sign_in_configured_nobody_gets_in_without_signing_in():
    at = app(None)
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric  # Home did not run


def test_a_signed_in_stranger_is_refused_and_audited_once_per_session(stormseg_home):
    at = app("eve@elsewhere.org")
    assert "eve@elsewhere.org has no role" in at.error[0].value
    assert not at.metric
    at.run()  # another page load in the same session
    (row,) = audit.rows(RunRegistry(), action="sign-in")
    assert (row.actor, row.role, row.outcome) == ("eve@elsewhere.org", "none", "refused")


def test_a_viewer_is_not_offered_training_deleting_or_the_audit(stormseg_home):
    registry = RunRegistry()
    run_id = add_run(registry, "theirs", "adam", [0.3, 0.4])
    access.attribute_run(access.Actor("ana@eoc.example.org", "analyst"), registry, run_id)
    at = app("vera@eoc.example.org")
    assert not at.exception
    assert "Signed in as **vera@eoc.example.org** (viewer)" in page_text(at)
    assert next(b for b in at.button if b.label == "Generate demo dataset").disabled
    with pytest.raises(ValueError, match="Could not find a navigation page for .*train.py"):
        at.switch_page("app_pages/train.py")  # not in this viewer's navigation
    at = app("vera@eoc.example.org", "app_pages/runs.py")
    at.session_state["runs_table"] = {"selection": {"rows": [0]}}
    at.run()
    labels = {b.label: b for b in at.button}
    assert "Delete…" not in labels and labels["Resume"].disabled
    assert SECRET not in page_text(at) and AUTH["cookie_secret"] not in page_text(at)


def test_an_analyst_gets_train_and_an_admin_the_audit(stormseg_home):
    at = app("ana@eoc.example.org", "app_pages/train.py")
    assert not at.exception and at.title[0].value == "Train"
    at = app("ana@eoc.example.org", "app_pages/audit.py")  # hidden from analysts
    assert "Audit" not in [t.value for t in at.title]
    registry = RunRegistry()
    with pytest.raises(access.AccessDenied):
        access.authorize(access.Actor("vera@eoc.example.org", "viewer"), "run.delete", registry, target="r1")
    at = app("ada@eoc.example.org", "app_pages/audit.py")
    assert not at.exception and at.title[0].value == "Audit"
    table = at.dataframe[0].value
    refused = table[table["outcome"] == "refused"]
    assert list(refused["actor"]) == ["vera@eoc.example.org"] and list(refused["action"]) == ["run.delete"]
    signed_in = table[table["action"] == "sign-in"]
    assert set(zip(signed_in["actor"], signed_in["role"], strict=True)) == {
        ("ana@eoc.example.org", "analyst"),
        ("ada@eoc.example.org", "admin"),
    }
    assert [b.proto.label for b in at.get("download_button")] == ["Download as CSV"]


def test_single_user_mode_shows_the_audit_to_the_owner(stormseg_home):
    registry = RunRegistry()
    access.authorize(None, "run.delete", registry, target="20250101-000000-x-0000")
    at = AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/audit.py").run()
    assert not at.exception
    assert list(at.dataframe[0].value["actor"]) == ["owner"]


def test_deleting_a_dataset_is_offered_to_admins_and_asks_first(stormseg_home):
    from helpers import make_pairs

    from seg_core.core import paths

    make_pairs(paths.data_root() / "old", 2)
    at = app("vera@eoc.example.org", "app_pages/data.py")
    assert "Delete dataset…" not in [b.label for b in at.button]
    at = app("ada@eoc.example.org", "app_pages/data.py")
    next(b for b in at.button if b.label == "Delete dataset…").click().run()
    assert (paths.data_root() / "old").is_dir()  # only asked so far
    next(b for b in at.button if b.label == "Delete for good").click().run()
    assert not at.exception and not (paths.data_root() / "old").exists()
    assert "Deleted the dataset old" in at.success[0].value


def test_the_audit_shows_empty_cells_empty_and_filters_every_outcome(stormseg_home):

    access.record_outcome(None, "dataset.create", RunRegistry(), "failed", target="x", detail="bad name")
    at = AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/audit.py").run()
    assert not at.exception
    assert at.dataframe[0].proto.placeholder == "–"  # no literal "None" where a row has no value
    assert "failed" in at.multiselect[2].options
