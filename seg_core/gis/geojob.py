"""One map job: inputs in, georeferenced outputs in a folder (shared by `map` and the Map page).

    outputs = map_inputs(predictor, files, out_dir)

Each input is sorted by content: a TIFF with a CRS or geotransform is an orthomosaic (class COG,
class polygons as GeoJSON and GeoPackage, `<stem>_summary.json` with its WGS84 footprint), any
other image a photo (the `predict` files, plus a point on the flight layer when it has GPS). The
photos together give flight.geojson, flight.gpkg and flight.csv; model.json names the model
(`record_model`). A bad input becomes one sentence in `failures` and the others still run.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seg_core.analytics.report import safe_stem, write_outputs
from seg_core.gis.flight import FlightSettings, PhotoRecord, flight_csv, flight_points, photo_record
from seg_core.gis.mosaic import MosaicSettings, segment_mosaic
from seg_core.gis.vectors import GeoJsonWriter, VectorSettings, write_class_polygons, write_gpkg
from seg_core.imagery.imageio import ImageReadError, load_rgb
from seg_core.imagery.raster import MosaicError, footprint_wgs84, looks_georeferenced
from seg_core.inference.backend import PredictorBase
from seg_core.inference.identity import ModelIdentity, write_model_identity
from seg_core.schemes.files import scheme_from_dict
from seg_core.schemes.scheme import DEFAULT_SCHEME, LabelScheme, builtin

SUMMARY_SUFFIX = "_summary.json"
FLIGHT_FILES = ("flight.geojson", "flight.gpkg", "flight.csv")


@dataclass
class MapOutputs:
    """What a job wrote: mosaic summaries, photo records, and one sentence per skipped input."""

    folder: Path
    mosaics: list[dict] = field(default_factory=list)
    photos: list[PhotoRecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    stopped: bool = False


def map_mosaic(
    predictor: PredictorBase,
    path: Path,
    out: Path,
    settings: MosaicSettings | None = None,
    vectors: bool = True,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Segment one orthomosaic into `out`; returns (and writes) its summary."""
    stem = safe_stem(path.name)
    result = segment_mosaic(
        predictor,
        path,
        out / f"{stem}_classes.tif",
        settings or MosaicSettings(),
        progress=progress,
        should_stop=should_stop,
    )
    summary = {
        "input": str(path),
        "name": path.name,
        "classes_tif": f"{stem}_classes.tif",
        "raster_gsd": result.info.gsd.describe(),
        "model_gsd": result.model_gsd.describe(),
        "footprint_wgs84": footprint_wgs84(result.info),
        "windows": result.windows_total,
        "windows_done": result.windows_done,
        "stopped": result.stopped,
        "scheme": result.scheme.to_dict(),
        "flooded_share": result.flooded_share(),
        "area_m2": {k: round(v, 2) for k, v in result.class_areas_m2().items() if v},
        "seconds": round(result.seconds, 1),
        "notices": result.notices,
    }
    if vectors:
        write_class_polygons(
            result.path, out / f"{stem}_classes.geojson", out / f"{stem}_classes.gpkg", VectorSettings()
        )  # in the scheme the class GeoTIFF records
        summary["vectors"] = [f"{stem}_classes.geojson", f"{stem}_classes.gpkg"]
    if result.tiles:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(result.tiles[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in result.tiles)
        (out / f"{stem}_tiles.csv").write_text(buffer.getvalue())
        summary["tiles_csv"] = f"{stem}_tiles.csv"
    (out / f"{stem}{SUMMARY_SUFFIX}").write_text(json.dumps(summary, indent=2))
    return summary


def summary_scheme(summary: dict) -> LabelScheme:
    """The label scheme of a mosaic summary's classes; harvey for summaries written without one."""
    recorded = summary.get("scheme")
    return builtin(DEFAULT_SCHEME) if recorded is None else scheme_from_dict(recorded, "the map summary")


def write_flight(records: Sequence[PhotoRecord], out: Path) -> int:
    """flight.geojson / .gpkg (points with a position) and flight.csv (every photo); returns points."""
    points = flight_points(list(records))
    (out / "flight.csv").write_text(flight_csv(list(records)))
    geojson = GeoJsonWriter(out / "flight.geojson")
    for geometry, properties in points:
        geojson.write(geometry, properties)
    geojson.close()
    write_gpkg(points, out / "flight.gpkg", layer="photos", geometry_type="Point")
    return len(points)


def record_model(folder: Path, predictor: PredictorBase, model_name: str) -> None:
    """The map folder's `model.json`: the run id (else `model_name`), weights checksum and scheme,
    which the building layer and situation report made later from the folder name."""
    identity = ModelIdentity.from_meta(predictor.meta, model_name or "unnamed model")
    write_model_identity(folder, identity, predictor.scheme)


def map_inputs(
    predictor: PredictorBase,
    files: Sequence[Path],
    out: str | Path,
    flight: FlightSettings | None = None,
    settings: MosaicSettings | None = None,
    vectors: bool = True,
    progress_for: Callable[[str], Callable[[int, int], None] | None] = lambda name: None,
    should_stop: Callable[[], bool] = lambda: False,
    model_name: str = "",
) -> MapOutputs:
    """Map every input into `out` (see the module docstring), recording the model (`record_model`;
    `model_name`: the model file's name, for models without a run id); Stop keeps what is done."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record_model(out, predictor, model_name)
    outputs = MapOutputs(out)
    for path in files:
        if should_stop():
            outputs.stopped = True
            break
        try:
            if looks_georeferenced(path):
                summary = map_mosaic(
                    predictor, path, out, settings, vectors, progress_for(path.name), should_stop
                )
                outputs.mosaics.append(summary)
                outputs.notices += summary["notices"]
                outputs.stopped = outputs.stopped or summary["stopped"]
                continue
            loaded = load_rgb(path)
            mask = predictor.predict_full(loaded.pixels, name=path.name).mask
            record = photo_record(path, mask, predictor.scheme, flight or FlightSettings())
        except (MosaicError, ImageReadError) as exc:
            outputs.failures.append(str(exc))
            continue
        outputs.notices += record.notices
        write_outputs(out, path.name, loaded.pixels, mask, record.stats, scheme=predictor.scheme)
        outputs.photos.append(record)
    if outputs.photos:
        write_flight(outputs.photos, out)
    return outputs
