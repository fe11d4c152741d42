"""The Segment page: sample photos segmented with figures matching the analysis, sliders that do
not re-run the model, bad files reported by name among good ones, a helpful page without models.

A tiny untrained U-Net stands in for the demo model (paths.DEMO_CHECKPOINT is monkeypatched;
AppTest runs the page in this process), so its masks are arbitrary but real model output.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import save_checkpoint
from seg_core.schemes.classes import CLASS_NAMES, OBJECT_CLASS_IDS
from seg_core.services import analysis, catalog
from ui.segment_view import LEGEND_MIN_SHARE

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
        "epoch": 3,
        "metrics": {"val_dice": 0.25},
        "config": {"data": "/somewhere/demo"},
    }
    path = tmp_path_factory.mktemp("demo") / "best.pt"
    save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


@pytest.fixture
def demo_model(monkeypatch, tiny_checkpoint) -> Path:
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tiny_checkpoint)
    return tiny_checkpoint


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """Names of the photos the model was run on."""
    calls: list[str] = []
    real = analysis.analyse_photo

    def analyse_photo(predictor, source, name, *args, **kwargs):
        calls.append(name)
        return real(predictor, source, name, *args, **kwargs)

    monkeypatch.setattr(analysis, "analyse_photo", analyse_photo)
    return calls


def page() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=60).switch_page("app_pages/segment.py").run()


def png(width: int = 160, height: int = 120, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)).save(
        buf, "PNG"
    )
    return buf.getvalue()


def results(at: AppTest) -> list[analysis.PhotoAnalysis]:
    return [r for r in at.session_state["segment_results"].values() if isinstance(r, analysis.PhotoAnalysis)]


def metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def labelled(elements, label: str):
    [element] = [e for e in elements if e.label == label]
    return element


def metric_rows(node) -> list[list]:
    """The metrics of each row of columns under `node` (a row: a block whose columns hold them)."""
    children = [node.children[k] for k in sorted(getattr(node, "children", None) or {})]
    row = [m for c in children if c.type == "column" for m in in_page_order(c) if m.type == "metric"]
    return ([row] if row else []) + [r for c in children if c.type != "column" for r in metric_rows(c)]


def in_page_order(node) -> list:
    """Every element under `node`, in the order the page shows them."""
    children = getattr(node, "children", None)
    if not children:
        return [node]
    return [leaf for key in sorted(children) for leaf in in_page_order(children[key])]


def test_without_any_model_the_page_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tmp_path / "missing.pt")
    at = page()
    assert not at.exception
    assert "no model yet" in at.warning[0].value and "train_demo_model.sh" in at.warning[0].value
    assert not at.file_uploader


def test_sample_photos_are_segmented_and_shown(demo_model, counted):
    at = page()
    assert not at.exception
    assert at.title[0].value == "Segment photos"
    assert labelled(at.selectbox, "Model").value == "demo"
    assert "classic U-Net" in at.caption[1].value and "val Dice 0.250" in at.caption[1].value
    assert "Use the sample photos" in at.info[0].value

    at.button[0].click().run()
    assert not at.exception and not at.warning
    assert sorted(counted) == [p.name for p in catalog.sample_photos()]
    shown = {r.name: r for r in results(at)}[labelled(at.selectbox, "Photo").value]  # the photo picked
    captions = [c for image in at.image for c in image.captions]
    assert captions == ["Photo · 1600×1200 px", "Predicted classes"]  # side by side
    flood = shown.stats.flood
    assert metric(at, "Flooded").value == f"{flood.flooded_share:.1%}"
    assert metric(at, "Roofs exposed").value == f"{flood.roofs_exposed} of {flood.roofs_total}"
    legend = next(m.value for m in at.markdown if "background:#" in m.value)
    common = [row for row in shown.legend if row["share"] >= LEGEND_MIN_SHARE]
    assert common and all(f"{row['name']} <span" in legend for row in common)
    assert len(legend.split("<div")) - 1 == len(common)  # rarer classes are only counted in a caption
    batch_rows = at.dataframe[-1].value
    assert sorted(batch_rows["photo"]) == sorted(p.name for p in catalog.sample_photos())
    assert metric(at, "Photos").value == "3"


def test_moving_a_slider_or_entering_a_gsd_does_not_rerun_the_model(demo_model, counted):
    at = page()
    at.file_uploader[0].set_value([("a.png", png(), "image/png"), ("b.png", png(seed=1), "image/png")]).run()
    before = {id(r) for r in results(at)}
    assert len(counted) == 2

    at.slider(key="segment_opacity").set_value(0.9).run()
    at.toggle(key="segment_boundaries").set_value(True).run()
    at.radio(key="segment_view").set_value("Overlay only").run()
    assert [c for image in at.image for c in image.captions] == ["Predicted classes"]
    assert not at.exception and len(counted) == 2
    assert {id(r) for r in results(at)} == before

    at.number_input(key="segment_gsd").set_value(7.5).run()
    assert not at.exception and len(counted) == 2
    flooded = metric(at, "Flooded")
    assert flooded.delta.endswith("m²")
    assert all(r.stats.gsd_cm == 7.5 for r in results(at))

    at.toggle(key="segment_tta").set_value(True).run()  # TTA changes masks: the model runs again
    assert not at.exception and len(counted) == 4


def test_a_bad_upload_is_reported_and_the_good_ones_processed(demo_model):
    at = page()
    at.file_uploader[0].set_value(
        [
            ("good.png", png(), "image/png"),
            ("notes.jpg", b"not a photo", "image/jpeg"),
            ("other.png", png(seed=1), "image/png"),
        ]
    ).run()
    assert not at.exception
    assert (
        len(at.warning) == 1
        and "notes.jpg" in at.warning[0].value
        and "not a supported image" in at.warning[0].value
    )
    assert sorted(r.name for r in results(at)) == ["good.png", "other.png"]
    assert not at.error


def test_a_corrupt_sample_is_skipped(demo_model, monkeypatch, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copy(catalog.sample_photos()[0], samples / "good.jpg")
    (samples / "truncated.jpg").write_bytes(catalog.sample_photos()[0].read_bytes()[:3000])
    monkeypatch.setattr(catalog, "SAMPLES_DIR", samples)
    at = page()
    at.button[0].click().run()
    assert not at.exception
    assert "truncated.jpg" in at.warning[0].value and "damaged" in at.warning[0].value
    assert [r.name for r in results(at)] == ["good.jpg"]
    assert metric(at, "Flooded").value.endswith("%")  # a single photo: no picker, shown directly


def test_a_damaged_model_file_is_reported_not_raised(monkeypatch, tmp_path):
    broken = tmp_path / "best.pt"
    broken.write_bytes(b"this is not a checkpoint")
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", broken)
    at = page()
    assert "cannot be read" in at.caption[1].value
    at.button[0].click().run()
    assert not at.exception
    assert "best.pt" in at.error[0].value and not at.metric


def test_the_uncertainty_map_is_an_overlay_option_with_its_figures_next_to_the_others(demo_model):
    at = page()
    at.file_uploader[0].set_value([("a.png", png(), "image/png")]).run()
    assert not at.exception
    shown = results(at)[0]
    assert shown.uncertainty is not None and shown.uncertainty.shape == shown.display_mask.shape
    assert metric(at, "Uncertain pixels").value == f"{shown.stats.uncertainty['uncertain_share']:.1%}"
    # This checkpoint carries no reference: the check says so, without guessing why.
    assert metric(at, "Familiarity").value == "No reference"
    assert any(i.value.startswith("Familiarity check unavailable") for i in at.info)

    at.radio(key="segment_layer").set_value("Uncertainty").run()
    assert not at.exception
    captions = [c for image in at.image for c in image.captions]
    assert captions == ["Photo · 160×120 px", "Uncertainty (dark: sure · yellow: unsure)"]
    drawn = analysis.render_uncertainty(shown, 1.0)
    assert drawn.shape == shown.photo.shape and not np.array_equal(drawn, shown.photo)


def test_a_photo_far_outside_the_models_experience_is_flagged_next_to_the_figures(monkeypatch, tmp_path):
    from seg_core.analytics.familiarity import UNRELIABLE_MESSAGE, uncertainty_reference
    from seg_core.analytics.uncertainty import PhotoUncertainty

    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    # An untrained model hesitates everywhere: far above a reference of near-certain photos.
    reference = uncertainty_reference([PhotoUncertainty(0.05, 0.04, None, 0.0)] * 3)
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
        "uncertainty_reference": reference,
    }
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", tmp_path / "best.pt")
    save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, tmp_path / "best.pt")
    at = page()
    at.file_uploader[0].set_value([("a.png", png(), "image/png"), ("b.png", png(seed=1), "image/png")]).run()
    assert not at.exception
    sentence = UNRELIABLE_MESSAGE[:1].upper() + UNRELIABLE_MESSAGE[1:]
    assert [e.value for e in at.error][:1] == [sentence]  # the photo shown
    assert any(e.value == f"2 of 2 photos: {UNRELIABLE_MESSAGE}" for e in at.error)  # the batch tab
    # The warning comes before the pictures and the figures it qualifies, with a way to act on it.
    shown = in_page_order(at.main)
    first_image = next(i for i, e in enumerate(shown) if e.type == "image")
    assert next(i for i, e in enumerate(shown) if getattr(e, "value", None) == sentence) < first_image
    assert any(link.proto.page.endswith("label") for link in at.get("page_link"))
    assert metric(at, "Familiarity").value == "Not seen"
    assert list(at.dataframe[-1].value["familiarity"]) == ["Not seen", "Not seen"]


def test_every_headline_figure_has_room_in_a_row_of_four(demo_model):
    at = page()
    at.file_uploader[0].set_value([("a.png", png(), "image/png")]).run()
    figures = [len(row) for row in metric_rows(at.main)]  # figures side by side, row by row
    assert sum(figures) == len(at.metric) == 8 and max(figures) <= 4


def test_the_sample_photos_come_with_their_gsd_and_surfaces_have_no_object_count(demo_model):
    at = page()
    labelled(at.button, "Use the sample photos").click().run()
    assert not at.exception
    assert at.number_input(key="segment_gsd").value == catalog.SAMPLE_GSD_CM
    assert metric(at, "Flooded").delta.endswith("m²")
    table = next(t.value for t in at.dataframe if "objects" in t.value.columns)
    assert table["area_m2"].notna().all()
    assert table["objects"].dtype.kind == "f"  # numbers, empty for surfaces: never a "None" text cell
    surfaces = table[~table["class"].isin([CLASS_NAMES[i] for i in OBJECT_CLASS_IDS])]
    assert len(surfaces)
    assert surfaces["objects"].isna().all()
    # The analyst's own photos next: the samples' GSD is not theirs.
    at.file_uploader[0].set_value([("a.png", png(), "image/png")]).run()
    assert at.number_input(key="segment_gsd").value is None


def test_the_uncertainty_overlay_shows_its_colour_scale_instead_of_the_class_legend(demo_model):
    at = page()
    at.file_uploader[0].set_value([("a.png", png(), "image/png")]).run()
    at.radio(key="segment_layer").set_value("Uncertainty").run()
    assert not at.exception
    assert not [m for m in at.markdown if "background:#" in m.value]  # no class swatches
    [bar] = [h for h in at.get("html") if "linear-gradient" in h.proto.body]
    assert "0: sure" in bar.proto.body and "unsure" in bar.proto.body


def test_a_new_batch_opens_on_its_own_first_photo_with_its_own_label(demo_model):
    at = page()
    at.file_uploader[0].set_value([("a.png", png(), "image/png"), ("b.png", png(seed=1), "image/png")]).run()
    labelled(at.selectbox, "Photo").set_value("b.png").run()
    at.file_uploader[0].set_value(
        [("c.png", png(seed=2), "image/png"), ("d.png", png(seed=3), "image/png")]
    ).run()
    assert not at.exception
    picker = labelled(at.selectbox, "Photo")
    shown = {r.name: r for r in results(at)}
    assert picker.value == "c.png" and picker.options[picker.index].startswith("c.png · flooded")
    assert metric(at, "Flooded").value == f"{shown['c.png'].stats.flood.flooded_share:.1%}"
