"""The Map page: a GeoTIFF and a GPS-tagged photo uploaded become a map with downloads; a GeoTIFF
without a CRS gets one sentence; the page helps when there is no map yet.

A tiny untrained U-Net stands in for the demo model (paths.DEMO_CHECKPOINT is monkeypatched), so
masks are arbitrary but real model output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from geo_helpers import write_geotiff
from helpers import write_tiny_checkpoint
from PIL import Image
from streamlit.testing.v1 import AppTest

from seg_core.core import paths
from seg_core.imagery.camera import tag_photo
from seg_core.views import geomap

PAGE = Path(__file__).resolve().parents[2] / "app_pages" / "map.py"


@pytest.fixture
def demo_model(monkeypatch, tmp_path) -> Path:
    path = write_tiny_checkpoint(tmp_path / "best.pt", resolution=128, working_gsd_cm=20.0)
    monkeypatch.setattr(paths, "DEMO_CHECKPOINT", path)
    return path


def _page() -> AppTest:
    return AppTest.from_file(str(PAGE), default_timeout=120)


def test_without_maps_the_page_says_how_to_make_one(demo_model):
    at = _page().run()
    assert not at.exception
    assert any("No maps yet" in info.value for info in at.info)


def test_uploads_become_a_map_with_downloads_and_a_bad_geotiff_gets_a_sentence(demo_model, tmp_path):
    ortho = write_geotiff(tmp_path / "ortho.tif", width=160, height=120, pixel=0.1, bands=4, alpha=True)
    nocrs = write_geotiff(tmp_path / "nocrs.tif", crs=None)
    tag_photo(Image.new("RGB", (160, 120), (40, 60, 150)), tmp_path / "a.jpg", 29.76, -95.37, 90.0, 60.0)
    photo = (tmp_path / "a.jpg").read_bytes()
    at = _page().run()
    at.file_uploader[0].set_value(
        [
            ("ortho.tif", ortho.read_bytes(), "image/tiff"),
            ("nocrs.tif", nocrs.read_bytes(), "image/tiff"),
            ("a.jpg", photo, "image/jpeg"),
        ]
    ).run()
    at.button[0].click().run()
    assert not at.exception
    assert any("nocrs.tif: has no coordinate reference system" in e.value for e in at.error)
    folders = geomap.list_map_folders()
    assert len(folders) == 1
    view = geomap.read_map(folders[0])
    assert sorted(layer.kind for layer in view.layers) == ["mosaic", "photo"]
    labels = {button.label for button in at.get("download_button")}
    assert {"ortho_classes.tif", "ortho_classes.geojson", "ortho_classes.gpkg", "flight.csv"} <= labels
    assert at.get("plotly_chart")


def test_the_map_needs_no_tiles_unless_a_tile_url_is_given(tmp_path):
    from seg_core.views.geomap import MapLayer, MapView
    from ui.map_view import map_figure

    ring = [0.0, 10.0, 10.0, 0.0, 0.0]
    view = MapView(
        tmp_path,
        (-95.37, 29.76),
        [
            MapLayer("mosaic", "m.tif", ring, [0.0, 0.0, 10.0, 10.0, 0.0], 0.5),
            MapLayer("photo", "a.jpg", [3.0], [4.0], 0.1),
        ],
        [],
    )
    offline = map_figure(view)
    assert all(trace.type == "scatter" for trace in offline.data)
    assert (
        offline.layout.xaxis.title.text.startswith("metres east of")
        and offline.layout.yaxis.scaleanchor == "x"
    )
    online = map_figure(view, "https://tiles.example/{z}/{x}/{y}.png")
    assert {trace.type for trace in online.data} == {"scattermap"}
    assert online.layout.map.layers[0].source == ("https://tiles.example/{z}/{x}/{y}.png",)


def test_a_demo_map_is_one_click_away_and_a_clicked_mosaic_shows_a_table_and_a_legend(demo_model):
    at = AppTest.from_file(str(PAGE), default_timeout=600).run()
    next(b for b in at.button if b.label == "Make a demo map").click().run()
    assert not at.exception and not at.error
    [folder] = geomap.list_map_folders()
    view = geomap.read_map(folder)
    assert sorted(layer.kind for layer in view.layers) == ["mosaic", "photo", "photo", "photo"]
    at.run()
    assert [b for b in at.button if b.label == "Make a demo map"]  # still offered once a map exists

    # A clicked mosaic: a small table and its classes' legend, not a JSON dump.
    mosaic = next(i for i, layer in enumerate(view.layers) if layer.kind == "mosaic")
    at.session_state["map_chart"] = {"selection": {"points": [{"customdata": [mosaic]}]}}
    at.run()
    assert not at.exception and not at.get("json")
    details = next(t.value for t in at.dataframe if "value" in t.value.columns)
    assert {"Flooded area", "Area mapped", "Raster GSD"} <= set(details[""])
    legend = next(h.proto.body for h in at.get("html") if "background:#" in h.proto.body)
    assert geomap.layer_legend(view, view.layers[mosaic])[0]["name"] in legend
