"""Buildings from masks: instances (touching roofs split), polygons (valid, squared, areas), the FEMA
grading rules, placement of GPS-tagged photos and the building files."""

from __future__ import annotations

import math
import zipfile

import numpy as np
import pyogrio
import pytest
import shapely
from buildings_helpers import known_houses, level_id, paint_house
from PIL import Image

from seg_core.buildings.export import LAYER, write_building_files
from seg_core.buildings.footprints import FootprintSettings, building_footprints
from seg_core.buildings.grading import DAMAGE_CLASSES, FLOOD_STATUS, grade_buildings, median_damage
from seg_core.buildings.records import SHAPEFILE_NAMES, ModelIdentity, assess_mask, photo_georef
from seg_core.buildings.sources import assess_segmented_photo
from seg_core.imagery.camera import read_photo_geo, tag_photo
from seg_core.imagery.gsd import Gsd
from seg_core.schemes.scheme import FLOODED, HARVEY, ROAD, builtin

RESCUENET, FLOODNET = builtin("rescuenet"), builtin("floodnet")
MODEL = ModelIdentity("run-1", "ab" * 32, "dataset 'demo', scheme rescuenet")
GSD_M = 0.075


@pytest.mark.parametrize("scheme", [RESCUENET, HARVEY, FLOODNET], ids=lambda s: s.name)
def test_touching_roofs_split_into_the_known_houses(scheme):
    mask, houses = known_houses(scheme)
    labels, footprints = building_footprints(mask, scheme, GSD_M)
    assert len(footprints) == houses
    assert labels.max() == houses and set(np.unique(labels)) == set(range(houses + 1))


def test_polygons_are_valid_squared_and_keep_the_raster_area():
    mask, _ = known_houses(RESCUENET)
    _, footprints = building_footprints(mask, RESCUENET, GSD_M)
    for footprint in footprints:
        assert footprint.polygon.is_valid and footprint.polygon.geom_type == "Polygon"
        assert abs(footprint.polygon.area - footprint.pixels) <= 0.02 * footprint.pixels
    rectangles = [f for f in footprints if f.label != 5]  # all but the L-shaped house
    assert all(f.squared and len(f.polygon.exterior.coords) == 5 for f in rectangles)
    corners = np.asarray(footprints[0].polygon.exterior.coords)
    edges = np.diff(corners, axis=0)
    cosines = [
        abs(np.dot(a, b)) / np.linalg.norm(a) / np.linalg.norm(b)
        for a, b in zip(edges, np.roll(edges, 1, 0), strict=True)
    ]
    assert max(cosines) < 1e-6  # right angles


def test_fragments_under_the_area_threshold_are_dropped():
    mask = np.zeros((400, 400), np.uint8)
    roof = level_id(RESCUENET, "No damage")
    mask[90:110, 90:110] = roof  # 400 px x 0.075^2 = 2.25 m²: a fragment
    mask[275:325, 275:325] = roof  # 14 m²: a building
    _, footprints = building_footprints(mask, RESCUENET, GSD_M, FootprintSettings(min_area_m2=10))
    assert [f.pixels for f in footprints] == [2500]


@pytest.mark.parametrize(
    ("shares", "level", "share"),
    [
        ({"Destroyed": 0.4, "Major": 0.2, "No damage": 0.4}, "Major", 0.6),
        ({"No damage": 1.0}, "No damage", 1.0),
        ({"Destroyed": 0.5, "No damage": 0.5}, "Destroyed", 0.5),
        ({"Minor": 0.3, "No damage": 0.7}, "No damage", 1.0),
        ({"Minor": 0.2, "Major": 0.2}, "Major", 0.5),  # shares of the graded part only
        ({}, None, None),
    ],
)
def test_the_median_rule_picks_the_most_severe_level_covering_half(shares, level, share):
    got_level, got_share = median_damage(shares)
    assert got_level == level
    assert got_share == pytest.approx(share) if share is not None else got_share is None


