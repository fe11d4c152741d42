"""The report's map: building footprints coloured by damage level (or flood status), the imagery's
outline, a legend, a scale bar and a north arrow, drawn with matplotlib as vectors.

Georeferenced buildings are drawn in the UTM zone of their centre (metres, so the scale bar is
true and the page can carry the CRS for a GIS); buildings of photos without a georeference are
drawn photo by photo in pixel coordinates, with a scale bar where the GSD is known and no north
arrow (their orientation is unknown). The background is plain, so the report works offline; a
georeferenced map draws XYZ tiles under the footprints where a tile source is set (`tiles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seg_core.buildings.grading import DAMAGE_CLASSES
from seg_core.buildings.records import BuildingRecord
from seg_core.reports.tiles import TileBackground
from seg_core.schemes.scheme import DAMAGE_LEVELS

# Green to dark red through yellow, FEMA's order; a grey for buildings no rule could grade.
DAMAGE_COLOURS = dict(
    zip(DAMAGE_LEVELS, ("#1a9850", "#d9ef8b", "#fee08b", "#fc8d59", "#b2182b"), strict=True)
)
NOT_GRADED_COLOUR = "#bdbdbd"
FLOOD_COLOURS = {"Flooded": "#2166ac", "Not flooded": "#f4a582", "Flood not assessed": NOT_GRADED_COLOUR}
BACKGROUND = "#f4f4f1"


@dataclass(frozen=True)
class MapFrame:
    """Where the drawn map lies, for the PDF's georeferencing: the axes' data limits in a CRS."""

    crs_wkt: str
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    to_latlon: object  # (x, y) arrays in the CRS -> (lat, lon) arrays
    background_note: str = ""  # why the tile background is missing, for the caveats

    def corners_latlon(self) -> list[tuple[float, float]]:
        """Bottom left, top left, top right, bottom right, as georeference_page wants them."""
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        lat, lon = self.to_latlon(np.array([x0, x0, x1, x1]), np.array([y0, y1, y1, y0]))
        return list(zip(lat.tolist(), lon.tolist(), strict=True))


def colour_of(record: BuildingRecord, by_damage: bool) -> str:
    if by_damage:
        return DAMAGE_COLOURS.get(record.grade.damage_level, NOT_GRADED_COLOUR)
    return FLOOD_COLOURS[_flood_label(record)]


def _flood_label(record: BuildingRecord) -> str:
    if record.grade.flooded is None:
        return "Flood not assessed"
    return "Flooded" if record.grade.flooded else "Not flooded"


def _patches(geometries, colours, edge: str = "#333333", width: float = 0.4):
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Polygon as Patch

    patches, faces = [], []
    for geometry, colour in zip(geometries, colours, strict=True):
        for polygon in getattr(geometry, "geoms", [geometry]):
            patches.append(Patch(np.asarray(polygon.exterior.coords), closed=True))
            faces.append(colour)
    return PatchCollection(patches, facecolors=faces, edgecolors=edge, linewidths=width)


def _nice_length(span: float) -> float:
    """A round scale bar length (1, 2 or 5 x 10^k) near a fifth of the span."""
    target = span / 5
    power = 10 ** math.floor(math.log10(target))
    return max(m * power for m in (1, 2, 5) if m * power <= target) if target >= power else power


def draw_scale_bar(ax, metres_per_unit: float = 1.0) -> None:
    """A two-segment black and white bar at the bottom left, labelled in metres."""
    from matplotlib.patches import Rectangle

    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    length_m = _nice_length(abs(x1 - x0) * metres_per_unit)
    length = length_m / metres_per_unit
    height = abs(y1 - y0) * 0.012
    left = x0 + (x1 - x0) * 0.04
    bottom = y0 + (y1 - y0) * 0.05
    for index, colour in enumerate(("black", "white")):
        ax.add_patch(
            Rectangle(
                (left + index * length / 2, bottom),
                length / 2,
                height * np.sign(y1 - y0),
                facecolor=colour,
                edgecolor="black",
                linewidth=0.6,
                zorder=5,
            )
        )
    label = f"{length_m:g} m" if length_m < 1000 else f"{length_m / 1000:g} km"
    ax.text(
        left + length,
        bottom + height * 2 * np.sign(y1 - y0),
        f"0 – {label}",
        ha="right",
        va="bottom",
        fontsize=7,
        zorder=5,
    )


def draw_north_arrow(ax, angle_deg: float) -> None:
    """An arrow at the top right pointing to true north (`angle_deg` clockwise from the map's up)."""
    angle = math.radians(angle_deg)
    dx, dy = 0.05 * math.sin(angle), 0.05 * math.cos(angle)
    ax.annotate(
        "",
        xy=(0.93 + dx / 2, 0.88 + dy / 2),
        xytext=(0.93 - dx / 2, 0.88 - dy / 2),
        xycoords="axes fraction",
        arrowprops={"arrowstyle": "-|>,head_width=0.35,head_length=0.7", "color": "black", "lw": 1.4},
        zorder=6,
    )
    ax.text(
        0.93 + dx * 0.75,
        0.88 + dy * 0.75,
        "N",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=9,
        fontweight="bold",
        zorder=6,
    )


def draw_legend(ax, records: list[BuildingRecord], by_damage: bool) -> None:
    from matplotlib.patches import Patch

    if by_damage:
        entries = list(DAMAGE_COLOURS.items())
        if any(r.grade.damage_level is None for r in records):
            entries.append(("Not graded", NOT_GRADED_COLOUR))
        title = "Damage level (FEMA)"
    else:
        entries = [(k, v) for k, v in FLOOD_COLOURS.items() if any(_flood_label(r) == k for r in records)]
        entries = entries or list(FLOOD_COLOURS.items())[:2]
        title = "Flood status"
    handles = [Patch(facecolor=c, edgecolor="#333333", label=n) for n, c in entries]
    ax.legend(handles=handles, title=title, loc="lower right", fontsize=7, title_fontsize=8, framealpha=0.92)


def _fit_limits(ax, x0: float, y0: float, x1: float, y1: float) -> tuple[tuple, tuple]:
    """Limits around (x0, y0, x1, y1) with the axes box's aspect ratio, so one unit is as long
    across as up (a true-scale map) and the whole box is used."""
    box = ax.get_position()
    size = ax.figure.get_size_inches()
    aspect = (box.width * size[0]) / (box.height * size[1])
    width, height = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    if width / height < aspect:
        width = height * aspect
    else:
        height = width / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - width / 2, cx + width / 2), (cy - height / 2, cy + height / 2)


