"""Overlays, statistics and exports on small hand-built masks whose answers are known."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seg_core.analytics import report, statistics
from seg_core.schemes.classes import CLASS_NAMES, NUM_CLASSES, OBJECT_CLASS_IDS, PALETTE
from seg_core.schemes.scheme import HARVEY

ROOF, GRASS, ROAD, FLOODED, POOL = 1, 5, 14, 23, 3


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def random_mask(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, NUM_CLASSES, (height, width), dtype=np.uint8)


# --- overlay ---------------------------------------------------------------------------------------------


def test_overlay_opacity_one_is_the_palette_and_background_stays_the_photo():
    image, mask = photo(40, 30), random_mask(40, 30)
    out = report.overlay(image, mask, opacity=1.0, scheme=HARVEY)
    classed = mask != 0
    assert np.array_equal(out[classed], PALETTE[mask][classed])
    assert np.array_equal(out[~classed], image[~classed])


def test_overlay_opacity_zero_and_hidden_classes_are_the_photo():
    image, mask = photo(40, 30), random_mask(40, 30)
    assert np.array_equal(report.overlay(image, mask, opacity=0.0, scheme=HARVEY), image)
    out = report.overlay(image, mask, opacity=1.0, classes=[ROOF, FLOODED], scheme=HARVEY)
    shown = np.isin(mask, [ROOF, FLOODED])
    assert np.array_equal(out[shown], PALETTE[mask][shown])
    assert np.array_equal(out[~shown], image[~shown])


def test_overlay_blends_half_way_at_opacity_half():
    image, mask = photo(20, 20), np.full((20, 20), GRASS, dtype=np.uint8)
    out = report.overlay(image, mask, opacity=0.5, scheme=HARVEY).astype(int)
    expected = (image.astype(int) + PALETTE[GRASS].astype(int)) / 2
    assert np.abs(out - expected).max() <= 1


def test_overlay_boundaries_drawn_at_class_borders_only():
    image = photo(10, 12)
    mask = np.zeros((10, 12), dtype=np.uint8)
    mask[:, 4:8] = ROOF
    mask[:, 8:] = GRASS
    out = report.overlay(image, mask, opacity=0.0, boundaries=True, scheme=HARVEY)
    # Roof|grass border: one column on each side, each in its own class colour.
    assert np.all(out[:, 7] == PALETTE[ROOF]) and np.all(out[:, 8] == PALETTE[GRASS])
    # Background|roof border: only the roof side is drawn (background is never coloured).
    assert np.all(out[:, 4] == PALETTE[ROOF])
    assert np.array_equal(out[:, 3], image[:, 3])
    # Interiors (and the image edge) stay the photo at opacity 0.
    for col in (0, 1, 2, 5, 6, 9, 10, 11):
        assert np.array_equal(out[:, col], image[:, col])


def test_overlay_rejects_bad_input():
    image, mask = photo(8, 8), random_mask(8, 8)
    with pytest.raises(ValueError, match="mask is"):
        report.overlay(image, mask[:, :7], scheme=HARVEY)
    for opacity in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="opacity"):
            report.overlay(image, mask, opacity=opacity, scheme=HARVEY)
    with pytest.raises(ValueError, match="0..24"):
        report.overlay(image, np.full((8, 8), 30, dtype=np.uint8), scheme=HARVEY)
    with pytest.raises(ValueError, match="99"):
        report.overlay(image, mask, classes=[1, 99], scheme=HARVEY)
    with pytest.raises(ValueError, match="HxWx3"):
        report.overlay(image[..., 0], mask, scheme=HARVEY)


# --- shares, areas, objects ----------------------------------------------------------------------


def test_class_shares_and_areas_with_gsd():
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[:3, :] = ROOF  # 30 px
    mask[3:5, :5] = FLOODED  # 10 px
    shares = statistics.class_shares(mask, HARVEY)
    assert shares.shape == (NUM_CLASSES,) and shares.sum() == pytest.approx(1.0)
    assert shares[ROOF] == pytest.approx(0.3) and shares[FLOODED] == pytest.approx(0.1)

    stats = statistics.image_stats(mask, HARVEY, "a.jpg", gsd_cm=10.0)  # 10 cm/px -> 0.01 m^2 per pixel
    assert (stats.width, stats.height) == (10, 10)
    assert stats.area_m2["Property Roof"] == pytest.approx(0.30)
    assert stats.area_m2["Flooded"] == pytest.approx(0.10)
    assert stats.area_m2["Background"] == pytest.approx(0.60)
    assert set(stats.pixel_share) == set(CLASS_NAMES)
    assert statistics.image_stats(mask, HARVEY).area_m2 is None


def test_object_counts_ignore_specks_below_min_size_and_use_8_connectivity():
    mask = np.zeros((60, 60), dtype=np.uint8)
    mask[5:15, 5:15] = ROOF  # 100 px
    mask[30:40, 30:40] = ROOF  # 100 px
    mask[50:52, 50:52] = ROOF  # 4 px speck
    # Two pools touching only at a corner are one 8-connected object.
    mask[5:10, 40:45] = POOL
    mask[10:15, 45:50] = POOL
    stats = statistics.image_stats(mask, HARVEY, min_object_px=20)
    assert stats.object_counts["Property Roof"] == 2
    assert stats.object_counts["Swimming Pool"] == 1
    assert stats.object_counts["Vehicle"] == 0
    assert set(stats.object_counts) == {CLASS_NAMES[c] for c in OBJECT_CLASS_IDS}
    assert statistics.image_stats(mask, HARVEY, min_object_px=1).object_counts["Property Roof"] == 3


def test_default_min_object_size_follows_the_ground_footprint():
    # 0.1 m^2 at the assumed 3 cm/px of a 4000 px wide frame, or at the given gsd; floor of 20 px.
    assert statistics.image_stats(np.zeros((3, 4000), dtype=np.uint8), HARVEY).min_object_px == 111
    assert statistics.image_stats(np.zeros((3, 40), dtype=np.uint8), HARVEY, gsd_cm=3.0).min_object_px == 111
    assert statistics.image_stats(np.zeros((3, 40), dtype=np.uint8), HARVEY).min_object_px == 20


def test_image_stats_rejects_bad_arguments():
    mask = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="gsd_cm"):
        statistics.image_stats(mask, HARVEY, gsd_cm=0)
    with pytest.raises(ValueError, match="min_object_px"):
        statistics.image_stats(mask, HARVEY, min_object_px=0)
    with pytest.raises(ValueError, match="flood_distance_m"):
        statistics.image_stats(mask, HARVEY, flood_distance_m=-1)
    with pytest.raises(ValueError, match="empty"):
        statistics.image_stats(np.zeros((0, 4), dtype=np.uint8), HARVEY)


# --- flood exposure ------------------------------------------------------------------------------------


def test_roof_next_to_flood_is_exposed_and_far_roof_is_not():
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask[:, :20] = FLOODED
    mask[40:60, 23:33] = ROOF  # 3 px from the water
    mask[40:60, 70:80] = ROOF  # 50 px away
    stats = statistics.image_stats(mask, HARVEY, gsd_cm=10.0, flood_distance_m=0.5, min_object_px=20)  # 5 px
    flood = stats.flood
    assert flood.distance_px == 5
    assert (flood.roofs_exposed, flood.roofs_total) == (1, 2)
    assert flood.flooded_share == pytest.approx(0.2)
    # Closer than the gap: only roofs that touch count, and this one does not.
    assert (
        statistics.image_stats(
            mask, HARVEY, gsd_cm=10.0, flood_distance_m=0.2, min_object_px=20
        ).flood.roofs_exposed
        == 0
    )


def test_diagonally_touching_roof_counts_as_exposed_at_the_smallest_distance():
    mask = np.zeros((30, 30), dtype=np.uint8)
    mask[:10, :10] = FLOODED
    mask[10:20, 10:20] = ROOF  # meets the flood only at a corner
    flood = statistics.image_stats(mask, HARVEY, flood_distance_m=0.0, min_object_px=20).flood
    assert flood.distance_px == 1 and flood.roofs_exposed == 1


def test_road_flooded_share_counts_water_within_the_road_corridor():
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask[:10] = ROAD  # 1000 px of visible road
    mask[10:30] = FLOODED  # water along it; rows 10..14 are within 5 px of the road
    flood = statistics.image_stats(mask, HARVEY, gsd_cm=10.0, flood_distance_m=0.5).flood
    assert flood.road_flooded_share == pytest.approx(500 / (1000 + 500))
    dry = mask.copy()
    dry[dry == FLOODED] = GRASS
    assert statistics.image_stats(dry, HARVEY).flood.road_flooded_share == 0.0
    no_road = mask.copy()
    no_road[no_road == ROAD] = GRASS
    assert statistics.image_stats(no_road, HARVEY).flood.road_flooded_share is None


# --- tables and summaries ---------------------------------------------------------------------------


def two_stats(gsd_second: float | None = 10.0) -> list[statistics.ImageStats]:
    a = np.zeros((10, 10), dtype=np.uint8)
    a[:5] = FLOODED  # 50 of 100 px
    a[6:9, 1:4] = ROOF
    b = np.zeros((20, 15), dtype=np.uint8)  # 300 px
    b[:3, :10] = FLOODED  # 30 px
    b[10:15, 2:6] = ROOF
    b[10:15, 9:13] = ROOF
    # 0.3 m = 3 px at 10 cm/px: a's roof (2 px from the water) is exposed, b's two (8 px) are not.
    return [
        statistics.image_stats(a, HARVEY, "a.jpg", gsd_cm=10.0, min_object_px=5, flood_distance_m=0.3),
        statistics.image_stats(b, HARVEY, "b.jpg", gsd_cm=gsd_second, min_object_px=5, flood_distance_m=0.3),
    ]


def test_batch_summary_totals():
    summary = statistics.batch_summary(two_stats())
    assert summary["images"] == 2 and summary["pixels"] == 400
    assert summary["pixel_share"]["Flooded"] == pytest.approx(80 / 400)
    assert summary["flooded_share"] == pytest.approx(80 / 400)
    assert summary["mean_flooded_share"] == pytest.approx((0.5 + 0.1) / 2)
    assert summary["object_counts"]["Property Roof"] == 3
    assert summary["roofs_total"] == 3 and summary["roofs_exposed"] == 1
    assert summary["roofs_exposed_share"] == pytest.approx(1 / 3)
    assert summary["area_m2"]["Flooded"] == pytest.approx(0.8)
    assert statistics.batch_summary(two_stats(gsd_second=None))["area_m2"] is None
    empty = statistics.batch_summary([], HARVEY)
    assert (
        empty["images"] == 0 and empty["mean_flooded_share"] is None and empty["roofs_exposed_share"] is None
    )


def test_stats_rows_and_csv():
    stats = two_stats()
    rows = statistics.stats_rows(stats)
    assert len(rows) == 2
    assert list(rows[0])[:7] == [
        "image",
        "width",
        "height",
        "flooded_share",
        "roofs_total",
        "roofs_exposed",
        "road_flooded_share",
    ]
    assert rows[1]["count_property_roof"] == 2 and rows[0]["area_m2_flooded"] == pytest.approx(0.5)
    parsed = list(csv.DictReader(io.StringIO(report.stats_csv(stats))))
    assert len(parsed) == 2 and parsed[1]["image"] == "b.jpg" and float(parsed[0]["share_flooded"]) == 0.5
    assert parsed[0]["road_flooded_share"] == ""  # None: no road in the image
    # Without any gsd there are no area columns; an empty batch still has a header.
    assert not any(k.startswith("area_m2_") for k in statistics.stats_rows(two_stats(None)[1:])[0])
    assert report.stats_csv([], scheme=HARVEY).splitlines()[0].startswith("image,width,height,")


def test_class_slugs_are_unique_column_names():
    slugs = [statistics.class_slug(n) for n in CLASS_NAMES]
    assert len(set(slugs)) == NUM_CLASSES and "trees_shrubs" in slugs and "power_lines_cables" in slugs


def test_csv_neutralises_spreadsheet_formulas_in_names():
    stats = statistics.image_stats(np.zeros((4, 4), dtype=np.uint8), HARVEY, name="=HYPERLINK(evil)")
    assert list(csv.DictReader(io.StringIO(report.stats_csv([stats]))))[0]["image"] == "'=HYPERLINK(evil)"


def test_stats_json_holds_images_and_summary():
    stats = two_stats()
    data = json.loads(report.stats_json(stats))
    assert [d["name"] for d in data["images"]] == ["a.jpg", "b.jpg"]
    assert data["images"][0]["flood"]["roofs_exposed"] == 1
    assert data["summary"]["roofs_total"] == 3


# --- exports -------------------------------------------------------------------------------------------


def test_mask_png_round_trips_ids_and_carries_the_palette():
    mask = random_mask(33, 47)
    png = Image.open(io.BytesIO(report.mask_png_bytes(mask, scheme=HARVEY)))
    assert png.mode == "P"
    assert np.array_equal(np.asarray(png), mask)
    palette = np.array(png.getpalette()[: 3 * NUM_CLASSES], dtype=np.uint8).reshape(-1, 3)
    assert np.array_equal(palette, PALETTE)
    assert np.array_equal(np.asarray(png.convert("RGB")), PALETTE[mask])


def test_image_bytes_png_is_lossless_and_jpeg_decodes():
    image = photo(16, 24)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(report.image_bytes(image)))), image)
    jpeg = Image.open(io.BytesIO(report.image_bytes(image, "jpg", quality=80)))
    assert jpeg.format == "JPEG" and jpeg.size == (24, 16)
    with pytest.raises(ValueError, match="GIF"):
        report.image_bytes(image, "GIF")
    with pytest.raises(ValueError, match="quality"):
        report.image_bytes(image, "JPEG", quality=0)


def test_safe_stem():
    assert report.safe_stem("../../evil.png") == "evil"
    assert report.safe_stem("C:\\photos\\DJI 01.JPG") == "DJI_01"
    assert report.safe_stem("..") == "image" and report.safe_stem("") == "image"
    assert report.safe_stem(".hidden") == "hidden"


def test_batch_zip_contents_and_safe_unique_names(tmp_path):
    names = ["../../evil.png", "a.jpg", "A.png", "C:\\x\\b c.tif"]
    items = [(n, photo(12, 16, seed=i), random_mask(12, 16, seed=i)) for i, n in enumerate(names)]
    stats = [statistics.image_stats(m, HARVEY, n) for n, _, m in items]
    archive = zipfile.ZipFile(io.BytesIO(report.batch_zip(items, stats, opacity=0.4, scheme=HARVEY)))
    stems = ["evil", "a", "A_2", "b_c"]
    expected = {f"masks/{s}_mask.png" for s in stems} | {f"overlays/{s}_overlay.jpg" for s in stems}
    assert set(archive.namelist()) == expected | {"stats.csv", "stats.json", "legend.csv"}
    archive.extractall(tmp_path / "x")
    assert all(p.resolve().is_relative_to((tmp_path / "x").resolve()) for p in (tmp_path / "x").rglob("*"))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(archive.read("masks/A_2_mask.png")))), items[2][2])
    legend = list(csv.DictReader(io.StringIO(archive.read("legend.csv").decode())))
    assert len(legend) == NUM_CLASSES and legend[23] == {"id": "23", "name": "Flooded", "color": "#9600ff"}
    assert len(json.loads(archive.read("stats.json"))["images"]) == 4
    with pytest.raises(ValueError, match="pair up"):
        report.batch_zip(items, stats[:2], scheme=HARVEY)


def test_write_outputs_writes_the_three_cli_files(tmp_path):
    image, mask = photo(12, 16), random_mask(12, 16)
    stats = statistics.image_stats(mask, HARVEY, "sub/DJI_0001.JPG")
    paths = report.write_outputs(tmp_path / "out", "sub/DJI_0001.JPG", image, mask, stats, scheme=HARVEY)
    assert [p.name for p in paths] == ["DJI_0001_mask.png", "DJI_0001_overlay.jpg", "DJI_0001_stats.json"]
    assert all(p.parent == tmp_path / "out" and p.is_file() for p in paths)
    assert np.array_equal(np.asarray(Image.open(paths[0])), mask)
    assert Image.open(paths[1]).size == (16, 12)
    assert json.loads(Path(paths[2]).read_text())["name"] == "sub/DJI_0001.JPG"
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


def test_to_dict_is_json_serialisable():
    stats = statistics.image_stats(random_mask(20, 20), HARVEY, gsd_cm=5.0)
    assert json.loads(json.dumps(stats.to_dict()))["flood"]["distance_px"] == 40


# --- 12 megapixels -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_full_size_harvey_frame_smoke():
    height, width = 3000, 4000
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[:, :1500] = FLOODED
    mask[1400:1600, :] = ROAD
    for x in range(1600, 4000, 300):  # a street of houses, the first one at the water
        mask[200:400, x - 100 : x + 100] = ROOF
    image = np.full((height, width, 3), 120, dtype=np.uint8)
    stats = statistics.image_stats(mask, HARVEY, "frame.jpg")  # its speed is measured in bench/, not here
    out = report.overlay(image, mask, 0.5, boundaries=True, scheme=HARVEY)
    assert out.shape == (height, width, 3) and out.dtype == np.uint8
    assert (stats.width, stats.height) == (width, height)
    assert stats.flood.roofs_total == 8 and stats.flood.roofs_exposed == 1


def test_a_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
    import errno
    import os

    def disk_full(fd):  # the bytes were written, then the disk refuses to commit them
        raise OSError(errno.ENOSPC, "No space left on device")

    mask = np.zeros((8, 8), np.uint8)
    image = np.zeros((8, 8, 3), np.uint8)
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        report.write_outputs(
            tmp_path,
            "frame.png",
            image,
            mask,
            statistics.image_stats(mask, HARVEY, "frame.png"),
            scheme=HARVEY,
        )
    assert list(tmp_path.iterdir()) == []  # predict's files go through core.atomic: no half file
