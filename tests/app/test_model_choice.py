"""One model choice per session: a model picked on one page is the model of every page that picks
one (Segment, Evaluate, Map, Label, Train's fine-tune), Runs' "Use this model" links open a page
with their run chosen (?model=<run id>), and Segment keeps its uploads across a page change."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from helpers import make_pairs, write_tiny_checkpoint
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.runs.registry import RunRegistry

APP = Path(__file__).resolve().parents[2] / "app.py"


def labelled(elements, label: str):
    [element] = [e for e in elements if e.label == label]
    return element


@pytest.fixture
def two_models(monkeypatch, tmp_path) -> str:
    """The demo model and a finished run with its own best.pt; returns the run's id."""
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", write_tiny_checkpoint(tmp_path / "demo" / "best.pt"))
    registry = RunRegistry()
    run = registry.create_run({"arch": "unet", "epochs": 1, "val_ratio": 0.0}, name="fine-tuned")
    registry.finish(run.id, "completed")
    write_tiny_checkpoint(run.checkpoint_dir / "best.pt")
    make_pairs(paths.data_root() / "storm", 2)
    return run.id


def app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=120)


def test_a_model_chosen_on_one_page_is_the_model_of_the_next(two_models):
    at = app().switch_page("app_pages/segment.py").run()
    assert labelled(at.selectbox, "Model").value == "demo"
    labelled(at.selectbox, "Model").set_value(two_models).run()
    for page, label in (
        ("app_pages/evaluate.py", "Model"),
        ("app_pages/map.py", "Model"),
        ("app_pages/label.py", "Model (pre-labels, fine-tuning)"),
        ("app_pages/train.py", "Model to fine-tune"),
    ):
        at.switch_page(page).run()
        assert not at.exception, page
        assert labelled(at.selectbox, label).value == two_models, page


def test_the_use_this_model_links_open_the_page_with_the_run_chosen(two_models):
    at = app().switch_page("app_pages/runs.py").run()
    at.session_state["runs_table"] = {"selection": {"rows": [0]}}
    at.run()
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    assert links["Segment photos"].query_string == f"model={two_models}"
    assert links["Evaluate on a dataset"].query_string == f"model={two_models}"

    at = app()
    at.query_params["model"] = two_models  # what the link opens Segment with
    at.switch_page("app_pages/segment.py").run()
    assert not at.exception
    assert labelled(at.selectbox, "Model").value == two_models
    assert "model" not in at.query_params  # from now on the picker decides


def test_segment_keeps_its_uploads_across_a_page_change(two_models):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), np.uint8)).save(buffer, "PNG")
    at = app().switch_page("app_pages/segment.py").run()
    at.file_uploader[0].set_value([("street.png", buffer.getvalue(), "image/png")]).run()
    assert any(m.label == "Flooded" for m in at.metric)
    at.switch_page("app_pages/home.py").run()
    at.switch_page("app_pages/segment.py").run()
    assert not at.exception
    assert any(m.label == "Flooded" for m in at.metric)  # the photo is still there, and segmented
    assert any("street.png" in c.value for c in at.caption)
    labelled(at.button, "Clear them").click().run()
    assert not at.metric and "Upload one or more photos" in at.info[0].value