def utm_crs(lon: float, lat: float) -> str:
    """The EPSG code of the WGS84 UTM zone holding lon/lat (north or south)."""
    zone = int((lon + 180) // 6) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def draw_georeferenced(
    ax, records: list[BuildingRecord], frames: list, by_damage: bool, tiles: TileBackground | None = None
) -> MapFrame:
    """Footprints (and the imagery's outlines) in the UTM zone of their centre, over `tiles` where
    set and readable; returns the frame."""
    import shapely
    from pyproj import CRS, Transformer

    lons = [r.longitude for r in records] or [f.centroid.x for f in frames]
    lats = [r.latitude for r in records] or [f.centroid.y for f in frames]
    crs = CRS.from_user_input(utm_crs(float(np.mean(lons)), float(np.mean(lats))))
    forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def project(geometry):
        return shapely.transform(geometry, lambda p: np.column_stack(forward.transform(p[:, 0], p[:, 1])))

    ax.set_facecolor(BACKGROUND)
    drawn_frames = [project(f) for f in frames]
    for frame in drawn_frames:
        for polygon in getattr(frame, "geoms", [frame]):
            x, y = polygon.exterior.xy
            ax.plot(x, y, color="#8c8c8c", linewidth=0.6, linestyle="--", zorder=1)
    footprints = [project(r.polygon_wgs84) for r in records]
    ax.add_collection(_patches(footprints, [colour_of(r, by_damage) for r in records]))
    everything = shapely.union_all([*footprints, *drawn_frames]) if footprints or drawn_frames else None
    x0, y0, x1, y1 = everything.bounds if everything is not None else (0, 0, 100, 100)
    pad = max(x1 - x0, y1 - y0, 50.0) * 0.06
    xlim, ylim = _fit_limits(ax, x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xticks([])
    ax.set_yticks([])
    note = tiles.draw(ax, crs, xlim, ylim) if tiles is not None else ""
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    lon, lat = back.transform(*centre)
    north = forward.transform(lon, lat + 0.001)
    draw_scale_bar(ax)
    draw_north_arrow(ax, math.degrees(math.atan2(north[0] - centre[0], north[1] - centre[1])))
    draw_legend(ax, records, by_damage)

    def to_latlon(x, y):
        lon, lat = back.transform(x, y)
        return np.asarray(lat), np.asarray(lon)

    return MapFrame(crs.to_wkt(), ax.get_xlim(), ax.get_ylim(), to_latlon, note)


def draw_photo(ax, records: list[BuildingRecord], image: dict, by_damage: bool) -> None:
    """One photo's footprints in its pixel coordinates (y down), its frame, a scale bar if its GSD is known."""
    width, height = image.get("size") or (1, 1)
    ax.set_facecolor(BACKGROUND)
    ax.plot(
        [0, width, width, 0, 0], [0, 0, height, height, 0], color="#8c8c8c", linewidth=0.6, linestyle="--"
    )
    ax.add_collection(_patches([r.polygon_px for r in records], [colour_of(r, by_damage) for r in records]))
    xlim, ylim = _fit_limits(ax, 0, 0, width, height)
    ax.set_xlim(*xlim)
    ax.set_ylim(ylim[1], ylim[0])  # rows run down
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(image["name"], fontsize=7)
    if image.get("metres_per_px"):
        draw_scale_bar(ax, image["metres_per_px"])


def uses_damage_colours(records: list[BuildingRecord]) -> bool:
    return any(r.grade.damage_basis == DAMAGE_CLASSES for r in records)
