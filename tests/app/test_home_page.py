"""The Home page: the state of things at a glance, and the first-run "Generate demo dataset" action."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_pair
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.services import catalog

APP = Path(__file__).resolve().parents[2] / "app.py"


def home_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=120).run()


@pytest.fixture(autouse=True)
def no_shipped_model(monkeypatch, tmp_path):
    """The repo's demo checkpoint may or may not exist yet; the counts must not depend on it."""
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tmp_path / "no-demo.pt")


def test_home_shows_the_counts_and_links(stormseg_home):
    make_pair(paths.data_root() / "mine", "a")
    at = home_page()
    assert not at.exception
    assert at.title[0].value == "StormSeg"
    values = {m.label: m.value for m in at.metric}
    assert values["Compute"] in ("CPU", "CUDA", "MPS")
    assert values["Datasets"] == "1" and values["Models"] == "0" and values["Training jobs"] == "0 running"
    assert "Open Segment" in [link.value for link in at.page_link]
    assert [b.label for b in at.button] == ["Generate demo dataset"]  # no demo dataset yet


@pytest.mark.slow
def test_generate_demo_dataset_writes_it_under_the_data_root(stormseg_home):
    at = home_page()
    at.button[0].click().run()
    assert not at.exception and not at.error
    demo = paths.data_root() / catalog.DEMO_DATASET_NAME
    assert len(list((demo / "train_images").glob("*.tif"))) == 24
    assert len(list((demo / "train_masks").glob("*.png"))) == 24
    assert len(list((demo / "test_images").glob("*.tif"))) == catalog.DEMO_TEST  # as the offer said
    # Counted in the run that made it, and the button gave way to a link to Data.
    assert {m.label: m.value for m in at.metric}["Datasets"] == "1"
    assert not at.button
    assert "Open Data" in [link.value for link in at.page_link]


def test_the_intro_names_every_page_and_the_demo_offer_matches_what_is_drawn(stormseg_home):
    at = home_page()
    intro = at.markdown[0].value
    assert all(
        f"**{page}**" in intro for page in ("Segment", "Map", "Data", "Label", "Train", "Runs", "Evaluate")
    )
    offer = next(m.value for m in at.markdown if "Generate a demo dataset" in m.value)
    assert f"{catalog.DEMO_LABELLED} synthetic" in offer and f"{catalog.DEMO_TEST} test photos" in offer
