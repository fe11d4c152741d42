"""The Data page: guidance without datasets; counts, problems by file, class chart and gallery with one;
validation done once per dataset version, not on every rerun."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_pair, make_pairs
from PIL import Image
from streamlit.testing.v1 import AppTest

import seg_core.datasets.discovery
from seg_core.core import paths

APP = Path(__file__).resolve().parents[2] / "app.py"


def data_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=30).switch_page("app_pages/data.py").run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


@pytest.fixture
def faulty_dataset(stormseg_home) -> Path:
    """Six pairs under the data root; one image lost its mask, one mask has the wrong size."""
    root = paths.data_root() / "tiny"
    make_pairs(root, 6)
    (root / "train_masks" / "img1.png").unlink()
    Image.new("L", (10, 10)).save(root / "train_masks" / "img4.png")
    return root


def test_without_datasets_the_page_says_where_to_put_one():
    at = data_page()
    assert not at.exception
    assert str(paths.data_root()) in at.info[0].value
    assert "train_images/" in at.info[0].value
    assert [link.value for link in at.page_link] == ["Or generate a synthetic demo dataset on Home"]


def test_dataset_report_shows_counts_problems_chart_and_gallery(faulty_dataset):
    at = data_page()
    assert not at.exception
    assert at.selectbox[0].value == "tiny"
    assert metrics(at) == {"Images": "6", "Masks": "5", "Usable pairs": "4", "Test images": "0"}
    warning = at.warning[0].value
    assert "4 labelled pairs usable. 1 file is left out: 1 mask size differs" in warning
    assert "without mask" not in warning  # a photo awaiting its label is no fault
    assert "1 photo awaits a label" in at.info[0].value
    problems = at.dataframe[0].value
    assert sorted(problems["file"]) == ["train_images/img1.png", "train_masks/img4.png"]
    assert "10x10" in " ".join(problems["message"])
    assert len(at.get("plotly_chart")) == 1
    assert at.dataframe[1].value.to_dict("records") == [{"size (px)": "48x32", "pairs": 4}]
    assert [c.split(" · ")[0] for c in captions(at)] == ["img0", "img2", "img3", "img5"]
    assert "Flooded" in at.get("html")[0].proto.body  # the class legend


def test_a_clean_dataset_is_reported_green_and_validated_once(stormseg_home, monkeypatch):
    root = paths.data_root() / "clean"
    for i in range(11):
        make_pair(root, f"img{i:02d}", seed=i)
    calls = []
    real = seg_core.datasets.discovery.validate_dataset
    monkeypatch.setattr(
        seg_core.datasets.discovery, "validate_dataset", lambda *a, **k: calls.append(a) or real(*a, **k)
    )

    at = data_page()
    assert not at.exception
    assert at.success[0].value == "11 labelled pairs, all usable; no problems found."
    assert len(captions(at)) == 9  # first gallery page
    at.number_input[0].set_value(2).run()  # second page: the last two pairs
    assert [c.split(" · ")[0] for c in captions(at)] == ["img09", "img10"]
    at.slider[0].set_value(1.0).run()
    assert not at.exception
    assert len(calls) == 1  # reruns reuse the report
    at.button[0].click().run()  # "Check again"
    assert len(calls) == 2


def test_a_dataset_without_usable_pairs_says_so_and_shows_no_gallery(stormseg_home):
    root = paths.data_root() / "broken"
    make_pair(root, "only")
    (root / "train_masks" / "only.png").unlink()
    at = data_page()
    assert not at.exception
    assert "No usable image/mask pairs" in at.error[0].value
    assert at.dataframe[0].value["problem"].tolist() == ["image without mask"]
    assert not at.image and not at.get("plotly_chart")


def test_photos_awaiting_labels_are_a_labelling_state_not_a_fault(stormseg_home):
    root = paths.data_root() / "ian"
    make_pairs(root, 3)
    for name in ("img1.png", "img2.png"):
        (root / "train_masks" / name).unlink()
    at = data_page()
    assert not at.exception and not at.warning
    assert at.selectbox[0].options[0] == "ian  ·  train_images/ + train_masks/, 3 images"
    assert "1 labelled pair, all usable" in at.success[0].value
    assert "2 photos await a label" in at.info[0].value
    assert [link.value for link in at.page_link] == ["Label them on the Label page"]
    problems = at.dataframe[0].value
    assert set(problems["problem"]) == {"awaiting a label"}
