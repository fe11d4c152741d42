"""Buildings from what StormSeg segments: drone photos, class GeoTIFFs of orthomosaics, and the map
folders `python -m seg_core map` and the Map page write.

    assessment = assess_photo(predictor, Path("DJI_0042.JPG"), scheme, model)
    assessment += assess_class_raster(Path("ortho_classes.tif"), scheme, model, rgb=Path("ortho.tif"))

Where a photo lies: a nadir photo with a GPS position, a GSD (`seg_core.imagery.camera.photo_gsd`)
and a camera heading (XMP GimbalYawDegree or FlightYawDegree, EXIF GPSImgDirection) is placed as a flat, level frame
centred on its GPS position (`photo_georef`): over flat ground the building centroids are as good
as the GPS and the heading (a few metres). Without any of the three its buildings keep pixel
coordinates only, and the notices say which was missing.

A class GeoTIFF is read in windows (`WINDOW_CORE` px plus a margin of `MAX_BUILDING_M`), so memory
stays flat in the mosaic's size; a building belongs to the window its centroid falls in, so one
no longer than the margin is never cut or counted twice. Mosaics carry no confidence map.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.analytics.statistics import ASSUMED_FOOTPRINT_WIDTH_M
from seg_core.buildings.footprints import DEFAULT_FOOTPRINTS, FootprintSettings
from seg_core.buildings.records import (
    THUMBNAILS_PER_SOURCE,
    BuildingRecord,
    Georef,
    ModelIdentity,
    assess_mask,
    outline_thumbnail,
    photo_georef,
    thumbnail_box,
)
from seg_core.buildings.scene import SceneFigures, scene_figures
from seg_core.imagery.camera import PhotoGeo
from seg_core.imagery.gsd import Gsd
from seg_core.schemes.scheme import LabelScheme

WINDOW_CORE = 4096  # class px per window side: ~17 MB of mask, labels and distances per window
MAX_BUILDING_M = 60.0  # longer buildings than this may be split at a window's edge


@dataclass
class Assessment:
    """Buildings and scene figures of a batch, and what the report says about its imagery.

    Attributes:
        records: one per building.
        scene: summed SceneFigures.
        imagery: one dict per photo or mosaic: name, kind, gsd (described with its source) and
            placement (how it is georeferenced, or why it is not).
        notices: one sentence per thing the reader should know (unplaced photos, ...).
        familiarity: the photos' familiarity verdicts (`Familiarity.to_dict()`), where measured.
    """

    records: list[BuildingRecord] = field(default_factory=list)
    scene: SceneFigures = field(default_factory=SceneFigures)
    imagery: list[dict] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    familiarity: list[dict] = field(default_factory=list)

    def __iadd__(self, other: Assessment) -> Assessment:
        self.records += other.records
        self.scene = self.scene + other.scene
        self.imagery += other.imagery
        self.notices += other.notices
        self.familiarity += other.familiarity
        return self


def place_photo(geo: PhotoGeo | None, gsd: Gsd | None, width: int, height: int) -> tuple[Georef | None, str]:
    """(georef, how it was placed) or (None, why it was not), for a photo of width x height px."""
    if geo is None or not geo.has_position:
        return None, "no GPS position: pixel coordinates only"
    if gsd is None:
        return None, "no ground sampling distance: pixel coordinates only"
    if geo.heading_deg is None:
        return None, "no camera heading (XMP GimbalYawDegree, EXIF GPSImgDirection): pixel coordinates only"
    if (geo.width, geo.height) != (width, height):
        return None, "rotated by its EXIF orientation, so the heading does not apply: pixel coordinates only"
    georef = photo_georef(geo.latitude, geo.longitude, gsd.cm_per_px, geo.heading_deg, width, height)
    return (
        georef,
        f"GPS {geo.latitude:.6f}, {geo.longitude:.6f}, heading {geo.heading_deg:.0f} deg, nadir frame",
    )


def assess_segmented_photo(
    name: str,
    mask: np.ndarray,
    scheme: LabelScheme,
    model: ModelIdentity,
    gsd: Gsd | None,
    geo: PhotoGeo | None = None,
    confidence: np.ndarray | None = None,
    photo: np.ndarray | None = None,
    settings: FootprintSettings = DEFAULT_FOOTPRINTS,
) -> Assessment:
    """Buildings and scene figures of one photo already segmented (mask at its original size)."""
    height, width = mask.shape
    metres = None if gsd is None else gsd.cm_per_px / 100
    assumed = ASSUMED_FOOTPRINT_WIDTH_M / width  # the statistics' Harvey frame, for thresholds only
    georef, placement = place_photo(geo, gsd, width, height)
    records = assess_mask(
        mask, scheme, name, model, metres, confidence, georef, photo, settings, assumed_metres_per_px=assumed
    )
    notices = [] if georef is not None else [f"{name}: {placement}"]
    if mask.size < settings.min_pixels:
        notices.append(
            f"{name}: {width}x{height} px is too small to show a building (at least {settings.min_pixels} px)"
        )
    if gsd is None:
        notices.append(f"{name}: no ground sampling distance, so its areas are left empty")
    imagery = {
        "name": name,
        "kind": "photo",
        "gsd": gsd.describe() if gsd else "unknown",
        "placement": placement,
        "size": (width, height),
        "metres_per_px": metres,
    }
    if georef is not None:
        from shapely.geometry import box

        imagery["footprint_wgs84"] = georef.to_wgs84(box(0, 0, width, height))
    return Assessment(records, scene_figures(mask, scheme, metres, assumed), [imagery], notices)


def assess_photo(predictor, path: Path, scheme: LabelScheme, model: ModelIdentity, flight=None) -> Assessment:
    """Segment one photo (with its confidence map) and assess it.

    Raises:
        ImageReadError: the file is not a usable image (the message names it).
    """
    from seg_core.gis.flight import FlightSettings
    from seg_core.imagery.camera import photo_gsd, read_photo_geo
    from seg_core.imagery.imageio import load_rgb

    flight = flight or FlightSettings()
    loaded = load_rgb(path)
    prediction = predictor.predict_full(loaded.pixels, confidence=True, name=path.name)
    geo = read_photo_geo(path)
    gsd, why_not = photo_gsd(geo, flight.flight_height_m, flight.gsd_cm, flight.sensor_width_mm)
    assessment = assess_segmented_photo(
        path.name, prediction.mask, scheme, model, gsd, geo, prediction.confidence, loaded.pixels
    )
    assessment.notices += [*geo.problems, *([why_not] if why_not else [])]
    if prediction.confidence is not None:
        assessment.familiarity.append(predictor.familiarity(prediction)[1].to_dict() | {"name": path.name})
    return assessment


def _window_georef(crs_wkt: str, transform, col: int, row: int) -> Georef:
    a, b, c, d, e, f = tuple(transform)[:6]
    return Georef(crs_wkt, (a, b, c + a * col + b * row, d, e, f + d * col + e * row), "raster")


def assess_class_raster(
    path: Path,
    scheme: LabelScheme,
    model: ModelIdentity,
    rgb: Path | None = None,
    settings: FootprintSettings = DEFAULT_FOOTPRINTS,
) -> Assessment:
    """Buildings of a class GeoTIFF (255 = nodata), window by window; thumbnails from `rgb` (the
    mosaic it was made from) when that file is still there.

    Raises:
        MosaicError: the class raster has no CRS (the message names it).
    """
    import rasterio
    from rasterio.windows import Window
    from shapely import affinity

    from seg_core.imagery.raster import GDAL_ENV, MosaicError, _raster_gsd

    assessment = Assessment()
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as dataset:
        if dataset.crs is None:
            raise MosaicError(f"{path}: has no coordinate reference system (CRS); buildings cannot be placed")
        gsd = _raster_gsd(dataset)
        metres = gsd.cm_per_px / 100
        margin = math.ceil(MAX_BUILDING_M / metres)
        crs_wkt = dataset.crs.to_wkt()
        for row0 in range(0, dataset.height, WINDOW_CORE):
            for col0 in range(0, dataset.width, WINDOW_CORE):
                x0, y0 = max(0, col0 - margin), max(0, row0 - margin)
                x1 = min(dataset.width, col0 + WINDOW_CORE + margin)
                y1 = min(dataset.height, row0 + WINDOW_CORE + margin)
                mask = dataset.read(1, window=Window(x0, y0, x1 - x0, y1 - y0))
                georef = _window_georef(crs_wkt, dataset.transform, x0, y0)
                for record in assess_mask(
                    mask, scheme, path.name, model, metres, None, georef, None, settings
                ):
                    cx, cy = record.centroid_px[0] + x0, record.centroid_px[1] + y0
                    if col0 <= cx < col0 + WINDOW_CORE and row0 <= cy < row0 + WINDOW_CORE:
                        record.polygon_px = affinity.translate(record.polygon_px, x0, y0)
                        record.centroid_px = (cx, cy)
                        assessment.records.append(record)
                core = mask[row0 - y0 : row0 - y0 + WINDOW_CORE, col0 - x0 : col0 - x0 + WINDOW_CORE]
                assessment.scene = assessment.scene + scene_figures(core, scheme, metres, metres)
    stem = path.name.removesuffix("_classes.tif").rsplit(".", 1)[0]
    for number, record in enumerate(assessment.records, start=1):
        record.building_id = f"{stem}-{number:05d}"
    if rgb is not None and Path(rgb).is_file():
        _mosaic_thumbnails(assessment.records, Path(rgb))
    from shapely.geometry import box

    frame = _window_georef(crs_wkt, dataset.transform, 0, 0).to_wgs84(
        box(0, 0, dataset.width, dataset.height)
    )
    assessment.imagery.append(
        {
            "name": path.name,
            "kind": "mosaic",
            "gsd": gsd.describe(),
            "placement": "orthomosaic's own CRS",
            "footprint_wgs84": frame,
        }
    )
    assessment.notices.append(f"{path.name}: orthomosaics carry no confidence map; confidence is left empty")
    return assessment


def _mosaic_thumbnails(records: list[BuildingRecord], rgb: Path) -> None:
    import rasterio
    from rasterio.windows import Window
    from shapely import affinity

    from seg_core.imagery.raster import GDAL_ENV

    with rasterio.Env(**GDAL_ENV), rasterio.open(rgb) as dataset:
        for record in sorted(records, key=lambda r: r.severity, reverse=True)[:THUMBNAILS_PER_SOURCE]:
            x0, y0, x1, y1 = (int(v) for v in record.polygon_px.bounds)
            left, top, right, bottom = thumbnail_box((x0, y0, x1, y1), dataset.width, dataset.height)
            crop = dataset.read((1, 2, 3), window=Window(left, top, right - left, bottom - top))
            if crop.dtype != np.uint8:  # 16-bit mosaics: a per-crop stretch is enough for a thumbnail
                crop = (crop / max(1, crop.max()) * 255).astype(np.uint8)
            polygon = affinity.translate(record.polygon_px, -left, -top)
            record.thumbnail = outline_thumbnail(crop.transpose(1, 2, 0), polygon)


def assess_map_folder(folder: Path, scheme: LabelScheme, model: ModelIdentity) -> Assessment:
    """Buildings of a map folder (`seg_core.gis.geojob`): its mosaics' class GeoTIFFs and its photos'
    masks, placed with the photos in `inputs/` (the Map page keeps them there) when present.

    Raises:
        ValueError: the folder holds nothing to assess (the message names it).
    """
    from PIL import Image

    from seg_core.analytics.report import safe_stem
    from seg_core.gis.geojob import SUMMARY_SUFFIX
    from seg_core.imagery.camera import read_photo_geo
    from seg_core.imagery.imageio import ImageReadError, load_rgb

    folder = Path(folder)
    assessment = Assessment()
    for summary_path in sorted(folder.glob(f"*{SUMMARY_SUFFIX}")):
        summary = json.loads(summary_path.read_text())
        assessment += assess_class_raster(
            folder / summary["classes_tif"], scheme, model, Path(summary["input"])
        )
    flight = folder / "flight.csv"
    rows = list(csv.DictReader(io.StringIO(flight.read_text()))) if flight.is_file() else []
    for row in rows:  # the GSD the map used (the user's, else the photo's XMP), with its source
        name = row["name"]
        mask_path = folder / f"{safe_stem(name)}_mask.png"
        if not mask_path.is_file():
            continue
        with Image.open(mask_path) as png:
            mask = np.asarray(png, dtype=np.uint8)
        gsd = Gsd(float(row["gsd_cm"]), row["gsd_source"]) if row.get("gsd_cm") else None
        photo_path, geo, photo = folder / "inputs" / name, None, None
        if photo_path.is_file():
            try:
                geo = read_photo_geo(photo_path)
                photo = load_rgb(photo_path).pixels
            except ImageReadError as exc:
                assessment.notices.append(str(exc))
        assessment += assess_segmented_photo(name, mask, scheme, model, gsd, geo, None, photo)
    if not assessment.imagery:
        raise ValueError(f"{folder}: holds no mosaic summaries or photo masks to assess buildings in")
    return assessment
