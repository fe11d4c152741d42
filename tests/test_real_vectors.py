"""Vector labels on real georeferenced mosaics (bench/real/vectors.py): the committed manifest, and
the assembly (web-map tiles to a UTM mosaic, footprints to a truth raster) and the label ways on a
tiny stand-in for the source snapshot (no real data needed)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCH = Path(__file__).resolve().parent.parent / "bench" / "real"
PREFIX = "ramp-data/TRAIN/HOTOSM/2/data"
X, Y = 619224, 523264  # two zoom-20 tiles side by side in Kampala (0.35 N, 32.6 E)


@pytest.fixture(scope="module")
def vectors():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_vectors", BENCH / "vectors.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_vectors"] = module
    spec.loader.exec_module(module)
    return module


def _lonlat(px: float, py: float) -> list[float]:
    """WGS84 of a pixel position in the stand-in's two-tile web-map grid."""
    from rasterio.warp import transform

    from seg_core.reports.tiles import tile_bounds

    west, _, east, north = tile_bounds(20, X, Y)
    res = (east - west) / 256
    [lon], [lat] = transform("EPSG:3857", "EPSG:4326", [west + px * res], [north - py * res])
    return [lon, lat]


@pytest.fixture
def stand_in(tmp_path, vectors):
    """A git repository with one area of two 256 px tiles and one 100x60 px footprint across them;
    its manifest, recorded; and the mirror."""
    mirror = tmp_path / "mirror"
    repo = mirror / "hotosm+fAIr-utilities" / "repo"
    area = repo / PREFIX / "1"
    area.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for dx in (0, 1):
        tile = rng.integers(60, 200, (256, 256, 3), np.uint8)
        Image.fromarray(tile).save(area / f"OAM-{X + dx}-{Y}-20.png")
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(area / f"OAM-{X}-{Y}-19.png")  # not zoom 20
    ring = [_lonlat(x, y) for x, y in ((200, 100), (300, 100), (300, 160), (200, 160), (200, 100))]
    footprint = {
        "type": "Feature",
        "properties": {"osm_id": 1},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    (area / "labels.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [footprint]}))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "stand-in"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    manifest = tmp_path / "vectors_manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "repo": "hotosm/fAIr-utilities",
                "commit": commit,
                "licence": "test",
                "ship_weights": False,
                "areas": ["1"],
                "files": {},
            }
        )
    )
    vectors.record(manifest, mirror)
    return manifest, mirror