def _one_house(scheme, roof, water_gap_px=None, water_id=None):
    mask = np.zeros((300, 300), np.uint8)
    paint_house(mask, (150, 150), (100, 100), 0, roof)  # x 100..199
    if water_gap_px is not None:
        mask[:, 200 + water_gap_px :] = water_id
    labels, footprints = building_footprints(mask, scheme, 0.1)
    return grade_buildings(mask, labels, len(footprints), scheme, 0.1)[0]


def test_flood_status_rule_affected_within_two_metres_of_flood_water():
    roof, water = HARVEY.ids(role="building")[0], HARVEY.ids(FLOODED)[0]
    touching = _one_house(HARVEY, roof, 0, water)
    near = _one_house(HARVEY, roof, 15, water)  # 1.5 m at 10 cm/px
    far = _one_house(HARVEY, roof, 30, water)  # 3 m
    dry = _one_house(HARVEY, roof)
    assert (touching.flooded, near.flooded, far.flooded, dry.flooded) == (True, True, False, False)
    assert (touching.damage_level, far.damage_level, dry.damage_level) == (
        "Affected",
        "No damage",
        "No damage",
    )
    assert touching.damage_basis == FLOOD_STATUS and touching.damage_share is None


def test_a_permanent_water_body_does_not_flood_a_building():
    roof, lake = HARVEY.ids(role="building")[0], HARVEY.ids("water")[0]
    assert _one_house(HARVEY, roof, 0, lake).flooded is False


def test_floodnet_building_flooded_class_floods_the_building_and_flooded_road_counts_as_flood_water():
    flooded_roof = FLOODNET.class_id("building-flooded")
    assert _one_house(FLOODNET, flooded_roof).flooded is True
    dry_roof = FLOODNET.class_id("building-non-flooded")
    assert _one_house(FLOODNET, dry_roof, 0, FLOODNET.ids(ROAD, flooded=True)[0]).flooded is True


def test_damage_classes_grade_and_a_scheme_without_flood_classes_leaves_flooded_empty():
    mask = np.zeros((300, 300), np.uint8)
    mask[100:200, 100:200] = level_id(RESCUENET, "No damage")
    mask[100:160, 100:200] = level_id(RESCUENET, "Destroyed")  # 60% destroyed
    labels, footprints = building_footprints(mask, RESCUENET, 0.1)
    grade = grade_buildings(mask, labels, 1, RESCUENET, 0.1)[0]
    assert (grade.damage_level, grade.damage_basis, grade.flooded) == ("Destroyed", DAMAGE_CLASSES, None)
    assert grade.damage_share == pytest.approx(0.6)


def test_confidence_is_the_footprints_mean_top_probability_and_uncertain_share():
    mask = np.zeros((300, 300), np.uint8)
    mask[100:200, 100:200] = level_id(RESCUENET, "Minor")
    confidence = np.full(mask.shape, 0.9, np.float32)
    confidence[100:125, 100:200] = 0.5  # a quarter of the roof is unsure
    labels, footprints = building_footprints(mask, RESCUENET, 0.1)
    grade = grade_buildings(mask, labels, 1, RESCUENET, 0.1, confidence)[0]
    assert grade.confidence_mean == pytest.approx(0.8)
    assert grade.uncertain_share == pytest.approx(0.25)


