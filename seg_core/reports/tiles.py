"""An optional XYZ tile background for the report's map, drawn under the footprints.

    background = TileBackground("https://tile.example/{z}/{x}/{y}.png", "© Example contributors")
    note = background.draw(ax, crs, xlim, ylim)   # "" when drawn, else one sentence for the caveats

The template names a slippy-map tile (Web Mercator, `{z}/{x}/{y}`; `{s}` becomes "a"): http(s)://
for a tile server, file:/// (or a plain path) for a folder of tiles on disk, which works offline.
A handful of tiles at a zoom chosen from the map's extent are fetched (short timeout, stop at the
first failure), mosaicked and resampled into the map's CRS. Any failure leaves the plain background
and returns the sentence the report prints among its caveats.
"""

from __future__ import annotations

import io
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TILE_PX = 256
MAX_TILES = 16  # per report: a handful, so a slow server costs seconds, not minutes
MAX_ZOOM = 19
TIMEOUT_S = 5.0
GRID_PX = 1024  # the resampled background's long side
USER_AGENT = "StormSeg situation report"
MERCATOR_HALF = 20037508.342789244  # metres from the centre to an edge of the Web Mercator square


class TileError(Exception):
    """Why the tile background could not be drawn, as a sentence."""


def tile_url(template: str, z: int, x: int, y: int) -> str:
    """The URL of one tile; a plain path becomes a file:// URL.

    Raises:
        TileError: the template lacks {z}, {x} or {y}, or names no http(s) or file source.
    """
    missing = [k for k in ("{z}", "{x}", "{y}") if k not in template]
    if missing:
        raise TileError(f"the tile URL '{template}' lacks {', '.join(missing)}")
    url = template.replace("{s}", "a").replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
    if url.startswith("/"):
        return Path(url).as_uri()
    if not url.startswith(("http://", "https://", "file://")):
        raise TileError(f"the tile URL '{template}' is neither http(s):// nor file:///")
    return url


def choose_zoom(lon0: float, lat0: float, lon1: float, lat1: float) -> int:
    """The deepest zoom at which the extent needs at most `MAX_TILES` tiles."""
    for z in range(MAX_ZOOM, -1, -1):
        (x0, y0), (x1, y1) = tile_index(lon0, lat1, z), tile_index(lon1, lat0, z)
        if (x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_TILES:
            return z
    return 0


def tile_index(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The tile holding (lon, lat) at zoom z (y counts down from the north)."""
    n = 2**z
    lat = max(min(lat, 85.0511), -85.0511)
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def _fetch(url: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - the user's tile source
            data = response.read()
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except urllib.error.HTTPError as exc:
        raise TileError(f"the tile server answered {exc.code} for {url}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TileError(f"{url} could not be read ({reason})") from None
    except (UnidentifiedImageError, ValueError):
        raise TileError(f"{url} is not an image") from None


def fetch_mosaic(template: str, lon0: float, lat0: float, lon1: float, lat1: float):
    """The tiles over the extent as one RGB array and its Web Mercator bounds (x0, y0, x1, y1)."""
    z = choose_zoom(lon0, lat0, lon1, lat1)
    (tx0, ty0), (tx1, ty1) = tile_index(lon0, lat1, z), tile_index(lon1, lat0, z)
    mosaic = np.zeros(((ty1 - ty0 + 1) * TILE_PX, (tx1 - tx0 + 1) * TILE_PX, 3), np.uint8)
    for ty in range(ty0, ty1 + 1):
        for tx in range(tx0, tx1 + 1):
            tile = _fetch(tile_url(template, z, tx, ty))
            if tile.shape[:2] != (TILE_PX, TILE_PX):
                from PIL import Image

                tile = np.asarray(Image.fromarray(tile).resize((TILE_PX, TILE_PX)))
            r, c = (ty - ty0) * TILE_PX, (tx - tx0) * TILE_PX
            mosaic[r : r + TILE_PX, c : c + TILE_PX] = tile
    west, _, _, north = tile_bounds(z, tx0, ty0)
    _, south, east, _ = tile_bounds(z, tx1, ty1)
    return mosaic, (west, south, east, north)


def tile_size_m(z: int) -> float:
    """The side of a zoom-z tile in Web Mercator metres."""
    return 2 * MERCATOR_HALF / 2**z


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator bounds (x0, y0, x1, y1) of tile z/x/y (y counted down from the north edge)."""
    size = tile_size_m(z)
    west, north = -MERCATOR_HALF + x * size, MERCATOR_HALF - y * size
    return west, north - size, west + size, north


@dataclass(frozen=True)
class TileBackground:
    """A tile source for the map: the URL template and the attribution the map must print."""

    template: str
    attribution: str = ""

    def credit(self) -> str:
        if self.attribution:
            return self.attribution
        host = self.template.split("//", 1)[-1].split("/", 1)[0] if "://" in self.template else ""
        if host.endswith("openstreetmap.org"):  # the attribution OSM's tile policy asks for
            return "© OpenStreetMap contributors"
        return f"Background tiles: {host or 'local folder'}"

    def draw(self, ax, crs, xlim: tuple, ylim: tuple) -> str:
        """Draw the tiles under the map; "" when drawn, else the caveat sentence."""
        try:
            image = self._resampled(crs, xlim, ylim)
        except TileError as exc:
            return f"The map's tile background was not drawn ({exc}): plain background instead."
        ax.imshow(image, extent=(*xlim, *ylim), origin="upper", interpolation="bilinear", zorder=0)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.text(  # bottom centre: the scale bar holds the left, the legend the right
            0.5,
            0.005,
            self.credit(),
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize=6,
            zorder=7,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1},
        )
        return ""

    def _resampled(self, crs, xlim: tuple, ylim: tuple) -> np.ndarray:
        """The tile mosaic resampled (nearest) onto a grid over the map's limits in its CRS."""
        from pyproj import Transformer

        to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lons, lats = to_lonlat.transform(
            [xlim[0], xlim[0], xlim[1], xlim[1]], [ylim[0], ylim[1], ylim[1], ylim[0]]
        )
        mosaic, (mx0, my0, mx1, my1) = fetch_mosaic(self.template, min(lons), min(lats), max(lons), max(lats))
        span_x, span_y = xlim[1] - xlim[0], ylim[1] - ylim[0]
        cols = GRID_PX if span_x >= span_y else max(1, round(GRID_PX * span_x / span_y))
        rows = GRID_PX if span_y > span_x else max(1, round(GRID_PX * span_y / span_x))
        xs = xlim[0] + (np.arange(cols) + 0.5) * span_x / cols
        ys = ylim[1] - (np.arange(rows) + 0.5) * span_y / rows  # row 0 at the top
        gx, gy = np.meshgrid(xs, ys)
        to_mercator = Transformer.from_crs(crs, "EPSG:3857", always_xy=True)
        mx, my = to_mercator.transform(gx.ravel(), gy.ravel())
        height, width = mosaic.shape[:2]
        c = np.clip(((np.asarray(mx) - mx0) / (mx1 - mx0) * width).astype(int), 0, width - 1)
        r = np.clip(((my1 - np.asarray(my)) / (my1 - my0) * height).astype(int), 0, height - 1)
        return mosaic[r, c].reshape(rows, cols, 3)
