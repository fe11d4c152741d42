"""The Segment page with GeoTIFF orthomosaics: an upload runs the windowed mosaic path and shows a
downsampled overlay, the figures and the full-resolution georeferenced downloads, and the map
folder it leaves is what the Map page lists; hostile GeoTIFFs and oversized ones get a sentence
through st.error, and photos uploaded beside a mosaic are still segmented as photos.

A tiny untrained U-Net stands in for the demo model (paths.DEMO_CHECKPOINT is monkeypatched), so
masks are arbitrary but real model output.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import rasterio
from geo_helpers import write_geotiff
from helpers import write_tiny_checkpoint
from PIL import Image
from rasterio import Affine
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.services import geoupload
from seg_core.views import geomap

APP = Path(__file__).resolve().parents[2] / "app.py"  # the whole app: the page links to Map


@pytest.fixture
def demo_model(monkeypatch, tmp_path) -> Path:
    path = write_tiny_checkpoint(tmp_path / "best.pt", resolution=64, working_gsd_cm=20.0)
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", path)
    return path


def _upload(files: list[tuple[str, bytes, str]]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120).switch_page("app_pages/segment.py").run()
    return at.file_uploader[0].set_value(files).run()


def test_a_geotiff_upload_shows_its_overlay_figures_and_georeferenced_downloads(demo_model, tmp_path):
    ortho = write_geotiff(tmp_path / "ortho.tif", width=200, height=150, pixel=0.1, bands=4, alpha=True)
    photo = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), np.uint8)).save(photo, "PNG")
    at = _upload([("ortho.tif", ortho.read_bytes(), "image/tiff"), ("p.png", photo.getvalue(), "image/png")])
    assert not at.exception and not at.error
    captions = [c for image in at.image for c in image.captions]
    assert "ortho.tif · 200×150 px, shown downsampled with its predicted classes" in captions
    labels = {button.label for button in at.get("download_button")}
    assert {"ortho_classes.tif", "ortho_classes.geojson", "ortho_classes.gpkg"} <= labels
    flooded = next(m for m in at.metric if m.label == "Area mapped")
    # a quarter of the mosaic is alpha-masked: 150 x 150 valid px of 10 cm = 225 m²
    assert flooded.value == "0.02 ha"
    [folder] = geomap.list_map_folders()  # the Map page lists the same map
    assert {layer.name for layer in geomap.read_map(folder).layers} == {"ortho.tif"}
    with rasterio.open(folder / "ortho_classes.tif") as classes, rasterio.open(ortho) as source:
        assert classes.crs == source.crs and classes.transform == source.transform
        assert (classes.read(1)[:, :50] == 255).all() and (classes.read(1)[:, 50:] < 25).all()
    assert at.session_state["map_folder"] == str(folder)
    assert any(r for r in at.session_state["segment_results"].values())  # the photo ran as a photo


def test_hostile_geotiffs_get_the_cli_sentences_and_leave_no_map(demo_model, tmp_path):
    rotated = write_geotiff(tmp_path / "rot.tif")
    with rasterio.open(rotated, "r+") as dataset:
        dataset.transform = Affine(0.1, 0.02, 270000, 0.02, -0.1, 3290000)
    files = [
        ("nocrs.tif", write_geotiff(tmp_path / "nocrs.tif", crs=None).read_bytes(), "image/tiff"),
        ("rot.tif", rotated.read_bytes(), "image/tiff"),
        ("five.tif", write_geotiff(tmp_path / "five.tif", bands=5).read_bytes(), "image/tiff"),
    ]
    at = _upload(files)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("nocrs.tif: has no coordinate reference system") for e in errors)
    assert any(e.startswith("rot.tif: its geotransform is rotated or sheared") for e in errors)
    assert any(e.startswith("five.tif: has 5 band(s)") for e in errors)
    assert geomap.list_map_folders() == [] and not any(geomap.maps_dir().iterdir())


def test_a_corrupt_tile_is_an_error_and_the_rest_of_the_map_is_kept(demo_model, tmp_path):
    source = write_geotiff(tmp_path / "m.tif", width=256, height=128)
    with rasterio.open(source) as dataset:
        offset = int(dataset.get_tag_item("BLOCK_OFFSET_1_0", "TIFF", bidx=1))
    data = bytearray(source.read_bytes())
    data[offset : offset + 64] = b"\xff" * 64
    at = _upload([("m.tif", bytes(data), "image/tiff")])
    assert not at.exception, [e.value for e in at.error] + [i.value for i in at.info]
    assert any(
        e.value.startswith("m.tif: the window at column") and "left as nodata" in e.value for e in at.error
    )
    assert "m_classes.tif" in {button.label for button in at.get("download_button")}
    assert any("shown downsampled" in c for image in at.image for c in image.captions)


def test_a_mosaic_over_the_page_limit_is_refused_with_a_sentence(demo_model, tmp_path, monkeypatch):
    monkeypatch.setattr(geoupload, "MAX_GEOTIFF_PIXELS", 10_000)
    ortho = write_geotiff(tmp_path / "big.tif", width=200, height=150)
    at = _upload([("big.tif", ortho.read_bytes(), "image/tiff")])
    assert not at.exception
    assert [e.value for e in at.error] == [
        "big.tif: 200x150 px (0 MP) is over the Segment page's 0 MP limit for orthomosaics; "
        "segment it with `python -m seg_core map`"
    ]
    assert geomap.list_map_folders() == []
    monkeypatch.setattr(geoupload, "MAX_GEOTIFF_MB", 0)
    with pytest.raises(geoupload.MosaicError, match="big.tif: 0 MB is over the Segment page's 0 MB limit"):
        geoupload.check_upload_size("big.tif", 1000)
