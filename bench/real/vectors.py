"""Vector labels on real georeferenced mosaics (issue 24 item 4; docs/benchmarks-analysis.md section 22).

    python bench/real/vectors.py record                   # the manifest's file list and checksums
    python bench/real/vectors.py assemble [--out data/real/vectors]
    python bench/real/vectors.py run --train 2 --test 1 --labels full partial-0 partial-2 \\
        [--shift-m EAST NORTH] [--keep F] [--epochs 30] [--results bench/results/real_vectors.json]

The source: hotosm/fAIr-utilities at one commit (vectors_manifest.json), five areas of
OpenAerialMap drone imagery as zoom-20 web-map tiles (256 px, about 0.15 m) with the area's
OpenStreetMap building footprints (`labels.geojson`, WGS84): 1 Zanzibar, 2 Kampala, 3 Kathmandu
valley, 4 the Philippines, 5 Nairobi. `assemble` reads every file at the recorded commit, checks
its SHA-256, stitches each area's tiles into a web-mercator mosaic and warps it to the area's UTM
zone (a GeoTIFF in metres, as drone orthomosaics come), and rasterises the footprints onto it as
the test truth (`truth.tif`: 1 building, 0 not, 255 outside the imagery):

    data/real/vectors/area<N>/{mosaic.tif, truth.tif, buildings.geojson}

`run` turns the training area's footprints into labels in one of these ways, fine-tunes the shipped
demo model on them (the product's `finetune_config`, start check off: the same parent for every
way) and scores each test area's mosaic with the product's mosaic path (`segment_mosaic`):
building IoU against the footprints (Property Roof or Secondary Structure predicted; pixels
outside the imagery not counted), and the share of imagery pixels called Flooded (all dry):
  full         footprints are Property Roof and every other pixel Background (what a plain mask
               says: "not a building, so background")
  partial-T    `partial-labels from-vectors --tolerance-m T`: inside beyond the band is Property
               Roof, outside beyond the band is "not Property Roof", the band unknown; the loss
               learns only that, and the parent's beliefs keep the other classes
  incomplete-T partial-T with the layer marked `--incomplete`: outside a footprint says nothing,
               so a missing footprint teaches nothing wrong
  parent       no training: the demo model itself
`--shift-m EAST NORTH` moves the training map and `--keep F` keeps a share of its footprints
(chosen with the seed): a misaligned or unfinished map, as teams have them. The truth stays.
The footprints are OpenStreetMap's, traced on other imagery: the truth itself is off by the same
metres the tolerance is for, so IoU here is agreement with the map, not with the roofs.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sources import (  # noqa: E402
    DEFAULT_MIRROR,
    ChecksumMismatch,
    Source,
    SourceMissing,
    list_files,
    read_file,
    sha256_bytes,
)

MANIFEST = HERE / "vectors_manifest.json"
DEFAULT_OUT = ROOT / "data" / "real" / "vectors"
RESULTS = ROOT / "bench" / "results" / "real_vectors.json"
ZOOM = 20
TILE = 256
OUTSIDE = 255


def load_source(path: Path = MANIFEST) -> tuple[Source, dict]:
    entry = json.loads(path.read_text())
    return Source.from_manifest("fair", entry), entry


def area_files(source: Source, area: str) -> tuple[list[str], str]:
    """The area's zoom-20 tile paths and its footprint file, as the manifest records them."""
    prefix = f"{source_prefix(area)}/"
    tiles = sorted(p for p in source.files if p.startswith(prefix) and p.endswith(f"-{ZOOM}.png"))
    return tiles, f"{prefix}labels.geojson"


def source_prefix(area: str) -> str:
    return f"ramp-data/TRAIN/HOTOSM/2/data/{area}"


