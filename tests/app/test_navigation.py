"""The navigation groups the pages in sections (Analyse, Train, Label, Admin), shows each role
only the pages it may open, drops a section left empty, and deep links still reach their page."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from seg_core.team import access

APP = Path(__file__).resolve().parents[2] / "app.py"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "cookie-secret",
    "client_id": "stormseg",
    "client_secret": "client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture
def sections(monkeypatch) -> list[dict[str, list[str]]]:
    """What app.py hands st.navigation on each run: {section: [page titles]}."""
    seen = []
    navigation = streamlit.navigation

    def recording(pages, **kwargs):
        seen.append({section: [p.title for p in listed] for section, listed in pages.items()})
        return navigation(pages, **kwargs)

    monkeypatch.setattr(streamlit, "navigation", recording)
    return seen


def signed_in(email: str, tmp_path, monkeypatch) -> AppTest:
    roles = tmp_path / "roles.toml"
    roles.write_text('[roles]\nadmin = ["ada@eoc.example.org"]\nviewer = ["*@eoc.example.org"]\n')
    monkeypatch.setenv(access.ROLES_FILE_ENV, str(roles))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": email}
    return at


def test_the_owner_sees_every_page_in_four_sections_and_deep_links_work(sections):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert sections[-1] == {
        "Analyse": ["Home", "Segment", "Map"],
        "Train": ["Data", "Train", "Runs", "Evaluate"],
        "Label": ["Label"],
        "Admin": ["Audit"],
    }
    at.switch_page("app_pages/train.py").run()  # /train
    assert not at.exception and at.title[0].value == "Train"


def test_a_viewer_gets_no_train_label_or_admin_pages(sections, tmp_path, monkeypatch):
    at = signed_in("vera@eoc.example.org", tmp_path, monkeypatch).run()
    assert not at.exception
    assert sections[-1] == {"Analyse": ["Home", "Segment", "Map"], "Train": ["Data", "Runs", "Evaluate"]}
    with pytest.raises(ValueError, match="Could not find a navigation page for .*audit.py"):
        at.switch_page("app_pages/audit.py")


def test_an_admin_gets_the_admin_section(sections, tmp_path, monkeypatch):
    at = signed_in("ada@eoc.example.org", tmp_path, monkeypatch).switch_page("app_pages/audit.py").run()
    assert not at.exception and at.title[0].value == "Audit"
    assert sections[-1]["Admin"] == ["Audit"] and len(sections[-1]) == 4