def test_a_gps_tagged_nadir_photo_places_its_buildings_by_position_gsd_and_heading(tmp_path):
    from pyproj import Geod

    mask = np.zeros((600, 800), np.uint8)
    mask[260:340, 560:640] = level_id(RESCUENET, "Major")  # centred 200 px right of the photo's centre
    path = tag_photo(Image.new("RGB", (800, 600)), tmp_path / "DJI_0001.JPG", 29.76, -95.37, heading_deg=90.0)
    geo = read_photo_geo(path)
    assert geo.heading_deg == 90.0
    assessment = assess_segmented_photo("DJI_0001.JPG", mask, RESCUENET, MODEL, Gsd(5.0, "user"), geo)
    (record,) = assessment.records
    # Facing east, the photo's right is south: 200 px x 5 cm = 10 m south of the GPS position.
    lon, lat, _ = Geod(ellps="WGS84").fwd(geo.longitude, geo.latitude, 180.0, 10.0)
    assert record.latitude == pytest.approx(lat, abs=2e-7) and record.longitude == pytest.approx(
        lon, abs=2e-7
    )
    assert record.area_m2 == pytest.approx(6400 * 0.05**2)


def test_a_photo_without_heading_keeps_pixel_coordinates_and_says_why(tmp_path):
    mask = np.zeros((600, 800), np.uint8)
    paint_house(mask, (400, 300), (80, 80), 0, level_id(RESCUENET, "Major"))
    path = tag_photo(Image.new("RGB", (800, 600)), tmp_path / "DJI_0002.JPG", 29.76, -95.37)
    assessment = assess_segmented_photo(
        "DJI_0002.JPG", mask, RESCUENET, MODEL, Gsd(5.0, "user"), read_photo_geo(path)
    )
    assert assessment.records[0].latitude is None
    assert any("DJI_0002.JPG: no camera heading" in n for n in assessment.notices)


def test_the_demo_flights_headings_turn_its_photo_footprints(tmp_path):
    """The demo flight flies east then west (headings 90 and 270): each photo's frame lies with its
    long side (120 m) north-south, and a house in its top left corner lands north-east of the
    centre flying east, south-west flying west."""
    from seg_core.demo.geodemo import SCENE_WIDTH_M, write_demo_flight
    from seg_core.imagery.camera import photo_gsd

    photos = write_demo_flight(tmp_path, count=4, size=(160, 120))
    mask = np.zeros((120, 160), np.uint8)
    paint_house(mask, (20, 16), (16, 16), 0, level_id(RESCUENET, "Major"))
    for path, heading, north_east in ((photos[0], 90.0, True), (photos[3], 270.0, False)):
        geo = read_photo_geo(path)
        assert geo.heading_deg == heading
        assessment = assess_segmented_photo(path.name, mask, RESCUENET, MODEL, photo_gsd(geo)[0], geo)
        (house,) = assessment.records
        frame = assessment.imagery[0]["footprint_wgs84"]
        lon0, lat0, lon1, lat1 = frame.bounds
        north_south_m = (lat1 - lat0) * 111_000
        east_west_m = (lon1 - lon0) * 111_000 * math.cos(math.radians(geo.latitude))
        assert north_south_m == pytest.approx(SCENE_WIDTH_M, rel=0.01)
        assert east_west_m == pytest.approx(SCENE_WIDTH_M * 120 / 160, rel=0.01)
        assert (house.latitude > geo.latitude and house.longitude > geo.longitude) is north_east
        assert (house.latitude < geo.latitude and house.longitude < geo.longitude) is not north_east


def test_an_exif_gps_image_direction_is_a_heading_only_when_true_north(tmp_path):
    from seg_core.imagery.camera import GPS_IFD, GPS_IMG_DIRECTION, GPS_IMG_DIRECTION_REF

    for ref, expected in (("T", 45.0), ("M", None)):
        exif = Image.Exif()
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (29.0, 45.0, 0.0), 3: "W", 4: (95.0, 22.0, 0.0)})
        exif.get_ifd(GPS_IFD).update({GPS_IMG_DIRECTION_REF: ref, GPS_IMG_DIRECTION: 45.0})
        path = tmp_path / f"{ref}.jpg"
        Image.new("RGB", (40, 30)).save(path, exif=exif)  # no XMP: the EXIF direction alone
        assert read_photo_geo(path).heading_deg == expected