def record(path: Path, mirror: Path) -> None:
    """Write the manifest's file list (every area's zoom-20 tiles and footprints) with SHA-256s."""
    source, entry = load_source(path)
    unchecked = dataclasses.replace(source, files={})
    files = {}
    for area in entry["areas"]:
        for name in list_files(unchecked, mirror, f"{source_prefix(area)}/"):
            if name.endswith(f"-{ZOOM}.png") or name.endswith("/labels.geojson"):
                files[name] = sha256_bytes(read_file(unchecked, name, mirror))
    entry["files"] = dict(sorted(files.items()))
    path.write_text(json.dumps(entry, indent=1) + "\n")
    print(f"{path}: {len(files)} files recorded")


def assemble_area(source: Source, area: str, mirror: Path, out: Path) -> dict:
    """One area's UTM mosaic, its footprints and their truth raster; returns its facts."""
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import Affine, array_bounds
    from rasterio.warp import Resampling, calculate_default_transform, reproject, transform, transform_geom

    from seg_core.reports.mapplot import utm_crs
    from seg_core.reports.tiles import tile_bounds, tile_size_m

    tiles, labels = area_files(source, area)
    index = {}
    for name in tiles:
        _, x, y, _ = Path(name).stem.rsplit("-", 3)
        index[(int(x), int(y))] = name
    xs, ys = [k[0] for k in index], [k[1] for k in index]
    cols, rows = max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
    pixels = np.zeros((rows * TILE, cols * TILE, 3), np.uint8)
    alpha = np.zeros((rows * TILE, cols * TILE), np.uint8)
    for (x, y), name in index.items():
        tile = np.asarray(Image.open(io.BytesIO(read_file(source, name, mirror))).convert("RGB"))
        r, c = (y - min(ys)) * TILE, (x - min(xs)) * TILE
        pixels[r : r + TILE, c : c + TILE] = tile
        alpha[r : r + TILE, c : c + TILE] = 255
    west, _, _, north = tile_bounds(ZOOM, min(xs), min(ys))
    res = tile_size_m(ZOOM) / TILE  # metres per pixel
    src_transform = Affine(res, 0, west, 0, -res, north)
    height, width = alpha.shape
    bounds = array_bounds(height, width, src_transform)  # west, south, east, north
    [lon], [lat] = transform(
        "EPSG:3857", "EPSG:4326", [(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2]
    )
    dst_crs = utm_crs(lon, lat)
    grid, dst_w, dst_h = calculate_default_transform("EPSG:3857", dst_crs, width, height, *bounds)
    bands = np.zeros((4, dst_h, dst_w), np.uint8)
    for band, data in enumerate([*np.moveaxis(pixels, 2, 0), alpha]):
        reproject(
            data,
            bands[band],
            src_transform=src_transform,
            src_crs="EPSG:3857",
            dst_transform=grid,
            dst_crs=dst_crs,
            resampling=Resampling.bilinear if band < 3 else Resampling.nearest,
        )
    folder = out / f"area{area}"
    folder.mkdir(parents=True, exist_ok=True)
    valid = bands[3] == 255
    bands[:3] *= valid
    profile = dict(
        driver="GTiff",
        width=dst_w,
        height=dst_h,
        crs=dst_crs,
        transform=grid,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
    )
    with rasterio.open(
        folder / "mosaic.tif", "w", count=4, dtype="uint8", photometric="RGB", alpha="YES", **profile
    ) as dst:
        dst.write(bands)
    footprints = json.loads(read_file(source, labels, mirror))
    (folder / "buildings.geojson").write_text(json.dumps(footprints))
    shapes = [transform_geom("EPSG:4326", dst_crs, f["geometry"]) for f in footprints["features"]]
    truth = rasterize(
        ((s, 1) for s in shapes), out_shape=(dst_h, dst_w), transform=grid, fill=0, dtype="uint8"
    )
    truth[~valid] = OUTSIDE
    with rasterio.open(folder / "truth.tif", "w", count=1, dtype="uint8", nodata=OUTSIDE, **profile) as dst:
        dst.write(truth, 1)
    return {
        "area": area,
        "crs": dst_crs,
        "px": [dst_w, dst_h],
        "gsd_m": round(grid.a, 4),
        "tiles": len(index),
        "footprints": len(shapes),
        "building_share": round(float((truth == 1).sum() / max(valid.sum(), 1)), 4),
        "imagery_share": round(float(valid.mean()), 4),
    }


@dataclasses.dataclass(frozen=True)
class MapFlaws:
    """How the training area's map differs from its footprints: moved (metres east and north, as a
    layer traced on other imagery is) and/or with only a share of its footprints (an unfinished map;
    which ones is drawn with `seed`)."""

    shift_m: tuple[float, float] = (0.0, 0.0)
    keep: float = 1.0
    seed: int = 0

    def __bool__(self) -> bool:
        return self.shift_m != (0.0, 0.0) or self.keep < 1.0


def flawed_footprints(area: Path, flaws: MapFlaws, out: Path) -> Path:
    """The area's footprints with `flaws`, written to `out` (GeoJSON, WGS84, as the source's)."""
    import rasterio
    from rasterio.warp import transform_geom
    from shapely.affinity import translate
    from shapely.geometry import mapping, shape

    with rasterio.open(area / "mosaic.tif") as src:
        crs = src.crs.to_string()
    collection = json.loads((area / "buildings.geojson").read_text())
    features = collection["features"]
    if flaws.keep < 1.0:
        rng = np.random.default_rng(flaws.seed)
        kept = np.sort(rng.choice(len(features), round(flaws.keep * len(features)), replace=False))
        features = [features[i] for i in kept]
    east, north = flaws.shift_m
    moved = []
    for feature in features:
        local = shape(transform_geom("EPSG:4326", crs, feature["geometry"]))
        geometry = transform_geom(crs, "EPSG:4326", mapping(translate(local, east, north)))
        moved.append({**feature, "geometry": geometry})
    out.write_text(json.dumps({**collection, "features": moved}))
    return out


def make_labels(area: Path, way: str, out: Path, flaws: MapFlaws = MapFlaws()) -> Path:
    """The training dataset of one way (see the module docstring), through the product's own CLI,
    from the area's footprints or, with `flaws`, from a flawed copy of them."""
    from seg_core.cli import main as cli

    footprints = area / "buildings.geojson"
    if flaws:
        out.parent.mkdir(parents=True, exist_ok=True)
        footprints = flawed_footprints(area, flaws, out.parent / f"{out.name}-buildings.geojson")
    kind, _, tolerance = way.partition("-")
    argv = [
        "partial-labels",
        "from-vectors",
        "--mosaic",
        str(area / "mosaic.tif"),
        "--vectors",
        f"{footprints}=Property Roof",
        "--out",
        str(out),
        "--tolerance-m",
        tolerance or "0",
        *(["--incomplete", "Property Roof"] if kind == "incomplete" else []),
    ]
    code = cli(argv)
    if code:
        raise SystemExit(f"from-vectors failed ({code}) for {area}")
    if way == "full":  # a plain mask: what is not a footprint is Background
        from seg_core.schemes.classes import class_id

        roof = class_id("Property Roof")
        for mask_path in (out / "masks").glob("*.png"):
            mask = np.asarray(Image.open(mask_path))
            plain = np.where(mask == roof, roof, np.where(mask == OUTSIDE, OUTSIDE, 0)).astype(np.uint8)
            Image.fromarray(plain).save(mask_path)
        (out / "partial_labels.json").unlink()
    return out


def score(predictor, area: Path, work: Path) -> dict:
    """Building IoU against the footprints and the share called Flooded, over the imagery."""
    import rasterio

    from seg_core.gis.mosaic import segment_mosaic
    from seg_core.schemes.classes import class_id

    out = work / f"classes-{area.name}-{time.monotonic_ns()}.tif"
    segment_mosaic(predictor, area / "mosaic.tif", out)
    with rasterio.open(out) as src:
        guess = src.read(1)
    with rasterio.open(area / "truth.tif") as src:
        truth = src.read(1)
    valid = truth != OUTSIDE
    building = np.isin(guess, [class_id("Property Roof"), class_id("Secondary Structure")]) & valid
    true = (truth == 1) & valid
    union = int((building | true).sum())
    return {
        "iou": round(int((building & true).sum()) / union, 4) if union else None,
        "flooded_share": round(float(((guess == class_id("Flooded")) & valid).sum() / valid.sum()), 4),
        "building_share": round(float(building.sum() / valid.sum()), 4),  # called building; truth: below
        "true_building_share": round(float(true.sum() / valid.sum()), 4),
    }


def run(args) -> dict:
    sys.path.insert(0, str(HERE.parent))
    from labelling import timed_fit

    from seg_core.inference.predictor import Predictor
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.finetune import finetune_config

    results = json.loads(args.results.read_text()) if args.results.exists() else {"runs": []}
    areas = {a: args.data / f"area{a}" for a in [args.train, *args.test]}
    flaws = MapFlaws(tuple(args.shift_m), args.keep, args.seed)
    for folder in areas.values():
        if not (folder / "mosaic.tif").exists():
            raise SystemExit(f"{folder}: not assembled; run `python bench/real/vectors.py assemble` first")
    with tempfile.TemporaryDirectory() as tmp:
        # Not run.py's scratch_registry: bench/ leads sys.path here, so `run` is bench/run.py.
        work = Path(tmp)
        os.environ["STORMSEG_HOME"] = str(work / "home")
        registry = RunRegistry()
        for way in args.labels:
            row = {"train": args.train, "labels": way, "epochs": args.epochs, "seed": args.seed}
            if flaws and way != "parent":
                row.update(map_shift_m=list(flaws.shift_m), map_keep=flaws.keep)
            if way == "parent":
                checkpoint = args.model
                row.update(cpu_minutes=0.0)
            else:
                data = make_labels(areas[args.train], way, work / f"data-{way}", flaws)
                cfg = finetune_config(
                    args.model,
                    data,
                    name=f"vectors-{way}",
                    epochs=args.epochs,
                    batch_size=2,
                    start_check="off",
                    seed=args.seed,
                )
                folder, cost = timed_fit(cfg, registry)
                checkpoint = folder / "best.pt"
                row.update(cost, tiles=len(list((data / "images").iterdir())))
            predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
            row["test"] = {area: score(predictor, areas[area], work) for area in args.test}
            row["load_avg_1min"] = round(os.getloadavg()[0], 2)
            row["when"] = time.strftime("%Y-%m-%d %H:%M")
            print(json.dumps(row), flush=True)
            results["runs"].append(row)
            args.results.write_text(json.dumps(results, indent=1) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    from seg_core.core import paths

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    rec.add_argument("--manifest", type=Path, default=MANIFEST)
    asm = sub.add_parser("assemble")
    asm.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    asm.add_argument("--manifest", type=Path, default=MANIFEST)
    asm.add_argument("--out", type=Path, default=DEFAULT_OUT)
    asm.add_argument("--areas", nargs="*")
    go = sub.add_parser("run")
    go.add_argument("--data", type=Path, default=DEFAULT_OUT)
    go.add_argument("--train", required=True)
    go.add_argument("--test", nargs="+", required=True)
    go.add_argument("--labels", nargs="+", default=["parent", "full", "partial-2"])
    go.add_argument(
        "--shift-m",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("EAST", "NORTH"),
        help="move the training map by these metres (a misaligned layer); the truth stays",
    )
    go.add_argument(
        "--keep", type=float, default=1.0, help="train on this share of the footprints (an unfinished map)"
    )
    go.add_argument("--epochs", type=int, default=30)
    go.add_argument("--seed", type=int, default=0)
    go.add_argument("--model", type=Path, default=paths.DEMO_CHECKPOINT)
    go.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.manifest, args.mirror)
    elif args.command == "assemble":
        source, entry = load_source(args.manifest)
        try:
            facts = [assemble_area(source, a, args.mirror, args.out) for a in (args.areas or entry["areas"])]
        except (SourceMissing, ChecksumMismatch) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for fact in facts:
            print(json.dumps(fact))
        (args.out / "areas.json").write_text(json.dumps(facts, indent=1) + "\n")
    else:
        run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