def test_the_committed_manifest_pins_a_commit_and_records_every_file(vectors):
    entry = json.loads(vectors.MANIFEST.read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]) and not entry["ship_weights"]
    assert "AGPL" in entry["licence"] and "ODbL" in entry["licence"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", sha) for sha in entry["files"].values())
    for area in entry["areas"]:
        tiles = [p for p in entry["files"] if p.startswith(f"{PREFIX}/{area}/") and p.endswith("-20.png")]
        assert tiles and f"{PREFIX}/{area}/labels.geojson" in entry["files"], area


def test_recording_lists_the_zoom_20_tiles_and_the_footprints_only(stand_in):
    manifest, _ = stand_in
    files = json.loads(manifest.read_text())["files"]
    assert sorted(files) == [
        f"{PREFIX}/1/OAM-{X}-{Y}-20.png",
        f"{PREFIX}/1/OAM-{X + 1}-{Y}-20.png",
        f"{PREFIX}/1/labels.geojson",
    ]


def test_assembly_makes_a_utm_mosaic_whose_truth_is_the_footprint(stand_in, vectors, tmp_path):
    import rasterio

    manifest, mirror = stand_in
    out = tmp_path / "vectors"
    assert (
        vectors.main(["assemble", "--manifest", str(manifest), "--mirror", str(mirror), "--out", str(out)])
        == 0
    )
    [facts] = json.loads((out / "areas.json").read_text())
    assert facts["crs"] == "EPSG:32636" and facts["tiles"] == 2 and facts["footprints"] == 1
    assert 0.14 < facts["gsd_m"] < 0.16  # zoom 20 on the equator: 0.149 m
    with (
        rasterio.open(out / "area1" / "mosaic.tif") as mosaic,
        rasterio.open(out / "area1" / "truth.tif") as truth,
    ):
        assert mosaic.crs.to_string() == "EPSG:32636" and mosaic.count == 4  # RGB and alpha
        assert truth.transform == mosaic.transform
        values = truth.read(1)
        valid = mosaic.dataset_mask() > 0
    assert set(np.unique(values)) <= {0, 1, 255}
    assert np.array_equal(values != 255, valid)  # outside the imagery is not scored
    share = (values == 1).sum() / valid.sum()
    assert abs(share - 100 * 60 / (512 * 256)) < 0.01  # the footprint's share of the two tiles


def test_a_changed_tile_stops_the_assembly_with_a_sentence(stand_in, vectors, tmp_path, capsys):
    manifest, mirror = stand_in
    entry = json.loads(manifest.read_text())
    entry["files"][f"{PREFIX}/1/OAM-{X}-{Y}-20.png"] = "0" * 64
    manifest.write_text(json.dumps(entry))
    code = vectors.main(
        ["assemble", "--manifest", str(manifest), "--mirror", str(mirror), "--out", str(tmp_path / "o")]
    )
    assert code == 2 and "not the file the benchmark was built from" in capsys.readouterr().err


def test_full_labels_say_background_and_partial_labels_leave_a_band_unknown(stand_in, vectors, tmp_path):
    from seg_core.datasets.partial import read_partial_labels
    from seg_core.schemes.classes import class_id

    manifest, mirror = stand_in
    out = tmp_path / "vectors"
    vectors.main(["assemble", "--manifest", str(manifest), "--mirror", str(mirror), "--out", str(out)])
    roof = class_id("Property Roof")
    full = vectors.make_labels(out / "area1", "full", tmp_path / "full")
    partial = vectors.make_labels(out / "area1", "partial-2", tmp_path / "partial")
    assert not (full / "partial_labels.json").exists() and read_partial_labels(partial) is not None
    [full_mask] = [np.asarray(Image.open(p)) for p in (full / "masks").glob("*.png")]
    [partial_mask] = [np.asarray(Image.open(p)) for p in (partial / "masks").glob("*.png")]
    assert {0, roof} <= set(np.unique(full_mask)) <= {0, roof, 255}  # 255: only outside the imagery
    roof_full, roof_partial = (full_mask == roof).sum(), (partial_mask == roof).sum()
    assert 0 < roof_partial < roof_full  # the 2 m band around the edge is unknown
    assert (partial_mask == 0).sum() == 0  # nothing is taught Background
    assert (partial_mask == 255).sum() > (full_mask == 255).sum()


def test_a_moved_map_moves_the_labels_by_its_metres_and_an_unfinished_one_teaches_no_background(
    stand_in, vectors, tmp_path
):
    from seg_core.schemes.classes import class_id

    manifest, mirror = stand_in
    out = tmp_path / "vectors"
    vectors.main(["assemble", "--manifest", str(manifest), "--mirror", str(mirror), "--out", str(out)])
    roof = class_id("Property Roof")

    def columns(mask):
        return np.nonzero((mask == roof).any(axis=0))[0]

    def mask_of(folder):
        [mask] = [np.asarray(Image.open(p)) for p in (folder / "masks").glob("*.png")]
        return mask

    truth = mask_of(vectors.make_labels(out / "area1", "full", tmp_path / "full"))
    moved = mask_of(
        vectors.make_labels(out / "area1", "full", tmp_path / "moved", vectors.MapFlaws(shift_m=(3.0, 0.0)))
    )
    gsd = json.loads((out / "areas.json").read_text())[0]["gsd_m"]
    shift_px = columns(moved).min() - columns(truth).min()
    assert abs(shift_px - 3.0 / gsd) <= 1.5  # 3 m east: about 20 columns at 0.15 m
    assert (moved == roof).sum() == pytest.approx((truth == roof).sum(), rel=0.05)  # moved, not resized
    unfinished = mask_of(vectors.make_labels(out / "area1", "incomplete-2", tmp_path / "inc"))
    assert (unfinished == roof).sum() > 0 and not (unfinished == 0).any()
    none_kept = vectors.flawed_footprints(
        out / "area1", vectors.MapFlaws(keep=0.0), tmp_path / "none.geojson"
    )
    assert json.loads(none_kept.read_text())["features"] == []