def _georeferenced_records():
    mask, _ = known_houses(RESCUENET, level_id(RESCUENET, "Major"))
    georef = photo_georef(29.76, -95.37, GSD_M * 100, 30.0, mask.shape[1], mask.shape[0])
    return assess_mask(mask, RESCUENET, "scene.png", MODEL, GSD_M, None, georef)


def test_building_files_hold_the_records_with_fema_field_names(tmp_path):
    records = _georeferenced_records()
    paths = write_building_files(records, tmp_path)
    assert {p.name for p in paths} >= {
        "buildings.gpkg",
        "buildings_shp.zip",
        "buildings_gdb.zip",
        "buildings.geojson",
        "buildings.csv",
    }
    meta, _, geometry, columns = pyogrio.raw.read(tmp_path / "buildings.gpkg", layer=LAYER)
    values = dict(zip(meta["fields"], columns, strict=True))
    assert len(geometry) == len(records) and set(values["assessment_type"]) == {"Remote Sensing"}
    assert list(values["damage_level"]) == ["Major"] * len(records)
    with zipfile.ZipFile(tmp_path / "buildings_shp.zip") as bundle:
        bundle.extractall(tmp_path / "shp")
    shp_fields = list(pyogrio.read_info(tmp_path / "shp" / "buildings.shp")["fields"])
    assert SHAPEFILE_NAMES["damage_level"] in shp_fields and all(len(f) <= 10 for f in shp_fields)
    with zipfile.ZipFile(tmp_path / "buildings_gdb.zip") as bundle:
        bundle.extractall(tmp_path / "gdb")
    assert pyogrio.read_info(tmp_path / "gdb" / "buildings.gdb", layer=LAYER)["features"] == len(records)


def test_the_layers_polygon_areas_agree_with_the_raster(tmp_path):
    from pyproj import Geod

    records = _georeferenced_records()
    write_building_files(records, tmp_path)
    meta, _, geometry, columns = pyogrio.raw.read(tmp_path / "buildings.gpkg", layer=LAYER)
    areas = dict(zip(meta["fields"], columns, strict=True))["area_m2"]
    geod = Geod(ellps="WGS84")
    for wkb, raster_area in zip(geometry, areas, strict=True):
        polygon_area = abs(geod.geometry_area_perimeter(shapely.from_wkb(wkb))[0])
        assert polygon_area == pytest.approx(raster_area, rel=0.02)


def test_photos_without_georeference_get_pixel_csv_and_json_only(tmp_path):
    mask, houses = known_houses(RESCUENET)
    records = assess_mask(mask, RESCUENET, "plain.png", MODEL, GSD_M)
    names = {p.name for p in write_building_files(records, tmp_path)}
    assert names == {"buildings.csv", "buildings_pixels.json"}
    lines = (tmp_path / "buildings.csv").read_text().splitlines()
    assert len(lines) == houses + 1 and "footprint_wkt_px" in lines[0]


@pytest.mark.parametrize("shape", [(1, 1), (2, 3)])
def test_a_tiny_photo_has_no_buildings_and_says_so_in_a_sentence(shape):
    mask = np.full(shape, level_id(RESCUENET, "Minor"), np.uint8)
    assessment = assess_segmented_photo("tiny.png", mask, RESCUENET, MODEL, None)
    assert assessment.records == []
    height, width = shape
    assert (
        f"tiny.png: {width}x{height} px is too small to show a building (at least 16 px)"
        in assessment.notices
    )


def test_one_giant_building_filling_the_photo_is_one_record_at_the_edge():
    mask = np.full((400, 500), level_id(RESCUENET, "Destroyed"), np.uint8)
    (record,) = assess_mask(mask, RESCUENET, "giant.png", MODEL, GSD_M)
    assert record.at_edge and record.grade.damage_level == "Destroyed"
    assert record.area_m2 == pytest.approx(400 * 500 * GSD_M**2)
    assert math.isclose(record.polygon_px.area, 400 * 500)
