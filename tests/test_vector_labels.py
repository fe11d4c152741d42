"""Existing vector maps burnt onto a tiny GeoTIFF as partial labels: the tolerance band around
every edge, line widths, reprojection, and the CLI's sentences for hostile inputs."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import shapely
from geo_helpers import UTM, write_geotiff
from PIL import Image
from pyproj import Transformer

from seg_core.cli import main
from seg_core.datasets.discovery import validate_dataset
from seg_core.datasets.partial import read_partial_labels
from seg_core.gis.vector_labels import RasterizeSettings, VectorLayer, vectors_to_partial_labels
from seg_core.schemes.classes import IGNORE_INDEX

ORIGIN = (270000.0, 3290000.0)  # top-left corner of the test mosaic, UTM 15N metres
PIXEL = 0.5  # m: 64 px = 32 m
ROOF, ROAD = 1, 14


def to_map(col: float, row: float) -> tuple[float, float]:
    return ORIGIN[0] + col * PIXEL, ORIGIN[1] - row * PIXEL


def square(col0, row0, col1, row1) -> shapely.Polygon:
    corners = [to_map(c, r) for c, r in ((col0, row0), (col1, row0), (col1, row1), (col0, row1))]
    return shapely.Polygon(corners)


def write_layer(path, geometries, crs=UTM, driver=None):
    wkb = shapely.to_wkb(np.asarray(geometries, dtype=object))
    kind = shapely.get_type_id(geometries[0])
    geometry_type = {0: "Point", 1: "LineString", 3: "Polygon"}[int(kind)]
    pyogrio.raw.write(
        path,
        wkb,
        [],
        [],
        crs=crs,
        geometry_type=geometry_type,
        driver=driver or pyogrio.raw.detect_write_driver(path),
    )
    return path


@pytest.fixture
def mosaic(tmp_path):
    return write_geotiff(tmp_path / "mosaic.tif", width=64, height=64, pixel=PIXEL, origin=ORIGIN)


def burn(mosaic, layers, out, **settings) -> np.ndarray:
    vectors_to_partial_labels(mosaic, layers, out, RasterizeSettings(tile=64, **settings))
    (mask_path,) = sorted((out / "masks").iterdir())
    return np.array(Image.open(mask_path))


def test_a_footprint_becomes_roof_inside_unknown_at_its_edge_and_not_roof_far_away(tmp_path, mosaic):
    layer = write_layer(tmp_path / "buildings.gpkg", [square(10, 10, 40, 40)])
    mask = burn(mosaic, [VectorLayer(layer, ROOF)], tmp_path / "out", tolerance_m=2.0)  # 4 px
    labels = read_partial_labels(tmp_path / "out")
    not_roof = labels.code_for([ROOF])
    assert labels.not_codes == {not_roof: (ROOF,)}
    row = mask[25]  # a row through the middle of the house
    assert set(row[14:36]) == {ROOF}  # more than 4 px inside every edge
    assert set(row[6:14]) == {IGNORE_INDEX} and set(row[36:44]) == {IGNORE_INDEX}  # the band
    assert set(row[:6]) == {not_roof} and set(row[44:]) == {not_roof}
    assert validate_dataset(tmp_path / "out").problems == []  # codes are declared: a valid dataset


def test_without_tolerance_the_edge_is_sharp(tmp_path, mosaic):
    layer = write_layer(tmp_path / "buildings.gpkg", [square(10, 10, 40, 40)])
    mask = burn(mosaic, [VectorLayer(layer, ROOF)], tmp_path / "out", tolerance_m=0.0)
    assert mask[25, 10] == ROOF and mask[25, 9] != ROOF and mask[25, 9] != IGNORE_INDEX


def test_a_road_line_gets_its_width_and_two_layers_combine(tmp_path, mosaic):
    road = shapely.LineString([to_map(0, 50), to_map(64, 50)])
    roads = write_layer(tmp_path / "roads.geojson", [road])
    buildings = write_layer(tmp_path / "buildings.gpkg", [square(10, 10, 30, 30)])
    mask = burn(
        mosaic,
        [VectorLayer(roads, ROAD), VectorLayer(buildings, ROOF)],
        tmp_path / "out",
        tolerance_m=1.0,  # 2 px
        line_width_m=6.0,  # 12 px: rows 44..56, road core 46..54
    )
    labels = read_partial_labels(tmp_path / "out")
    column = mask[:, 50]
    assert set(column[46:54]) == {ROAD}
    assert set(column[42:46]) == {labels.code_for([ROOF])}  # in the road's band, far from houses
    assert set(column[34:42]) == {labels.code_for([ROOF, ROAD])}  # neither road nor house
    assert mask[20, 20] == ROOF


def test_an_incomplete_layer_never_says_not_that_class(tmp_path, mosaic):
    layer = write_layer(tmp_path / "buildings.gpkg", [square(10, 10, 40, 40)])
    mask = burn(mosaic, [VectorLayer(layer, ROOF, incomplete=True)], tmp_path / "out")
    assert set(np.unique(mask)) == {ROOF, IGNORE_INDEX}


# --------------------------------------------------------------------------- the command


def cli(*args) -> int:
    return main(["partial-labels", *[str(a) for a in args]])


def test_vectors_in_another_crs_are_reprojected(tmp_path, mosaic, capsys):
    to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    house = shapely.transform(square(10, 10, 40, 40), lambda xy: np.column_stack(to_lonlat.transform(*xy.T)))
    layer = write_layer(tmp_path / "wgs84.geojson", [house], crs="EPSG:4326")
    code = cli(
        "from-vectors",
        "--mosaic",
        mosaic,
        "--vectors",
        f"{layer}=Property Roof",
        "--out",
        tmp_path / "out",
        "--tile",
        64,
    )
    assert code == 0
    assert "reprojected from WGS 84" in capsys.readouterr().out
    mask = np.array(Image.open(next((tmp_path / "out" / "masks").iterdir())))
    assert set(mask[25, 14:36]) == {ROOF} and mask[25, 2] != ROOF


@pytest.mark.parametrize(
    "case, sentence",
    [
        ("outside", "none of its 1 features lies on mosaic.tif"),
        ("no_crs", "has no coordinate reference system"),
        ("points", "holds points"),
        ("missing", "vector file not found"),
        ("bad_class", "unknown class 'Castle'"),
        ("not_empty", "already holds files"),
    ],
)
def test_hostile_inputs_get_one_sentence_and_exit_2(tmp_path, mosaic, capsys, case, sentence):
    layer = write_layer(tmp_path / "buildings.gpkg", [square(10, 10, 40, 40)])
    out, klass = tmp_path / "out", "Property Roof"
    if case == "outside":
        layer = write_layer(
            tmp_path / "far.gpkg", [shapely.affinity.translate(square(10, 10, 40, 40), 5000, 0)]
        )
    elif case == "no_crs":
        mosaic = write_geotiff(tmp_path / "plain.tif", width=64, height=64, crs=None)
    elif case == "points":
        layer = write_layer(tmp_path / "points.gpkg", [shapely.Point(*to_map(5, 5))])
    elif case == "missing":
        layer = tmp_path / "nowhere.gpkg"
    elif case == "bad_class":
        klass = "Castle"
    elif case == "not_empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    code = cli("from-vectors", "--mosaic", mosaic, "--vectors", f"{layer}={klass}", "--out", out)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and sentence in err, err
    assert case == "not_empty" or not out.exists() or not any((out / "masks").iterdir())
    if case == "not_empty":
        assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_json_summary_and_the_mark_command(tmp_path, mosaic, capsys):
    layer = write_layer(tmp_path / "buildings.gpkg", [square(10, 10, 40, 40)])
    out = tmp_path / "out"
    assert cli("from-vectors", "--mosaic", mosaic, "--vectors", f"{layer}=1", "--out", out, "--json") == 0
    assert json.loads(capsys.readouterr().out)["tiles"] == 1
    (stem,) = [p.stem for p in (out / "images").iterdir()]
    assert cli("mark", out, stem, "--classes", "Road/Highway") == 0
    assert "only Road/Highway labelled" in capsys.readouterr().out
    assert read_partial_labels(out).labelled_only == {stem: (ROAD,)}
    assert cli("mark", out, "no-such-photo", "--all") == 2
