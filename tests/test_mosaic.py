"""Orthomosaics window by window (seg_core.gis.mosaic), their polygons (vectors), flight layers
and the `map` command: seams, bounded reads, Stop, corrupt tiles, CRS round trip, areas."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pyogrio
import pytest
import rasterio
import torch
from geo_helpers import WGS84, write_geotiff
from helpers import Pointwise
from PIL import Image

import seg_core.gis.mosaic as mosaic
from seg_core.cli import main
from seg_core.gis.mosaic import NODATA, MosaicSettings, segment_mosaic
from seg_core.gis.vectors import write_class_polygons
from seg_core.imagery.camera import tag_photo
from seg_core.inference.predictor import Predictor
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import save_checkpoint
from seg_core.schemes.classes import CLASS_NAMES, NUM_CLASSES


def _meta(resolution: int, gsd_cm: float | None = None) -> dict:
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": NUM_CLASSES,
        "class_names": list(CLASS_NAMES),
        "resolution": resolution,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
    }
    return meta if gsd_cm is None else {**meta, "working_gsd_cm": gsd_cm}


def _pointwise(resolution: int, gsd_cm: float = 10.0) -> Predictor:
    """A per-pixel model: its mask at a pixel depends on that pixel alone, so windowing must not
    change a single pixel when windows are read at the mosaic's own GSD."""
    return Predictor(Pointwise(), _meta(resolution, gsd_cm), torch.device("cpu"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint({"state_dict": model.state_dict(), "meta": _meta(128, 20.0)}, path)
    return path


def test_windows_reproduce_the_one_pass_mask_and_keep_crs_and_grid(tmp_path):
    source = write_geotiff(tmp_path / "m.tif", width=300, height=200, pixel=0.1)
    settings = MosaicSettings(window=64, context=16, block=16)
    result = segment_mosaic(_pointwise(64), source, tmp_path / "out.tif", settings)
    assert result.windows_total == result.windows_done > 12 and not result.stopped
    with rasterio.open(source) as src, rasterio.open(tmp_path / "out.tif") as out:
        assert out.crs == src.crs and out.transform == src.transform and out.shape == src.shape
        assert out.nodata == NODATA and out.colormap(1)[23][:3] == (150, 0, 255)
        assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        windowed, rgb = out.read(1), src.read().transpose(1, 2, 0)
    one_pass = _pointwise(512).predict(rgb)
    assert np.array_equal(windowed, one_pass)
    assert result.class_pixels.sum() == 300 * 200


def test_a_large_mosaic_is_only_ever_read_in_windows(tmp_path, monkeypatch):
    # 4096x4096 (16 MP), mostly nodata: sparse blocks cost nothing on disk.
    path = tmp_path / "big.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=4096,
        height=4096,
        count=3,
        dtype="uint8",
        crs="EPSG:32615",
        transform=rasterio.Affine(0.05, 0, 270000, 0, -0.05, 3290000),
        nodata=0,
        tiled=True,
        compress="deflate",
        SPARSE_OK=True,
    ) as dataset:
        dataset.write(
            np.full((3, 256, 256), 120, np.uint8), window=rasterio.windows.Window(1024, 1024, 256, 256)
        )
    reads = []
    original = mosaic.read_window

    def spy(dataset, info, window, out_shape):
        reads.append((int(window.width) * int(window.height), out_shape))
        return original(dataset, info, window, out_shape)

    monkeypatch.setattr(mosaic, "read_window", spy)
    result = segment_mosaic(
        _pointwise(128, gsd_cm=40.0), path, tmp_path / "out.tif", MosaicSettings(window=128, context=16)
    )
    # 40 cm model on 5 cm pixels: 8 source px per working px, cores of 768 px -> 6x6 windows.
    assert result.scale == pytest.approx(8.0) and result.windows_total == 36 == len(reads)
    assert max(pixels for pixels, _ in reads) <= (768 + 2 * 128) ** 2 < 4096 * 4096 / 10
    assert all(max(shape) <= 128 for _, shape in reads)  # the model never sees more than its window
    with rasterio.open(tmp_path / "out.tif") as out:
        classes = out.read(1, window=rasterio.windows.Window(1024, 1024, 256, 256))
        assert (classes != NODATA).all() and out.read(
            1, window=rasterio.windows.Window(0, 0, 64, 64)
        ).max() == NODATA


def test_stop_keeps_the_windows_that_were_done(tmp_path):
    source = write_geotiff(tmp_path / "m.tif", width=256, height=128)
    calls = []

    def stop_after_three():
        calls.append(1)
        return len(calls) > 3

    result = segment_mosaic(
        _pointwise(64),
        source,
        tmp_path / "out.tif",
        MosaicSettings(window=64, context=16, block=32),
        should_stop=stop_after_three,
    )
    assert result.stopped and result.windows_done == 3 < result.windows_total
    assert "stopped after 3 of" in result.notices[-1]
    with rasterio.open(tmp_path / "out.tif") as out:
        classes = out.read(1)
    assert (classes[:32, : 3 * 32] != NODATA).all() and (classes[:32, 3 * 32 :] == NODATA).all()


def test_a_corrupt_tile_becomes_nodata_with_a_sentence_and_the_rest_runs(tmp_path):
    source = write_geotiff(tmp_path / "m.tif", width=256, height=128, compress="deflate")
    with rasterio.open(source) as dataset:
        offset = int(dataset.get_tag_item("BLOCK_OFFSET_1_0", "TIFF", bidx=1))
    data = bytearray(source.read_bytes())
    data[offset : offset + 64] = b"\xff" * 64
    source.write_bytes(bytes(data))
    result = segment_mosaic(
        _pointwise(64), source, tmp_path / "out.tif", MosaicSettings(window=64, context=0, block=64)
    )
    assert result.windows_done == result.windows_total == 8
    assert any("could not be decoded" in n and "left as nodata" in n for n in result.notices)
    with rasterio.open(tmp_path / "out.tif") as out:
        classes = out.read(1)
    assert (classes[:64, 64:128] == NODATA).all() and (classes[64:, :] != NODATA).all()


@pytest.mark.parametrize("crs", ["EPSG:32615", WGS84])
def test_polygon_areas_match_the_raster_class_areas(tmp_path, crs):
    pixel, origin = (0.1, (270000.0, 3290000.0)) if crs != WGS84 else (1e-6, (-95.37, 29.76))
    source = write_geotiff(tmp_path / "m.tif", width=200, height=160, crs=crs, pixel=pixel, origin=origin)
    result = segment_mosaic(
        _pointwise(64, 10.0), source, tmp_path / "out.tif", MosaicSettings(window=64, context=16, block=16)
    )
    areas = write_class_polygons(tmp_path / "out.tif", tmp_path / "out.geojson", tmp_path / "out.gpkg")
    raster = {k: v for k, v in result.class_areas_m2().items() if v}
    assert set(areas) == set(raster)
    for name, m2 in raster.items():  # planar areas are exact; geodesic within 1% of the centre GSD
        assert areas[name] == pytest.approx(m2, rel=1e-6 if crs != WGS84 else 1e-2)
    collection = json.loads((tmp_path / "out.geojson").read_text())
    assert "crs" not in collection and collection["features"]
    props = collection["features"][0]["properties"]
    assert set(props) == {"class_id", "class_name", "area_m2", "touches_flood"}
    lon, lat = collection["features"][0]["geometry"]["coordinates"][0][0]
    assert -96 < lon < -95 and 29 < lat < 30.5  # WGS84 longitude first, whatever the input CRS
    info = pyogrio.read_info(tmp_path / "out.gpkg")
    assert info["crs"] == "EPSG:4326" and info["features"] == len(collection["features"])


def test_roofs_touching_flood_water_are_flagged(tmp_path):
    classes = np.full((64, 64), 5, np.uint8)  # grass
    classes[10:20, 10:20] = 1  # a roof beside the flood
    classes[10:20, 20:40] = 23
    classes[40:50, 40:50] = 1  # a dry roof
    path = tmp_path / "classes.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="uint8",
        nodata=NODATA,
        crs="EPSG:32615",
        transform=rasterio.Affine(0.1, 0, 270000, 0, -0.1, 3290000),
    ) as dataset:
        dataset.write(classes, 1)
    areas = write_class_polygons(path, tmp_path / "c.geojson", tmp_path / "c.gpkg")
    assert areas["Property Roof"] == pytest.approx(2.0) and areas["Flooded"] == pytest.approx(2.0)
    roofs = [
        f["properties"]
        for f in json.loads((tmp_path / "c.geojson").read_text())["features"]
        if f["properties"]["class_id"] == 1
    ]
    assert sorted(r["touches_flood"] for r in roofs) == [False, True]


