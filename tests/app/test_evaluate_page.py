"""The Evaluate page: scores a tiny U-Net on a tiny dataset (metrics, per-class table, heatmap, worst
photos, downloads), keeps the result across reruns, and turns a broken checkpoint into one sentence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import make_pairs, write_tiny_checkpoint
from streamlit.testing.v1 import AppTest

import seg_core.evaluation.evaluate
from seg_core.core import paths
from seg_core.schemes.classes import CLASS_NAMES

APP = Path(__file__).resolve().parents[2] / "app.py"


def evaluate_page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/evaluate.py").run()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.fixture
def labelled(stormseg_home) -> Path:
    root = paths.data_root() / "tiny"
    make_pairs(root, 4)
    return root


def test_evaluation_shows_scores_table_heatmap_worst_photos_and_downloads(
    tiny_checkpoint, labelled, monkeypatch
):
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tiny_checkpoint)
    at = evaluate_page()
    assert not at.exception
    assert "press **Evaluate**" in at.info[0].value  # nothing computed before the click
    at.button[0].click().run()
    assert not at.exception and not at.error

    (stored,) = at.session_state["evaluations"].values()
    expected = stored["result"]  # what evaluate_checkpoint returned: the page must show exactly that
    assert expected.split == "all" and expected.data == str(labelled)
    values = {m.label: m.value for m in at.metric}
    assert values["Kaggle Dice"] == f"{expected.kaggle_dice:.3f}" and 0.0 <= expected.kaggle_dice <= 1.0
    assert values["mIoU"] == f"{expected.scores.miou:.3f}"
    assert values["Photos scored"] == "4"
    assert any("(photo, class) pair" in c.value for c in at.caption)  # what Kaggle Dice means

    per_class = at.dataframe[0].value
    assert set(per_class["class"]) <= set(CLASS_NAMES) and len(per_class) >= 2
    ious = per_class["iou"].dropna().tolist()
    assert ious == sorted(ious)  # worst first
    assert len(at.get("plotly_chart")) == 1
    strips = [c for image in at.image for c in image.captions]
    assert len(strips) == 4 and all("Kaggle Dice" in c for c in strips)
    assert strips[0].startswith(expected.images[0].stem)  # the worst photo first
    assert [b.label for b in at.get("download_button")] == [
        "Per-photo scores (CSV)",
        "Per-class scores (CSV)",
        "Full result (JSON)",
    ]

    # Other widgets rerun the page without re-scoring; a new setting needs a new click.
    calls = []
    monkeypatch.setattr(seg_core.evaluation.evaluate, "evaluate_checkpoint", lambda *a, **k: calls.append(a))
    at.toggle[0].set_value(True).run()
    assert "press **Evaluate**" in at.info[0].value
    at.toggle[0].set_value(False).run()
    assert {m.label: m.value for m in at.metric}["Kaggle Dice"] == f"{expected.kaggle_dice:.3f}"
    assert calls == []


def test_a_broken_checkpoint_shows_a_sentence_not_a_traceback(labelled, monkeypatch, tmp_path):
    broken = tmp_path / "best.pt"
    broken.write_bytes(b"this is not a checkpoint")
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", broken)
    at = evaluate_page()
    assert not at.exception
    assert str(broken) in at.warning[0].value  # the model summary already says so
    at.button[0].click().run()
    assert not at.exception
    assert len(at.error) == 1 and str(broken) in at.error[0].value
    assert not at.metric


def test_without_models_the_page_points_to_training(labelled, monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tmp_path / "missing.pt")
    at = evaluate_page()
    assert not at.exception
    assert "No model to evaluate yet" in at.info[0].value
    assert [link.value for link in at.page_link] == ["Open Train"]


def test_reruns_read_the_checkpoint_once(tiny_checkpoint, labelled, monkeypatch):
    """The model summary (which loads and hashes the whole file) is cached per file version,
    shared with the Segment page; a rewritten file is read again."""
    import streamlit as st

    import seg_core.models.checkpoint as checkpoint  # the catalog loads through it when asked

    st.cache_data.clear()
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tiny_checkpoint)
    reads = []
    real = checkpoint.load_checkpoint
    monkeypatch.setattr(
        checkpoint, "load_checkpoint", lambda path, *a, **k: reads.append(path) or real(path, *a, **k)
    )
    at = evaluate_page()
    at.toggle[0].set_value(True).run()
    at.toggle[0].set_value(False).run()
    assert not at.exception and len(reads) == 1
    assert any("unet / none at 64 px" in c.value for c in at.caption)

    stat = tiny_checkpoint.stat()
    os.utime(tiny_checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # "retrained"
    at.run()
    assert len(reads) == 2


def test_masks_that_are_the_models_own_pre_labels_are_left_out_unless_asked_for(tiny_checkpoint, monkeypatch):
    """A dataset whose masks were saved straight from this model's pre-labels: scored on them the
    model agrees with itself, so the page says so and scores nothing until asked to."""
    from seg_core.inference.predictor import Predictor
    from seg_core.services import labelling

    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tiny_checkpoint)
    root = paths.data_root() / "dry-town"
    make_pairs(root, 3)
    for mask in (root / "train_masks").iterdir():
        mask.unlink()
    assert labelling.prelabel_photos(root, Predictor.from_checkpoint(tiny_checkpoint), "demo") == []
    for stem in ("img0", "img1", "img2"):
        labelling.save_labels(labelling.open_photo(root, stem, "ana"))  # saved as pre-labelled
    at = evaluate_page()
    next(b for b in at.button if b.label == "Evaluate").click().run()
    assert not at.exception and not at.metric
    assert "every mask to score (3) is largely this model's own pre-label" in at.error[0].value

    next(t for t in at.toggle if t.label == "Include its own pre-labels").set_value(True).run()
    next(b for b in at.button if b.label == "Evaluate").click().run()
    assert not at.exception and not at.error
    values = {m.label: m.value for m in at.metric}
    assert values["Photos scored"] == "3" and values["Truth that is its own guess"] == "100.0%"
    assert any("100.0% of the truth pixels scored are this model's own" in w.value for w in at.warning)
