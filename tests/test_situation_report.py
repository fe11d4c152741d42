"""The situation report read as a person reads it: rendered to PNG pages with poppler's pdftoppm,
its text extracted with pdftotext, every figure checked against the GeoPackage it ships with; its
georeferencing checked against what GDAL's PDF driver writes for the same extent."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pyogrio
import pytest
from buildings_helpers import known_houses, level_id
from PIL import Image

from seg_core.buildings.export import LAYER, SITUATION_TABLE
from seg_core.buildings.footprints import building_footprints
from seg_core.buildings.records import ModelIdentity
from seg_core.buildings.sources import Assessment, assess_segmented_photo
from seg_core.imagery.camera import PhotoGeo
from seg_core.imagery.gsd import Gsd
from seg_core.reports.geopdf import georeference_page, read_georeference
from seg_core.reports.situation import ReportContext, SituationReport, format_figure, format_share
from seg_core.schemes.scheme import ROAD, VEHICLE, builtin
from seg_core.services.situation import REPORT_FILE, write_situation

pytestmark = pytest.mark.skipif(
    not shutil.which("pdftotext"), reason="poppler-utils (pdftotext, pdftoppm) not installed"
)
RESCUENET = builtin("rescuenet")
MODEL = ModelIdentity("run-7", "cd" * 32, "dataset 'demo', scheme rescuenet")


def damage_scene() -> np.ndarray:
    """The known houses, five of them damaged (two Destroyed, two Major, one Minor), with a blocked
    road, a clear one and two cars."""
    mask, _ = known_houses(RESCUENET, level_id(RESCUENET, "No damage"))
    labels, _ = building_footprints(mask, RESCUENET, 0.075)
    for label, level in zip(
        (1, 3, 4, 6, 8), ("Destroyed", "Major", "Minor", "Destroyed", "Major"), strict=True
    ):
        mask[labels == label] = level_id(RESCUENET, level)
    mask[1150:1190, :] = RESCUENET.ids(ROAD, blocked=True)[0]
    mask[560:600, :] = RESCUENET.ids(ROAD, blocked=False)[0]
    for x in (100, 400):
        mask[570:590, x : x + 40] = RESCUENET.ids(VEHICLE)[0]
    return mask


def georeferenced_assessment() -> Assessment:
    mask = damage_scene()
    geo = PhotoGeo(
        "scene.png", mask.shape[1], mask.shape[0], latitude=29.76, longitude=-95.37, heading_deg=20.0
    )
    photo = RESCUENET.colorize(mask)
    confidence = np.full(mask.shape, 0.85, np.float32)
    return assess_segmented_photo(
        "scene.png", mask, RESCUENET, MODEL, Gsd(7.5, "user"), geo, confidence, photo
    )


def pdf_text(path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def read_layer(gpkg, layer) -> list[dict]:
    meta, _, _, columns = pyogrio.raw.read(gpkg, layer=layer)
    return [dict(zip(meta["fields"], row, strict=True)) for row in zip(*columns, strict=True)]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    write_situation(
        georeferenced_assessment(), ReportContext("Hurricane test: Pine Creek", MODEL, RESCUENET), out
    )
    return out


def test_the_report_renders_four_pages_with_the_map_in_colour(written, tmp_path):
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(written / REPORT_FILE), str(tmp_path / "page")], check=True
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 4
    first = np.asarray(Image.open(pages[0]).convert("RGB")).reshape(-1, 3)
    destroyed = np.array([0xB2, 0x18, 0x2B])
    assert (np.abs(first.astype(int) - destroyed).sum(axis=1) < 30).sum() > 20  # red footprints drawn


def test_every_summary_figure_in_the_pdf_equals_the_geopackages(written):
    text = pdf_text(written / REPORT_FILE)
    figures = read_layer(written / "buildings.gpkg", SITUATION_TABLE)
    assert len(figures) >= 15
    for figure in figures:
        value = None if np.isnan(figure["value"]) else figure["value"]
        # Two tables share a line in the text layout: a figure is its name, spaces, its value.
        pattern = (
            rf"(^|\s\s){re.escape(figure['name'])}\s+{re.escape(format_figure(value, figure['unit']))}(\s|$)"
        )
        assert re.search(pattern, text, re.M), f"{figure['name']} = {value} not printed as in the GeoPackage"
    buildings = read_layer(written / "buildings.gpkg", LAYER)
    by_level = {row["name"]: row["value"] for row in figures if row["section"] == "Buildings"}
    assert by_level["Buildings assessed"] == len(buildings) == 10
    for level in ("No damage", "Minor", "Major", "Destroyed"):
        assert by_level[level] == sum(b["damage_level"] == level for b in buildings)
    assert by_level["Destroyed"] == 2 and by_level["Major"] == 2 and by_level["Minor"] == 1


def test_the_most_damaged_buildings_print_the_layers_values(written):
    text = pdf_text(written / REPORT_FILE)
    buildings = {b["building_id"]: b for b in read_layer(written / "buildings.gpkg", LAYER)}
    listed = re.findall(r"(scene-\d{4})\s+(No damage|Affected|Minor|Major|Destroyed)\s+share (\S+)", text)
    assert len(listed) == 5  # every building above No damage, worst first
    assert [level for _, level, _ in listed] == ["Destroyed", "Destroyed", "Major", "Major", "Minor"]
    for building_id, level, share in listed:
        row = buildings[building_id]
        assert level == row["damage_level"] and share == format_share(row["damage_share"])
        assert f"area {row['area_m2']:.2f} m" in text
        assert f"{row['latitude']:.7f}, {row['longitude']:.7f}" in text


def test_the_map_page_is_georeferenced_around_the_buildings(written):
    georef = read_georeference((written / REPORT_FILE).read_bytes(), page=0)
    assert georef is not None and "UTM" in georef["wkt"]
    lats, lons = georef["gpts"][0::2], georef["gpts"][1::2]
    for building in read_layer(written / "buildings.gpkg", LAYER):
        assert min(lats) < building["latitude"] < max(lats) and min(lons) < building["longitude"] < max(lons)


def test_our_viewport_ties_the_same_corners_to_the_same_places_as_gdals(tmp_path):
    """GDAL's PDF driver (in rasterio's wheel, write-only) georeferences a GeoTIFF's page; ours, for the
    same extent and CRS, must give every corner of the unit square the same latitude and longitude."""
    import rasterio
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from pyproj import Transformer
    from rasterio.shutil import copy as gdal_copy
    from rasterio.transform import from_origin

    x0, y1, width, height, pixel = 270000.0, 3290000.0, 200, 100, 0.5
    with rasterio.open(
        tmp_path / "a.tif",
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:32615",
        transform=from_origin(x0, y1, pixel, pixel),
    ) as dataset:
        dataset.write(np.full((3, height, width), 200, np.uint8))
    gdal_copy(tmp_path / "a.tif", tmp_path / "gdal.pdf", driver="PDF")
    gdal = read_georeference((tmp_path / "gdal.pdf").read_bytes())
    to_wgs84 = Transformer.from_crs("EPSG:32615", "EPSG:4326", always_xy=True)
    x1, y0 = x0 + width * pixel, y1 - height * pixel
    corners = []
    for x, y in ((x0, y0), (x0, y1), (x1, y1), (x1, y0)):
        lon, lat = to_wgs84.transform(x, y)
        corners.append((lat, lon))
    with PdfPages(tmp_path / "plain.pdf") as pdf:
        pdf.savefig(Figure(figsize=(4, 3)))
    ours = read_georeference(
        georeference_page(
            (tmp_path / "plain.pdf").read_bytes(),
            0,
            (10, 10, 210, 110),
            rasterio.CRS.from_epsg(32615).to_wkt(),
            corners,
        )
    )

    def by_corner(georef):
        points = zip(georef["lpts"][0::2], georef["lpts"][1::2], strict=True)
        places = zip(georef["gpts"][0::2], georef["gpts"][1::2], strict=True)
        return {(round(u), round(v)): place for (u, v), place in zip(points, places, strict=True)}

    gdal_corners, our_corners = by_corner(gdal), by_corner(ours)
    assert set(gdal_corners) == set(our_corners)
    for corner, (lat, lon) in gdal_corners.items():
        assert our_corners[corner] == pytest.approx((lat, lon), abs=1e-8)
    assert ours["bbox"] == [10, 10, 210, 110]


def test_photos_without_georeference_give_a_plain_pdf_in_pixel_coordinates(tmp_path):
    mask = damage_scene()
    assessment = assess_segmented_photo("plain.png", mask, RESCUENET, MODEL, Gsd(7.5, "user"))
    assert assessment.imagery[0]["size"] == (1600, 1200)  # the map panel is drawn at the photo's size
    paths = write_situation(assessment, ReportContext("Plain photos", MODEL, RESCUENET), tmp_path)
    assert {p.name for p in paths} == {"buildings.csv", "buildings_pixels.json", REPORT_FILE}
    assert read_georeference((tmp_path / REPORT_FILE).read_bytes()) is None
    text = pdf_text(tmp_path / REPORT_FILE)
    assert "Not georeferenced: each photo in its own pixel coordinates" in text
    assert "plain.png: no GPS position: pixel coordinates only" in text


def test_a_batch_without_buildings_still_gets_a_report_that_says_so(tmp_path):
    empty = assess_segmented_photo(
        "field.png", np.zeros((300, 400), np.uint8), RESCUENET, MODEL, Gsd(5.0, "user")
    )
    write_situation(empty, ReportContext("Nothing standing", MODEL, RESCUENET), tmp_path)
    text = pdf_text(tmp_path / REPORT_FILE)
    assert "No building was graded above No damage." in text
    assert re.search(r"^\s*Buildings assessed\s+0\s", text, re.M)
    assert (tmp_path / "buildings.csv").read_text().count("\n") == 1  # the header alone


def test_a_class_raster_without_crs_is_refused_in_a_sentence(tmp_path):
    import rasterio

    from seg_core.buildings.sources import assess_class_raster
    from seg_core.imagery.raster import MosaicError

    path = tmp_path / "ortho_classes.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8") as dataset:
        dataset.write(np.full((1, 64, 64), 2, np.uint8))
    with pytest.raises(MosaicError, match=r"ortho_classes.tif: has no coordinate reference system"):
        assess_class_raster(path, RESCUENET, MODEL)


def test_a_class_raster_is_assessed_window_by_window_without_double_counting(tmp_path, monkeypatch):
    import rasterio
    from rasterio.transform import from_origin

    from seg_core.buildings import sources

    mask, houses = known_houses(RESCUENET, level_id(RESCUENET, "Major"))
    path = tmp_path / "ortho_classes.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=mask.shape[1],
        height=mask.shape[0],
        count=1,
        dtype="uint8",
        crs="EPSG:32615",
        transform=from_origin(270000, 3290000, 0.075, 0.075),
        nodata=255,
    ) as dataset:
        dataset.write(mask[None])
    monkeypatch.setattr(sources, "WINDOW_CORE", 512)  # 12 windows, houses across their edges
    assessment = sources.assess_class_raster(path, RESCUENET, MODEL)
    assert len(assessment.records) == houses
    assert len({r.building_id for r in assessment.records}) == houses
    assert sum(r.area_m2 for r in assessment.records) == pytest.approx(
        np.isin(mask, RESCUENET.ids("building")).sum() * 0.075**2
    )


def write_map_folder(folder):
    """A map folder as `map` writes it: one class GeoTIFF of the known houses (all Minor), its
    summary and the model record; returns (folder, houses)."""
    import json

    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir()
    mask, houses = known_houses(RESCUENET, level_id(RESCUENET, "Minor"))
    with rasterio.open(
        folder / "ortho_classes.tif",
        "w",
        driver="GTiff",
        width=mask.shape[1],
        height=mask.shape[0],
        count=1,
        dtype="uint8",
        crs="EPSG:32615",
        transform=from_origin(270000, 3290000, 0.075, 0.075),
        nodata=255,
    ) as dataset:
        dataset.write(mask[None])
    (folder / "ortho_summary.json").write_text(
        json.dumps(
            {"name": "ortho.tif", "input": str(folder / "gone.tif"), "classes_tif": "ortho_classes.tif"}
        )
    )
    (folder / "model.json").write_text(
        json.dumps({"model_id": "run-7", "weights_sha256": "cd" * 32, "scheme": "rescuenet"})
    )
    return folder, houses


def test_the_cli_writes_the_files_from_a_map_folder_and_refuses_an_empty_one(tmp_path, capsys):
    from seg_core.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["buildings", "--map-folder", str(empty), "--out", str(tmp_path / "x")]) == 2
    assert "holds no mosaic summaries or photo masks" in capsys.readouterr().err
    folder, houses = write_map_folder(tmp_path / "map")
    assert (
        main(
            [
                "buildings",
                "--map-folder",
                str(folder),
                "--out",
                str(tmp_path / "out"),
                "--title",
                "Pine Creek",
            ]
        )
        == 0
    )
    assert f"{houses} building(s), {houses} georeferenced" in capsys.readouterr().out
    rows = read_layer(tmp_path / "out" / "buildings.gpkg", LAYER)
    assert {r["damage_level"] for r in rows} == {"Minor"} and {r["model_id"] for r in rows} == {"run-7"}
    assert "Pine Creek" in pdf_text(tmp_path / "out" / REPORT_FILE)


def test_situation_report_figures_are_the_layers_counts():
    report = SituationReport(georeferenced_assessment(), ReportContext("t", MODEL, RESCUENET))
    figures = {f["name"]: f["value"] for f in report.figures()}
    assert figures["Vehicles"] == 2 and figures["Road, blocked"] == pytest.approx(
        1600 * 40 * 0.075**2, abs=0.05
    )
    assert figures["Flooded"] is None  # RescueNet has no flood class: it cannot say