def test_map_command_writes_mosaic_and_flight_layers_and_reports_bad_inputs(tmp_path, checkpoint, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_geotiff(inputs / "ortho.tif", width=200, height=150, pixel=0.1, bands=4, alpha=True)
    write_geotiff(inputs / "nocrs.tif", crs=None)
    photo = Image.new("RGB", (160, 120), (40, 60, 150))
    tag_photo(photo, inputs / "a.jpg", 29.7604, -95.3698, altitude_asl_m=90, relative_altitude_m=60)
    tag_photo(photo, inputs / "b.jpg", 29.7610, -95.3690, altitude_asl_m=90)
    out = tmp_path / "out"
    code = main(["map", "--checkpoint", str(checkpoint), "--out", str(out), str(inputs)])
    captured = capsys.readouterr()
    assert code == 0
    assert "nocrs.tif: has no coordinate reference system" in captured.err
    assert "b.jpg: no height above ground" in captured.err
    for name in (
        "ortho_classes.tif",
        "ortho_classes.geojson",
        "ortho_classes.gpkg",
        "ortho_summary.json",
        "flight.geojson",
        "flight.gpkg",
        "flight.csv",
        "a_overlay.jpg",
    ):
        assert (out / name).is_file(), name
    tiles = (out / "ortho_tiles.csv").read_text().splitlines()
    assert (
        tiles[0] == "col_off,row_off,width,height,longitude,latitude,valid_px,flooded_share"
        and len(tiles) > 1
    )
    summary = json.loads((out / "ortho_summary.json").read_text())
    assert summary["model_gsd"].startswith("20.00 cm/px (checkpoint") and summary["raster_gsd"].startswith(
        "10.00"
    )
    points = json.loads((out / "flight.geojson").read_text())["features"]
    assert [p["properties"]["gsd_source"] for p in points] == ["xmp", None]
    assert points[0]["geometry"]["coordinates"] == pytest.approx([-95.3698, 29.7604], abs=1e-6)
    assert (
        (out / "flight.csv")
        .read_text()
        .splitlines()[0]
        .startswith("name,latitude,longitude,gsd_cm,gsd_source")
    )


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils (pdftotext) not installed")
def test_a_map_folder_names_its_model_for_the_buildings_made_later(tmp_path, checkpoint, capsys):
    from seg_core.inference.identity import read_model_identity

    write_geotiff(tmp_path / "ortho.tif", width=200, height=150, pixel=0.1)
    out = tmp_path / "map"
    assert main(["map", "--checkpoint", str(checkpoint), "--out", str(out), str(tmp_path / "ortho.tif")]) == 0
    sha = Predictor.from_checkpoint(checkpoint).meta["weights_sha256"]
    model, scheme = read_model_identity(out)
    assert (model.model_id, model.weights_sha256, scheme.name) == ("best.pt", sha, "harvey")
    assert json.loads((out / "model.json").read_text())["scheme"] == "harvey"
    report = tmp_path / "report"
    assert main(["buildings", "--map-folder", str(out), "--out", str(report)]) == 0
    capsys.readouterr()
    text = subprocess.run(
        ["pdftotext", str(report / "situation_report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Model: best.pt (weights sha256 {sha[:12]}), scheme harvey" in text
    # The layer's model fields come from the same record (test_situation_report's map-folder test).


def test_map_command_with_nothing_usable_exits_2(tmp_path, checkpoint, capsys):
    bad = write_geotiff(tmp_path / "five.tif", bands=5)
    assert main(["map", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), str(bad)]) == 2
    assert "five.tif: has 5 band(s)" in capsys.readouterr().err


def test_a_convolutional_network_sees_no_seams_with_the_default_context(tmp_path):
    # A U-Net looks beyond each pixel, so cut windows can differ from one pass; 64 working px
    # of context (the default) keeps 99.9% of pixels identical on this 3x3-window mosaic (16 px
    # gave 98%), and the differences are scattered class-boundary pixels, not lines.
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    predictor = Predictor(model, _meta(1024, 10.0), torch.device("cpu"))
    source = write_geotiff(tmp_path / "m.tif", width=384, height=384, pixel=0.1)
    result = segment_mosaic(
        predictor, source, tmp_path / "out.tif", MosaicSettings(window=256, context=64, block=16)
    )
    assert result.windows_total == 9
    with rasterio.open(source) as src, rasterio.open(tmp_path / "out.tif") as out:
        windowed, one_pass = out.read(1), predictor.predict(src.read().transpose(1, 2, 0))
    assert (windowed == one_pass).mean() > 0.995
    seams = windowed[:, 127:129] != one_pass[:, 127:129]  # the first column seam (cores of 128 px)
    assert seams.mean() < 0.02
