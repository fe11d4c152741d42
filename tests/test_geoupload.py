"""The Segment page's orthomosaic data (seg_core.services.geoupload) without a page: sorting uploads
as `map` does, the upload quota, and the sample windows of the familiarity check."""

from __future__ import annotations

import io

import pytest
from geo_helpers import write_geotiff
from PIL import Image

from seg_core.imagery.raster import inspect_mosaic
from seg_core.services import geoupload
from seg_core.services.caller import Caller
from seg_core.team import access
from seg_core.team.access import AccessDenied, Actor
from seg_core.views import geomap


def test_only_georeferenced_tiffs_are_orthomosaics(tmp_path):
    ortho = write_geotiff(tmp_path / "o.tif").read_bytes()
    png = io.BytesIO()
    Image.new("RGB", (20, 10)).save(png, "PNG")
    plain = io.BytesIO()
    Image.new("RGB", (20, 10)).save(plain, "TIFF")
    assert geoupload.is_orthomosaic("o.tif", ortho) and geoupload.is_orthomosaic("O.TIFF", ortho)
    assert not geoupload.is_orthomosaic("o.png", ortho)  # sorted by name and content, like `map`
    assert not geoupload.is_orthomosaic("p.tif", png.getvalue())
    assert not geoupload.is_orthomosaic("plain.tif", plain.getvalue())  # a photo saved as TIFF
    assert not geoupload.is_orthomosaic("junk.tif", b"II*\x00" + b"\x00" * 40)


def test_an_upload_over_the_quota_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    charged = []

    def refuse(actor, registry, size_bytes, what, *args, **kwargs):
        charged.append((actor.user, size_bytes, what))
        raise AccessDenied("over your daily upload quota")

    monkeypatch.setattr(access, "charge_upload", refuse)
    data = write_geotiff(tmp_path / "o.tif").read_bytes()
    viewer = Actor("vera@eoc.example.org", "viewer")
    with pytest.raises(AccessDenied, match="over your daily upload quota"):
        geoupload.analyse_mosaic(None, "o.tif", data, caller=Caller(viewer, object()))
    assert charged == [("vera@eoc.example.org", len(data), "orthomosaic to Segment: o.tif")]
    assert not geomap.maps_dir().is_dir() or not any(geomap.maps_dir().iterdir())


def test_familiarity_windows_spread_over_the_mosaic_and_stay_inside_it(tmp_path):
    info = inspect_mosaic(write_geotiff(tmp_path / "o.tif", width=300, height=200))
    boxes = geoupload.sample_windows(info, 100)
    assert len(boxes) == geoupload.FAMILIARITY_WINDOWS and len(set(boxes)) == len(boxes)
    assert all(x >= 0 and x + w <= 300 and y >= 0 and y + h <= 200 for x, y, w, h in boxes)
    assert geoupload.sample_windows(info, 1000) == [(0, 0, 300, 200)]  # a small mosaic: one window


def test_an_uploaded_mosaics_map_folder_names_the_model_that_made_it(tmp_path):
    from test_mosaic import _pointwise

    from seg_core.inference.identity import read_model_identity

    predictor = _pointwise(64)
    predictor.meta.update(run_id="run-42", weights_sha256="ab" * 32)
    data = write_geotiff(tmp_path / "o.tif", width=120, height=80, pixel=0.1).read_bytes()
    analysis = geoupload.analyse_mosaic(predictor, "o.tif", data, model_name="best.pt")
    model, scheme = read_model_identity(analysis.folder)
    assert (model.model_id, model.weights_sha256, scheme.name) == ("run-42", "ab" * 32, predictor.scheme.name)
