"""Segment-page analysis: sizes kept, downloads that decode, bad files named, the batch cache."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from helpers import write_tiny_checkpoint
from PIL import Image

from seg_core.imagery.imageio import ImageReadError, load_rgb
from seg_core.inference.predictor import Prediction, Predictor
from seg_core.schemes.classes import CLASS_NAMES, PALETTE, class_id, legend_entries
from seg_core.schemes.scheme import HARVEY
from seg_core.services import analysis, catalog
from seg_core.services.analysis import PhotoAnalysis, PhotoFailure, PhotoInput
from seg_core.views import downloads, figures

GRASS, ROOF, ROAD, VEHICLE, FLOODED, BOAT = (
    class_id(n) for n in ("Grass", "Property Roof", "Road/Highway", "Vehicle", "Flooded", "Boat")
)


def designed_mask(width: int, height: int) -> np.ndarray:
    """Flood on the left quarter with a boat, one roof by the water, one far away, a road with a car."""
    mask = np.full((height, width), GRASS, dtype=np.uint8)
    x, y = (lambda f: round(f * width)), (lambda f: round(f * height))
    mask[:, : x(0.25)] = FLOODED
    mask[y(0.5) : y(0.53), x(0.05) : x(0.1)] = BOAT
    mask[y(0.17) : y(0.27), x(0.2575) : x(0.3325)] = ROOF  # 3 px from the water at 400 px wide
    mask[y(0.17) : y(0.27), x(0.75) : x(0.825)] = ROOF
    mask[y(0.67) : y(0.73), x(0.5) :] = ROAD
    mask[y(0.68) : y(0.72), x(0.62) : x(0.66)] = VEHICLE
    return mask


class DesignedPredictor:
    """Stands in for a Predictor: decodes like the real one (same errors), answers designed_mask."""

    scheme = HARVEY

    def __init__(self):
        self.calls = 0

    def predict_full(self, source, tta=False, confidence=False, name=None, progress=None):
        self.calls += 1
        loaded = load_rgb(source, long_side=64, name=name)
        mask = designed_mask(*loaded.original_size)
        if progress:
            progress(1, 1)
        return Prediction(mask, mask[::8, ::8], None, loaded.notices, {"decode": 0.0, "forward": 0.0})


def encoded(width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A smooth gradient photo (compresses to a few kB even at 2000x1500)."""
    xs, ys = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
    photo = np.stack([xs, ys, (xs + ys) / 2], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def big() -> PhotoAnalysis:
    return analysis.analyse_photo(DesignedPredictor(), encoded(2000, 1500), "big.jpg")


def test_analysis_keeps_the_full_size_mask_and_a_bounded_display_photo(big):
    assert big.photo.shape == (1200, 1600, 3) and big.photo.dtype == np.uint8
    assert big.display_mask.shape == (1200, 1600) and big.display_mask.dtype == np.uint8
    assert big.original_size == (2000, 1500)
    full = big.full_mask()
    assert np.array_equal(full, designed_mask(2000, 1500))
    assert (big.stats.width, big.stats.height) == (2000, 1500)  # statistics from the full mask
    assert big.legend == legend_entries(full)  # the same rows, from the statistics
    assert set(big.seconds) >= {"forward", "display", "statistics", "total"}


def test_a_small_photo_is_not_upscaled_for_display():
    small = analysis.analyse_photo(DesignedPredictor(), encoded(300, 200, "PNG"), "small.png")
    assert small.photo.shape == (200, 300, 3)
    assert small.display_mask.shape == (200, 300)
    assert np.array_equal(small.display_mask, small.full_mask())


def test_rotated_jpeg_and_tiff_give_a_photo_and_mask_that_line_up():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buf = io.BytesIO()
    Image.open(io.BytesIO(encoded(300, 200))).save(buf, format="JPEG", exif=exif)
    rotated = analysis.analyse_photo(DesignedPredictor(), buf.getvalue(), "rotated.jpg")
    assert rotated.original_size == (200, 300) and rotated.photo.shape == (300, 200, 3)
    assert rotated.full_mask().shape == (300, 200)
    tiff = analysis.analyse_photo(DesignedPredictor(), encoded(2000, 1000, "TIFF"), "wide.tif")
    assert tiff.photo.shape == (800, 1600, 3) and tiff.full_mask().shape == (1000, 2000)
    nearest = Image.fromarray(designed_mask(2000, 1000)).resize((1600, 800), Image.Resampling.NEAREST)
    assert np.array_equal(tiff.display_mask, np.asarray(nearest))


def test_downloads_decode_at_full_resolution(big):
    files = downloads.downloads(big, opacity=0.5)
    assert set(files) == {"big_mask.png", "big_overlay.jpg", "big_stats.csv", "big_stats.json"}
    with Image.open(io.BytesIO(files["big_mask.png"])) as png:
        assert png.mode == "P"  # opens coloured anywhere
        assert np.array_equal(np.asarray(png), designed_mask(2000, 1500))  # ids round-trip exactly
    with Image.open(io.BytesIO(files["big_overlay.jpg"])) as jpeg:
        assert jpeg.format == "JPEG" and jpeg.size == (2000, 1500)
    header, row = files["big_stats.csv"].decode().splitlines()
    assert "flooded_share" in header.split(",") and row.startswith("big.jpg,2000,1500,")
    assert json.loads(files["big_stats.json"])["images"][0]["name"] == "big.jpg"


def test_overlay_follows_opacity_and_class_choice(big):
    assert np.array_equal(analysis.render_overlay(big, opacity=0.0), big.photo)
    flood_only = analysis.render_overlay(big, opacity=1.0, classes=[FLOODED])
    flooded = big.display_mask == FLOODED
    assert (flood_only[flooded] == PALETTE[FLOODED]).all()
    assert np.array_equal(flood_only[~flooded], big.photo[~flooded])
    assert analysis.class_ids(["Flooded", "Boat"], HARVEY) == [FLOODED, BOAT]


def test_a_bad_file_raises_an_error_naming_it():
    with pytest.raises(ImageReadError, match="broken.jpg"):
        analysis.analyse_photo(DesignedPredictor(), b"<html>not a photo</html>", "broken.jpg")
    truncated = encoded(300, 200)[:400]
    with pytest.raises(ImageReadError, match="cut.jpg"):
        analysis.analyse_photo(DesignedPredictor(), truncated, "cut.jpg")


def test_a_bad_gsd_is_refused_before_the_model_runs(big):
    predictor = DesignedPredictor()
    with pytest.raises(ValueError, match="-3"):
        analysis.analyse_photo(predictor, encoded(100, 80), "a.jpg", gsd_cm=-3.0)
    assert predictor.calls == 0
    with pytest.raises(ValueError, match="nan"):
        analysis.with_gsd(big, float("nan"))


def test_run_batch_skips_bad_files_and_reuses_results():
    predictor, loads = DesignedPredictor(), []
    photos = [
        PhotoInput("a.png", encoded(400, 300, "PNG")),
        PhotoInput("bad.jpg", b"GIF89a rubbish"),
        PhotoInput("b.jpg", encoded(400, 300)),
    ]
    cache: dict = {}

    def run(batch, **kw):
        return analysis.run_batch(batch, cache, lambda: loads.append(1) or predictor, "model:1", **kw)

    first = run(photos)
    assert [type(r) for r in first] == [PhotoAnalysis, PhotoFailure, PhotoAnalysis]
    assert first[1].name == "bad.jpg" and "bad.jpg" in first[1].message
    assert predictor.calls == 2 and len(loads) == 1  # the unreadable file never reached the model

    again = run(photos)  # a slider moved: nothing is recomputed, not even the predictor loaded
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert predictor.calls == 2 and len(loads) == 1

    with_area = run(photos, gsd_cm=10.0)  # only statistics change
    assert predictor.calls == 2
    flooded_px = int((designed_mask(400, 300) == FLOODED).sum())
    assert with_area[0].stats.area_m2["Flooded"] == pytest.approx(flooded_px * 0.01)
    assert with_area[0].mask_png == first[0].mask_png

    assert len(run(photos[:1], gsd_cm=10.0)) == 1 and len(cache) == 1  # the rest is forgotten
    run(photos[:1], gsd_cm=10.0, tta=True)  # TTA changes the mask: the model runs again
    assert predictor.calls == 3 and len(cache) == 1


def test_run_batch_reports_progress_only_while_working():
    events: list[tuple[float, str]] = []
    photos = [PhotoInput("a.png", encoded(120, 90, "PNG")), PhotoInput("b.png", encoded(90, 120, "PNG"))]
    cache: dict = {}
    analysis.run_batch(photos, cache, DesignedPredictor, "m", progress=lambda f, t: events.append((f, t)))
    texts = [t for _, t in events]
    assert "photo 1 of 2: a.png" in texts and "photo 2 of 2: b.png" in texts
    fractions = [f for f, _ in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    events.clear()
    analysis.run_batch(photos, cache, DesignedPredictor, "m", progress=lambda f, t: events.append((f, t)))
    assert events == []


def test_batch_zip_holds_full_resolution_masks_and_overlays(big):
    small = analysis.analyse_photo(DesignedPredictor(), encoded(300, 200, "PNG"), "small.png")
    archive = zipfile.ZipFile(io.BytesIO(downloads.batch_downloads([big, small])))
    names = set(archive.namelist())
    assert {
        "masks/big_mask.png",
        "masks/small_mask.png",
        "overlays/big_overlay.jpg",
        "stats.csv",
        "stats.json",
        "legend.csv",
    } <= names
    with Image.open(io.BytesIO(archive.read("masks/small_mask.png"))) as png:
        assert np.array_equal(np.asarray(png), small.full_mask())
    with Image.open(io.BytesIO(archive.read("overlays/big_overlay.jpg"))) as jpeg:
        assert jpeg.size == (2000, 1500)
    assert len(archive.read("stats.csv").decode().splitlines()) == 3
    with pytest.raises(ValueError, match="no segmented photos"):
        downloads.batch_downloads([])


def test_key_figures_class_table_and_batch_table():
    result = analysis.analyse_photo(DesignedPredictor(), encoded(400, 300, "PNG"), "d.png", gsd_cm=10.0)
    mask = designed_mask(400, 300)
    shown = {f.label: f for f in figures.key_figures(result.stats, result.scheme)}
    assert shown["Flooded"].value == f"{(mask == FLOODED).mean():.1%}"
    assert shown["Flooded"].detail == f"{(mask == FLOODED).sum() * 0.01:,.0f} m²"
    assert shown["Roofs exposed"].value == "1 of 2"
    assert shown["Roads flooded"].value == "0.0%"
    assert (shown["Vehicles"].value, shown["Boats"].value, shown["Pools"].value) == ("1", "1", "0")

    table = {row["class"]: row for row in figures.class_table(result.stats, result.scheme)}
    assert set(table) == {CLASS_NAMES[c] for c in np.unique(mask)}
    assert table["Property Roof"]["objects"] == 2 and table["Grass"]["objects"] is None
    assert table["Road/Highway"]["area_m2"] == pytest.approx((mask == ROAD).sum() * 0.01)

    rows = figures.batch_table([result, result])
    assert rows[0]["photo"] == "d.png" and rows[0]["roofs exposed"] == "1 of 2" and rows[0]["boats"] == 1
    totals = {f.label: f.value for f in figures.batch_figures([result, result])}
    assert totals["Photos"] == "2" and totals["Roofs exposed"] == "2 of 4"


def test_describe_model():
    line = figures.describe_model(
        {
            "arch": "unet",
            "encoder": "none",
            "resolution": 640,
            "epoch": 40,
            "metrics": {"val_dice": 0.5123},
            "data": "/x/y/demo",
        }
    )
    assert (
        line
        == "classic U-Net · photos processed at 640 px (long side) · trained on demo · 40 epochs · val Dice 0.512"
    )
    assert "cannot be read: bad.pt: damaged" in figures.describe_model({"error": "bad.pt: damaged"})


def test_sample_photos_are_shipped_and_small():
    samples = catalog.sample_photos()
    assert [p.name for p in samples] == ["dry_suburb.jpg", "flooded_bayou.jpg", "flooded_street.jpg"]
    for path in samples:
        assert path.stat().st_size < 1_000_000
        with Image.open(path) as photo:
            assert photo.size == (1600, 1200) and photo.format == "JPEG"


def test_a_real_model_segments_a_sample_photo(tmp_path):
    predictor = Predictor.from_checkpoint(write_tiny_checkpoint(tmp_path / "best.pt"))
    sample = catalog.sample_photos()[0]
    result = analysis.analyse_photo(predictor, sample, sample.name)
    assert result.full_mask().shape == (1200, 1600) and result.photo.shape == (1200, 1600, 3)
    assert result.source == sample
    with pytest.raises(ImageReadError, match="empty.png"):
        analysis.analyse_photo(predictor, b"", "empty.png")
