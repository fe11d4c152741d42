"""Reading orthomosaics, drone photo metadata and GSDs (seg_core.imagery.raster / camera / gsd), and the
16-bit single-band GeoTIFF that used to be called damaged."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from geo_helpers import WGS84, write_geotiff
from PIL import Image
from rasterio.transform import Affine
from rasterio.windows import Window

from seg_core.imagery.camera import photo_gsd, read_photo_geo, tag_photo
from seg_core.imagery.gsd import Gsd, model_gsd
from seg_core.imagery.imageio import load_rgb
from seg_core.imagery.raster import (
    MosaicError,
    MosaicLimits,
    inspect_mosaic,
    looks_georeferenced,
    read_window,
)


def test_sixteen_bit_single_band_utm_geotiff_is_read_not_called_damaged(tmp_path):
    # GDAL writes a one-band raster with INTERLEAVE=BAND as planar configuration 2, for which
    # Pillow has no 16-bit decoder; it used to be reported as "the file is damaged".
    values = np.random.default_rng(0).integers(0, 65535, (900, 900)).astype("uint16")
    path = tmp_path / "dem16.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=900,
        height=900,
        count=1,
        dtype="uint16",
        crs="EPSG:32615",
        transform=Affine(0.03, 0, 500000, 0, -0.03, 3300000),
        interleave="band",
    ) as dataset:
        dataset.write(values, 1)
    loaded = load_rgb(path)
    assert loaded.original_size == (900, 900)
    expected = np.clip(values / 65535 * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(loaded.pixels[..., 0], expected)
    assert load_rgb(path.read_bytes(), long_side=300).pixels.shape == (300, 300, 3)


def test_a_truncated_tiff_is_still_called_damaged(tmp_path):
    path = write_geotiff(
        tmp_path / "m.tif", interleave="band", bands=1, dtype="uint16", tiled=False, compress=None
    )
    cut = tmp_path / "cut.tif"
    cut.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ValueError, match="cut.tif: the file is damaged"):
        load_rgb(cut)


@pytest.mark.parametrize(
    ("crs", "pixel", "origin", "expected_cm"),
    [("EPSG:32615", 0.05, (270000.0, 3290000.0), 5.0), (WGS84, 1e-6, (-95.37, 29.76), 10.2)],
)
def test_raster_gsd_in_projected_and_geographic_crs(tmp_path, crs, pixel, origin, expected_cm):
    info = inspect_mosaic(write_geotiff(tmp_path / "m.tif", crs=crs, pixel=pixel, origin=origin))
    assert info.gsd.source == "raster"
    assert info.gsd.cm_per_px == pytest.approx(expected_cm, rel=0.02)
    assert (info.width, info.height) == (300, 200)


def test_sixteen_bit_rgb_is_stretched_and_nodata_becomes_invalid(tmp_path):
    path = write_geotiff(tmp_path / "m16.tif", dtype="uint16", nodata=0)
    with rasterio.open(path, "r+") as dataset:
        dataset.write(np.zeros((3, 50, 50), np.uint16), window=Window(0, 0, 50, 50))
    info = inspect_mosaic(path)
    assert info.dtype == "uint16" and info.stretch is not None and info.stretch[1] <= 4000
    with rasterio.open(path) as dataset:
        rgb, valid = read_window(dataset, info, Window(0, 0, 100, 100), (100, 100))
    assert rgb.dtype == np.uint8 and rgb[valid].max() > 200  # stretched to the full 8-bit range
    assert not valid[:50, :50].any() and valid[60:, 60:].all()
    assert (rgb[:50, :50] == 0).all()


def test_alpha_band_marks_pixels_outside_the_flight(tmp_path):
    path = write_geotiff(tmp_path / "rgba.tif", bands=4, alpha=True)
    info = inspect_mosaic(path)
    assert info.notices == ()
    with rasterio.open(path) as dataset:
        _, valid = read_window(dataset, info, Window(0, 0, 300, 200), (100, 150))
    assert not valid[:, :30].any() and valid[:, 40:].all()


def test_fourth_band_without_alpha_is_ignored_with_a_notice(tmp_path):
    info = inspect_mosaic(write_geotiff(tmp_path / "rgbn.tif", bands=4))
    assert "band 4 is not marked as alpha" in info.notices[0]


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [
        ({"crs": None}, "has no coordinate reference system"),
        ({"bands": 1}, "has 1 band(s)"),
        ({"bands": 5}, "has 5 band(s)"),
        ({"dtype": "int16"}, "8-bit or 16-bit unsigned"),
        ({"dtype": "float32"}, "8-bit or 16-bit unsigned"),
    ],
)
def test_hostile_rasters_are_refused_with_a_sentence(tmp_path, kwargs, sentence):
    path = write_geotiff(tmp_path / "bad.tif", **kwargs)
    with pytest.raises(MosaicError, match="bad.tif: ") as caught:
        inspect_mosaic(path)
    assert sentence in str(caught.value)


def test_rotated_transform_and_huge_claimed_size_are_refused(tmp_path):
    path = write_geotiff(tmp_path / "rot.tif")
    with rasterio.open(path, "r+") as dataset:
        dataset.transform = Affine(0.1, 0.02, 270000, 0.02, -0.1, 3290000)
    with pytest.raises(MosaicError, match="rotated or sheared"):
        inspect_mosaic(path)
    big = write_geotiff(tmp_path / "big.tif", width=400, height=400)
    with pytest.raises(MosaicError, match="over the orthomosaic limits"):
        inspect_mosaic(big, MosaicLimits(max_pixels=100_000))


def test_not_a_raster_and_plain_photos(tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00" + b"\x00" * 40)
    with pytest.raises(MosaicError, match="junk.tif: not a raster GDAL can read"):
        inspect_mosaic(junk)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30)).save(photo)
    assert not looks_georeferenced(photo) and not looks_georeferenced(junk)
    assert looks_georeferenced(write_geotiff(tmp_path / "m.tif"))


def _photo(tmp_path, name="DJI_0001.JPG", **tags):
    return tag_photo(Image.new("RGB", (400, 300), (90, 120, 60)), tmp_path / name, **tags)


def test_exif_gps_and_dji_xmp_give_position_and_gsd(tmp_path):
    path = _photo(
        tmp_path, latitude=29.7604, longitude=-95.3698, altitude_asl_m=95.0, relative_altitude_m=60.0
    )
    geo = read_photo_geo(path)
    assert geo.latitude == pytest.approx(29.7604, abs=1e-6) and geo.longitude == pytest.approx(
        -95.3698, abs=1e-6
    )
    assert geo.altitude_asl_m == 95.0 and geo.relative_altitude_m == 60.0 and geo.gimbal_pitch_deg == -90
    gsd, why_not = photo_gsd(geo)
    assert why_not is None and gsd.source == "xmp"
    # 60 m x 12.69 mm sensor (24 mm equivalent of 8.8 mm, 4:3) / (8.8 mm x 400 px)
    assert gsd.cm_per_px == pytest.approx(6000 * 12.6925 / (8.8 * 400), rel=1e-3)


def test_sea_level_altitude_is_never_a_flying_height(tmp_path):
    geo = read_photo_geo(_photo(tmp_path, latitude=29.76, longitude=-95.37, altitude_asl_m=95.0))
    gsd, why_not = photo_gsd(geo)
    assert gsd is None and "--flight-height" in why_not and "above sea level" in why_not
    given, _ = photo_gsd(geo, flight_height_m=50.0)
    assert given.source == "user" and given.cm_per_px == pytest.approx(5000 * 12.6925 / (8.8 * 400), rel=1e-3)
    assert photo_gsd(geo, gsd_cm=2.0)[0] == Gsd(2.0, "user", "--gsd")


def test_oblique_photo_and_nonsense_gps(tmp_path):
    oblique = read_photo_geo(
        _photo(tmp_path, latitude=29.76, longitude=-95.37, relative_altitude_m=60.0, gimbal_pitch_deg=-45)
    )
    assert photo_gsd(oblique)[0] is None and "oblique" in photo_gsd(oblique)[1]
    nonsense = read_photo_geo(_photo(tmp_path, "bad.jpg", latitude=95.0, longitude=-95.37))
    assert not nonsense.has_position and "not a valid latitude/longitude" in nonsense.problems[0]
    null_island = read_photo_geo(_photo(tmp_path, "zero.jpg", latitude=0.0, longitude=0.0))
    assert not null_island.has_position and "0,0" in null_island.problems[0]


def test_photo_without_any_metadata(tmp_path):
    path = tmp_path / "plain.jpg"
    Image.new("RGB", (64, 48)).save(path)
    geo = read_photo_geo(path)
    assert not geo.has_position and geo.focal_mm is None
    assert photo_gsd(geo, flight_height_m=40)[1].startswith("plain.jpg: no focal length")


def test_model_gsd_names_its_source():
    meta = {"resolution": 1024}
    assert model_gsd(meta).source == "default" and model_gsd(meta).cm_per_px == pytest.approx(11.72, abs=0.01)
    assert model_gsd({**meta, "working_gsd_cm": 3.0}) == Gsd(
        3.0, "checkpoint", "working_gsd_cm in the checkpoint"
    )
    assert model_gsd(meta, 5.0).source == "user"
    with pytest.raises(ValueError, match="--model-gsd -1"):
        model_gsd(meta, -1)


def test_demo_orthomosaic_and_flight_are_georeferenced_and_self_consistent(tmp_path):
    from seg_core.demo.geodemo import SCENE_WIDTH_M, write_demo_flight, write_demo_orthomosaic

    info = inspect_mosaic(write_demo_orthomosaic(tmp_path / "ortho.tif", cols=2, rows=1, tile_px=128))
    assert (info.width, info.height) == (256, 128) and "UTM zone 15N" in info.crs_wkt
    assert info.gsd.cm_per_px == pytest.approx(SCENE_WIDTH_M * 100 / 128)
    with rasterio.open(info.path) as dataset:
        valid = dataset.dataset_mask() > 0
    assert not valid[0, 0] and not valid[-1, -1] and valid[64, 128]  # corners cut by alpha
    photos = write_demo_flight(tmp_path / "flight", count=2, size=(160, 120))
    geo = read_photo_geo(photos[1])
    gsd, _ = photo_gsd(geo)
    assert gsd.source == "xmp" and gsd.cm_per_px == pytest.approx(SCENE_WIDTH_M * 100 / 160, rel=1e-3)
    assert geo.longitude > read_photo_geo(photos[0]).longitude  # along the flight line


def test_demo_data_can_add_a_georeferenced_mosaic_and_a_gps_flight(tmp_path, capsys):
    import rasterio

    from seg_core.cli import main
    from seg_core.datasets.discovery import validate_dataset
    from seg_core.imagery.camera import read_photo_geo

    out = tmp_path / "demo"
    assert main(["demo-data", "--out", str(out), "--n", "2", "--size", "160x120", "--geo"]) == 0
    with rasterio.open(out / "geo" / "demo_ortho.tif") as mosaic:
        assert mosaic.crs is not None and mosaic.count == 4  # RGB + alpha, UTM
    photos = sorted((out / "geo" / "flight").glob("*.JPG"))
    assert len(photos) == 6 and all(read_photo_geo(p).latitude is not None for p in photos)
    assert len(validate_dataset(out).pairs) == 2  # the geo folder leaves the dataset as it was
    assert "python -m seg_core map" in capsys.readouterr().out
