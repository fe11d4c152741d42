"""Synthetic aerial photos of flooded suburbs in the Hurricane Harvey layout (demo data).

A scene is planned once in metres (streets, lots, houses, trees, a bayou, the flood) from a
random generator, then drawn at whatever pixel size is asked for: a 4000x3000 image covers about
120 m x 90 m (Harvey drones flew at ~3 cm/px) and a 640x480 image the same ground at lower
resolution. Every labelled shape is drawn with the same PIL polygon on the photo and on the
class-id mask, so masks are pixel-exact; details that keep the label below them (ridge lines,
windscreens, lane markings) are drawn on the photo only, and so are shadows (shadow is not a
class). Colours deliberately overlap between classes (flood water vs bayou vs murky pool, grey
roofs vs asphalt, dark roofs vs shadow) so a model has to use shape and context.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from seg_core.data.classes import NUM_CLASSES

(BACKGROUND, ROOF, SHED, POOL, VEHICLE, GRASS, TREE, SOLAR, CHIMNEY, STREET_LIGHT, WINDOW, ANTENNA, BINS,
 TRAMPOLINE, ROAD, CONSTRUCTION, POWER_LINE, TANK, PARKING, SPORTS, INDUSTRIAL, FOREST, WATER_BODY, FLOODED,
 BOAT) = range(NUM_CLASSES)  # fmt: skip

SCENE_AREA_M2 = 120.0 * 90.0  # ground covered by every scene, whatever its pixel size
MIN_SIDE_PX, MAX_SIDE_PX = 64, 8000  # below 64 px nothing is recognisable; above 8000 memory explodes
ROAD_DIP = 0.45  # streets sit lower than yards, so they flood first (as in the Harvey footage)
# Ground that the flood covers; roofs, sheds, vehicles, trees, forest and the bayou stay visible.
FLOODABLE = (BACKGROUND, GRASS, POOL, BINS, TRAMPOLINE, ROAD, PARKING, SPORTS, INDUSTRIAL)

ROOF_COLORS = ((72, 72, 76), (98, 96, 94), (126, 124, 120), (150, 148, 142), (112, 92, 74), (146, 128, 104),
               (136, 84, 64), (92, 102, 112), (180, 178, 170))  # fmt: skip
TREE_GREENS = ((46, 68, 34), (62, 84, 40), (80, 98, 48), (56, 76, 52), (92, 104, 60))
CAR_COLORS = ((222, 222, 220), (172, 174, 178), (32, 32, 36), (60, 62, 66), (148, 32, 30), (36, 58, 118),
              (120, 120, 118), (186, 172, 140))  # fmt: skip
FLOOD_COLORS = ((128, 112, 82), (112, 106, 90), (104, 108, 80), (120, 104, 76))
WATER_COLORS = ((60, 70, 52), (80, 76, 58), (52, 62, 60))  # deep water: darker than the flood, mostly
# Relative luminance noise per class at three ground scales (0.15 m, 0.8 m, 5 m): grass and canopies
# are mottled, asphalt grainy, water smooth with broad sheen.
TEXTURE = np.full((NUM_CLASSES, 3), (0.03, 0.01, 0.01), dtype=np.float32)
for _cls, _amp in {BACKGROUND: (0.05, 0.04, 0.05), ROOF: (0.06, 0.025, 0.03), GRASS: (0.09, 0.07, 0.05),
                   TREE: (0.13, 0.16, 0.05), ROAD: (0.05, 0.025, 0.05), FOREST: (0.13, 0.22, 0.08),
                   WATER_BODY: (0.012, 0.02, 0.05), FLOODED: (0.015, 0.03, 0.06), PARKING: (0.05, 0.02, 0.04),
                   INDUSTRIAL: (0.08, 0.05, 0.06), CONSTRUCTION: (0.07, 0.03, 0.02)}.items():  # fmt: skip
    TEXTURE[_cls] = _amp


@dataclass(frozen=True)
class _Op:
    """One drawing instruction in ground metres (x right, y down)."""

    kind: str  # "poly" | "line" | "shadow"
    pts: np.ndarray  # (N, 2) metres
    cls: int | None  # class drawn on the mask; None = photo-only detail that keeps the label below
    color: tuple[int, int, int] | None = None
    width: float = 0.0  # line width in metres


@dataclass(frozen=True)
class ScenePlan:
    """A scene in ground metres, independent of the pixel size it is drawn at."""

    world_size: tuple[float, float]  # (width, height) in metres; area is SCENE_AREA_M2
    ground: tuple[_Op, ...]  # yards, drawn first; the flood may cover them
    waterside: tuple[_Op, ...]  # water bodies and woods, over the yards
    roads: tuple[_Op, ...]  # over everything on the ground
    bridged: tuple[_Op, ...]  # outline of the bayou/pond with banks: roads there are bridges
    objects: tuple[_Op, ...]  # drawn after the flood (roofs, vehicles, trees, boats, wires)
    elevation: np.ndarray  # (gh, gw) coarse terrain height over the world, arbitrary units
    flood_level: float  # floodable ground below this elevation is Flooded
    colors: dict[str, tuple[int, int, int]]  # scene palette: grass, flood water
    shadow_strength: float  # 0 = overcast, 0.6 = hard sun


@dataclass(frozen=True)
class DemoDatasetSummary:
    """What `write_demo_dataset` wrote."""

    root: Path
    n_train: int
    n_test: int
    size: tuple[int, int]  # (width, height) px
    class_pixel_counts: tuple[int, ...]  # NUM_CLASSES pixel counts over the train masks


# --- geometry helpers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """A local 2-D frame on the ground: point (x, y) sits at origin + x*ex + y*ey (metres)."""

    origin: np.ndarray
    ex: np.ndarray
    ey: np.ndarray

    def pts(self, xy) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return self.origin + xy[:, :1] * self.ex + xy[:, 1:] * self.ey

    def rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        return self.pts([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def child(self, x: float, y: float, angle: float = 0.0) -> _Frame:
        c, s = math.cos(angle), math.sin(angle)
        return _Frame(self.pts([(x, y)])[0], c * self.ex + s * self.ey, -s * self.ex + c * self.ey)


def _unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def _blobs(rng: np.random.Generator, centres, radii, rough: float = 0.12, n: int = 20) -> np.ndarray:
    """(k, n, 2) roundish polygons whose radius wobbles by about `rough` (canopies, ponds, clumps)."""
    angles = _CIRCLES.get(n)
    if angles is None:
        angles = _CIRCLES[n] = np.linspace(0, 2 * np.pi, n, endpoint=False)
    centres, radii = np.asarray(centres, float).reshape(-1, 2), np.asarray(radii, float).reshape(-1, 1)
    amp, phase = rng.uniform(-1, 1, (len(radii), 3, 1)), rng.uniform(0, 6.3, (len(radii), 3, 1))
    wobble = (amp * np.sin(np.array([2, 3, 5])[:, None] * angles + phase)).sum(1) / 3
    r = radii * (1 + rough * wobble)
    return centres[:, None, :] + np.stack([r * np.cos(angles), r * np.sin(angles)], axis=-1)


def _blob(rng: np.random.Generator, centre, radius: float, rough: float = 0.12, n: int = 20) -> np.ndarray:
    return _blobs(rng, centre, radius, rough, n)[0]


_CIRCLES: dict[int, np.ndarray] = {}  # vertex angles per polygon size (blobs are drawn by the thousand)


def _rounded_rect(f: _Frame, half_x: float, half_y: float, r: float, n: int = 5) -> np.ndarray:
    corners = ((half_x - r, half_y - r, 0), (-half_x + r, half_y - r, 1), (-half_x + r, -half_y + r, 2),
               (half_x - r, -half_y + r, 3))  # fmt: skip
    pts = [(cx + r * math.cos(a), cy + r * math.sin(a)) for cx, cy, q in corners
           for a in np.linspace(q * np.pi / 2, (q + 1) * np.pi / 2, n)]  # fmt: skip
    return f.pts(pts)


def _ribbon(line: np.ndarray, width: float) -> np.ndarray:
    """A wide polyline as one polygon (PIL's wide lines leave slivers between segments)."""
    d = np.gradient(line, axis=0)
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.linalg.norm(d, axis=1, keepdims=True)
    return np.vstack([line + normal * width / 2, (line - normal * width / 2)[::-1]])


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain): the shadow of a box is the hull of its base and its offset top."""
    pts = sorted({(round(x, 6), round(y, 6)) for x, y in points})

    def half(seq):
        out: list = []
        for p in seq:
            while (
                len(out) >= 2
                and (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])
                <= 0
            ):
                out.pop()
            out.append(p)
        return out

    return np.array(half(pts)[:-1] + half(pts[::-1])[:-1])


def _polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance (metres) from each of N points to a polyline of M vertices."""
    a, ab = line[:-1], np.diff(line, axis=0)
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9), 0, 1)
    return np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(axis=1)


def _bilinear(grid: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Sample a grid whose cell i is centred at i + 0.5 (PIL's resize convention), edges clamped."""
    h, w = grid.shape
    fx, fy = np.clip(gx - 0.5, 0, w - 1), np.clip(gy - 0.5, 0, h - 1)
    x0, y0 = np.minimum(fx.astype(int), max(w - 2, 0)), np.minimum(fy.astype(int), max(h - 2, 0))
    tx, ty = fx - x0, fy - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    top = grid[y0, x0] * (1 - tx) + grid[y0, x1] * tx
    return top * (1 - ty) + (grid[y1, x0] * (1 - tx) + grid[y1, x1] * tx) * ty


def _tone(rng: np.random.Generator, rgb, spread: float = 10.0) -> tuple[int, int, int]:
    """A colour near `rgb`: shared brightness jitter plus a little per-channel tint."""
    c = np.asarray(rgb, float) + rng.normal(0, spread) + rng.normal(0, spread * 0.3, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _scale(rgb, factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, v * factor))) for v in rgb)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


# --- planning: the scene in metres ----------------------------------------------------------------


class _Planner:
    """Lays out one neighbourhood; every random draw happens here or in `render_scene`'s textures."""

    def __init__(self, rng: np.random.Generator, world_w: float, world_h: float):
        self.rng, self.w, self.h = rng, world_w, world_h
        self.centre = np.array([world_w / 2, world_h / 2])
        self.reach = 0.5 * math.hypot(world_w, world_h) + 10  # streets run past every corner
        self.ground: list[_Op] = []  # yards: sidewalks, driveways, pools, fences
        self.waterside: list[_Op] = []  # bayou, pond, woods: cover yards; roads over them are bridges
        self.roads: list[_Op] = []
        self.bridged: list[_Op] = []
        self.structures: list[_Op] = []
        self.boats: list[_Op] = []
        self.canopy: list[_Op] = []
        self.overhead: list[_Op] = []
        sun_az = rng.uniform(0, 2 * np.pi)
        self.to_sun = _unit(sun_az)
        self.shadow_vec = -self.to_sun * rng.uniform(0.3, 0.9)  # ground offset per metre of height
        self.keep_out: list[tuple[np.ndarray, float]] = []  # circles no lot may touch
        self.water_line: np.ndarray | None = None
        self.water_half = 0.0
        self.ponds: list[tuple[np.ndarray, float]] = []
        self.fences = False  # set per scene in streets()
        self.colors = {
            "grass_lush": _tone(rng, (88, 118, 56), 10), "grass_dry": _tone(rng, (132, 132, 82), 12),
            "flood_a": _tone(rng, _pick(rng, FLOOD_COLORS), 8), "flood_b": _tone(rng, _pick(rng, FLOOD_COLORS), 8),
        }  # fmt: skip
        self.road = _tone(rng, (152, 150, 144), 8) if rng.random() < 0.25 else _tone(rng, (96, 96, 98), 12)
        self.concrete = _tone(rng, (168, 164, 154), 8)
        self.water = _tone(rng, _pick(rng, WATER_COLORS), 8)

    # drawing-list helpers
    def poly(self, layer: list, pts, cls: int | None, color) -> None:
        layer.append(_Op("poly", np.asarray(pts, float), cls, color))

    def line(self, layer: list, pts, width: float, cls: int | None, color) -> None:
        layer.append(_Op("line", np.asarray(pts, float), cls, color, width))

    def shadow(self, layer: list, pts: np.ndarray, height: float, base: float = 0.0) -> None:
        """Shadow of a shape spanning base..height metres above ground: the hull of both projections."""
        low, high = pts + self.shadow_vec * base, pts + self.shadow_vec * height
        layer.append(_Op("shadow", _hull(np.vstack([low, high])), None))

    def inside(self, p: np.ndarray, margin: float) -> bool:
        return -margin <= p[0] <= self.w + margin and -margin <= p[1] <= self.h + margin

    def blocked(self, p: np.ndarray, radius: float) -> bool:
        if any(np.linalg.norm(p - c) < radius + r for c, r in self.keep_out):
            return True
        line = self.water_line
        return line is not None and _polyline_distance(p[None], line)[0] < radius + self.water_half

    def elevation_at(self, p: np.ndarray) -> float:
        gh, gw = self.elevation.shape
        return float(_bilinear(self.elevation, p[0] * gw / self.w, p[1] * gh / self.h))

    def submerged(self, p: np.ndarray, on_road: bool, depth: float) -> bool:
        """Whether the flood at p is deeper than `depth` (bridges over the water stay dry)."""
        over_water = any(np.linalg.norm(p - c) < r + 2 for c, r in self.ponds) or (
            self.water_line is not None and _polyline_distance(p[None], self.water_line)[0] < self.water_half
        )
        if on_road and over_water:
            return False
        return self.elevation_at(p) - (ROAD_DIP if on_road else 0.0) < self.flood_level - depth

    # scene parts
    def water_and_forest(self) -> None:
        rng = self.rng
        kind = rng.random()
        if kind < 0.35:  # a bayou meandering across the scene, crossed by the streets on bridges
            d = _unit(rng.uniform(0, np.pi))
            perp = np.array([-d[1], d[0]])
            t = np.arange(-self.reach, self.reach + 3, 3.0)
            amp, lam, ph = (
                rng.uniform(3, 7),
                rng.uniform(80, 130),
                rng.uniform(0, 6.3),
            )  # bends wider than the banks
            p0 = self.centre + perp * rng.uniform(-0.3, 0.3) * min(self.w, self.h)
            pts = p0 + t[:, None] * d + (amp * np.sin(2 * np.pi * t / lam + ph))[:, None] * perp
            width = rng.uniform(8, 16)
            bank = width + 2 * (rng.uniform(6, 12) if rng.random() < 0.55 else rng.uniform(1.5, 3))
            bank_cls = FOREST if bank - width > 8 else BACKGROUND
            bank_color = _tone(rng, (40, 62, 34), 6) if bank_cls == FOREST else _tone(rng, (122, 108, 80), 8)
            self.poly(self.waterside, _ribbon(pts, bank), bank_cls, bank_color)
            if bank_cls == FOREST:  # crowns along the banks; the water drawn next covers the middle
                step = int(max(1, len(pts) // 80))
                for q in pts[::step]:
                    for _ in range(3):
                        off = perp * rng.uniform(-1, 1) * (bank / 2 - 2.2) + d * rng.uniform(-1.5, 1.5)
                        self._clumps(self.waterside, q + off, 1.8, _tone(rng, bank_color, 5), 2)
            self.poly(self.waterside, _ribbon(pts, width), WATER_BODY, self.water)
            self.water_line, self.water_half = pts, bank / 2
            self.bridged.append(self.waterside[0])
        elif kind < 0.55:  # a retention pond
            c, r = np.array([rng.uniform(0, self.w), rng.uniform(0, self.h)]), rng.uniform(8, 14)
            rim = _blob(rng, c, r + 2)
            self.poly(self.waterside, rim, BACKGROUND, _tone(rng, (122, 108, 80), 8))
            self.poly(self.waterside, c + (rim - c) * r / (r + 2), WATER_BODY, self.water)
            self.keep_out.append((c, r + 4))
            self.bridged.append(self.waterside[0])
            self.ponds.append((c, r))
        if rng.random() < 0.25:  # a patch of dense woods where no lots were built
            c0 = np.array([rng.uniform(0, self.w), rng.uniform(0, self.h)])
            color = _tone(rng, (40, 62, 34), 6)
            for _ in range(int(rng.integers(3, 7))):
                c, r = c0 + rng.normal(0, 10, 2), rng.uniform(7, 13)
                self.poly(self.waterside, _blob(rng, c, r, 0.2), FOREST, color)
                for _ in range(int(r * r / 2)):  # crowns packed inside the patch
                    q = c + _unit(rng.uniform(0, 2 * np.pi)) * r * math.sqrt(rng.uniform(0, 0.5))
                    self._clumps(self.waterside, q, 1.8, _tone(rng, color, 5), 2)
                self.keep_out.append((c, r))

    def terrain(self) -> None:
        """Coarse ground height; low ground near the water, the flood line is a contour of it."""
        rng = self.rng
        gw, gh = max(2, round(self.w / 2)), max(2, round(self.h / 2))
        xs, ys = np.meshgrid((np.arange(gw) + 0.5) * self.w / gw, (np.arange(gh) + 0.5) * self.h / gh)
        elev = np.zeros((gh, gw))
        for cell, amp in ((30.0, 1.0), (10.0, 0.45), (4.0, 0.12)):
            grid = rng.standard_normal((int(self.h / cell) + 2, int(self.w / cell) + 2))
            elev += amp * _bilinear(grid, xs / cell, ys / cell)
        if self.water_line is not None:
            dist = _polyline_distance(np.c_[xs.ravel(), ys.ravel()], self.water_line).reshape(xs.shape)
            elev -= 1.6 * np.exp(-((dist / (self.water_half + 20)) ** 2))
        for c, r in self.ponds:
            elev -= 1.4 * np.exp(-((np.hypot(xs - c[0], ys - c[1]) / (r + 15)) ** 2))
        self.elevation = elev
        self.flood_level = float(np.quantile(elev, rng.uniform(0.12, 0.6)))

    def streets(self) -> None:
        rng = self.rng
        if rng.random() < 0.6:
            theta = float(_pick(rng, (0.0, np.pi / 2)) + rng.normal(0, 0.08))
        else:
            theta = rng.uniform(0, np.pi)
        u, v = _unit(theta), _unit(theta + np.pi / 2)
        R, rw, depth = self.reach, rng.uniform(7, 10), rng.uniform(25, 33)
        spacing = rw + 2 * depth
        ds = [
            d
            for d in np.arange(-R - spacing, R + spacing, spacing) + rng.uniform(0, spacing)
            if abs(d) < R + depth
        ]
        cross = rng.uniform(-0.35, 0.35) * R if rng.random() < 0.5 else None
        base = _Frame(self.centre, u, v)
        style = _pick(rng, ("none", "yellow", "dashed"))
        sidewalks, lights, wires = rng.random() < 0.6, rng.random() < 0.35, rng.random() < 0.4
        street_trees, self.fences = rng.random() < 0.35, rng.random() < 0.5
        # a commercial/industrial/sports strip replaces ~56 m of lots on one side of the middle street
        commercial = (int(np.argmin(np.abs(ds))), _pick(rng, (-1, 1))) if rng.random() < 0.3 else None
        commercial_at = rng.uniform(-30, 30)
        if sidewalks:
            self._sidewalks(base, ds, cross, rw)
        for d in ds:
            self.poly(self.roads, base.rect(-R, R, d - rw / 2, d + rw / 2), ROAD, self.road)
        if cross is not None:
            self.poly(self.roads, base.rect(cross - rw / 2, cross + rw / 2, -R, R), ROAD, self.road)
            self._markings(base.child(cross, 0, np.pi / 2), rw, style, [(d - rw / 2, d + rw / 2) for d in ds])
        for k, d in enumerate(ds):
            street = base.child(0, d)
            self._markings(street, rw, style, [] if cross is None else [(cross - rw / 2, cross + rw / 2)])
            self._traffic(street, rw)
            if wires:  # rear-easement power lines, three wires
                for off in (0.0, 0.5, 1.0):
                    y = rw / 2 + depth + off
                    self.line(self.overhead, street.pts([(-R, y), (R, y)]), 0.1, POWER_LINE, (38, 38, 40))
            for s in (-1, 1):
                side = _Frame(street.pts([(0, s * rw / 2)])[0], u, v * s)  # y points away from the road
                strip = commercial_at if commercial == (k, s) else None
                self._street_side(side, self._lot_spans(cross, rw), depth, lights, street_trees, strip)

    def _sidewalks(self, base: _Frame, ds: list[float], cross: float | None, rw: float) -> None:
        R = self.reach
        for d in ds:
            for s in (-1, 1):
                edge = d + s * rw / 2
                self.poly(
                    self.ground,
                    base.rect(-R, R, *sorted((edge + s * 1.2, edge + s * 2.4))),
                    BACKGROUND,
                    self.concrete,
                )
        if cross is not None:
            for s in (-1, 1):
                e = cross + s * rw / 2
                self.poly(
                    self.ground,
                    base.rect(*sorted((e + s * 1.2, e + s * 2.4)), -R, R),
                    BACKGROUND,
                    self.concrete,
                )

    def _street_side(
        self, side: _Frame, spans, depth: float, lights: bool, trees: bool, strip: float | None
    ) -> None:
        """Everything along one side of a street: street lights, verge trees, lots or a commercial strip."""
        rng, R = self.rng, self.reach
        if lights:
            for a in np.arange(-R + rng.uniform(0, 40), R, rng.uniform(30, 45)):
                self._street_light(side.pts([(a, 0.6)])[0], -side.ey)
        if trees:
            for a in np.arange(-R + rng.uniform(0, 15), R, rng.uniform(12, 20)):
                p = side.pts([(a, 0.6)])[0]
                if self.inside(p, 4) and not self.blocked(p, 2):
                    self._tree(p, rng.uniform(2, 4), rng.uniform(5, 9))
        if strip is not None:
            self._commercial(side.child(strip, 0), 56.0, depth)
        for a0, a1 in spans:
            if strip is not None and abs((a0 + a1) / 2 - strip) < 38:
                continue  # the strip replaces these lots
            f = side.child((a0 + a1) / 2, 0)
            centre = f.pts([(0, depth / 2)])[0]
            if self.inside(centre, 20) and not self.blocked(centre, 0.45 * math.hypot(a1 - a0, depth)):
                self._lot(f, a1 - a0, depth)

    def _lot_spans(self, cross: float | None, rw: float) -> list[tuple[float, float]]:
        """Lot boundaries along one street side, tiled outward from the cross street if any."""
        rng, R = self.rng, self.reach

        def tile(start: float, stop: float, step_sign: int) -> list[tuple[float, float]]:
            out, a = [], start
            while (stop - a) * step_sign > 0:
                w = rng.uniform(15, 22)
                out.append(tuple(sorted((a, a + step_sign * w))))
                a += step_sign * w
            return out

        if cross is None:
            return tile(-R - rng.uniform(0, 20), R, 1)
        return tile(cross + rw / 2 + 3, R, 1) + tile(cross - rw / 2 - 3, -R, -1)

    def _markings(self, street: _Frame, rw: float, style: str, gaps: list[tuple[float, float]]) -> None:
        """Gutters and lane markings along a street frame (x along the road), broken at crossings."""
        R, spans, a = self.reach, [], -self.reach
        for g0, g1 in sorted(gaps):
            spans.append((a, g0))
            a = g1
        spans.append((a, R))
        for a0, a1 in spans:
            for s in (-1, 1):
                self.line(self.roads, street.pts([(a0, s * (rw / 2 - 0.2)), (a1, s * (rw / 2 - 0.2))]), 0.35, None,
                          _scale(self.road, 1.25))  # fmt: skip
            if style == "yellow":
                for y in (-0.15, 0.15):
                    self.line(self.roads, street.pts([(a0, y), (a1, y)]), 0.12, None, (196, 170, 70))
            elif style == "dashed":
                for x in np.arange(a0 + 1, a1 - 3, 9.0):
                    self.line(self.roads, street.pts([(x, 0), (x + 3, 0)]), 0.14, None, (215, 215, 210))

    def _traffic(self, street: _Frame, rw: float) -> None:
        """Cars parked at the kerb or in lanes (not where the water is deep), boats on flooded stretches."""
        rng = self.rng
        for _ in range(int(rng.poisson(4))):
            parked = rng.random() < 0.6
            s = _pick(rng, (-1, 1))
            p = street.pts(
                [(rng.uniform(-self.reach, self.reach), s * (rw / 2 - 1.2 if parked else rw / 4))]
            )[0]
            if self.inside(p, 3) and not self.submerged(p, True, 0.2):
                self._vehicle(p, street.ex * (s if not parked else _pick(rng, (-1, 1))))
        spots = [p for p in street.pts([(a, 0) for a in np.arange(-self.reach, self.reach, 4.0)])
                 if self.inside(p, -2) and self.submerged(p, True, 0.35)]  # fmt: skip
        rng.shuffle(spots)
        placed: list[np.ndarray] = []
        for p in spots[: int(rng.integers(0, 3))]:
            if all(np.linalg.norm(p - q) > 10 for q in placed):
                placed.append(p)
                heading = street.ex * _pick(rng, (-1, 1)) + rng.normal(0, 0.2, 2)
                self._boat(p + rng.normal(0, 0.8, 2), heading / np.linalg.norm(heading))

    def _lot(self, f: _Frame, lw: float, depth: float) -> None:
        """One house lot: f has x along the street, y from the kerb-side lot line into the lot."""
        rng = self.rng
        fs = rng.uniform(5.5, 9.0)  # front setback
        if rng.random() < 0.04:
            self._construction(f, lw, fs)
            return
        hw, hd = min(lw - 2 * rng.uniform(1.5, 3.0), 19.0), rng.uniform(9.0, min(15.0, depth - fs - 5.0))
        hx, g = rng.uniform(-0.5, 0.5) * (lw - hw - 3.0), _pick(rng, (-1.0, 1.0))  # g: garage side
        house = f.child(hx, fs + hd / 2, rng.normal(0, 0.02))
        parts, front = [(house, hw / 2, hd / 2)], fs
        if rng.random() < 0.4:  # L-shaped: a garage wing reaching toward the street
            ww, ext = rng.uniform(5.5, 7.0), rng.uniform(3.0, 6.0)
            y0, y1 = -hd / 2 - ext, 0.0
            parts.append((house.child(g * (hw / 2 - ww / 2), (y0 + y1) / 2), ww / 2, (y1 - y0) / 2))
            front = fs - ext
        dw = rng.uniform(3.2, 5.8)
        dx = hx + g * (hw / 2 - dw / 2 - rng.uniform(0, 1.0))
        self.poly(self.ground, f.rect(dx - dw / 2, dx + dw / 2, 0.0, front + 0.3), BACKGROUND, self.concrete)
        if rng.random() < 0.3:  # wheelie bins out on the kerb
            for i in range(int(rng.integers(1, 3))):
                bx = dx + g * (dw / 2 + 0.6 + 0.85 * i)
                color = _tone(rng, _pick(rng, ((40, 78, 48), (70, 72, 76), (34, 60, 120), (28, 28, 30))), 5)
                self.poly(self.ground, f.rect(bx - 0.3, bx + 0.3, 0.3, 1.0), BINS, color)
        for slot in range(2 if dw > 5 else 1):
            if rng.random() < 0.45 and front > 5.6:
                p = f.pts([(dx + (slot - 0.5) * 2.6 * (dw > 5), rng.uniform(2.8, max(2.9, front - 2.6)))])[0]
                self._vehicle(p, f.ey * _pick(rng, (-1, 1)))
        self._roof(parts, _tone(rng, _pick(rng, ROOF_COLORS), 8), ROOF, rng.uniform(4, 7), rng.random() < 0.7)
        self._backyard(f, lw, depth, fs + hd)
        yard_spots = [
            (rng.uniform(-lw / 2, lw / 2), rng.uniform(0.5, depth)) for _ in range(int(rng.integers(0, 4)))
        ]
        for x, y in yard_spots:
            r = rng.uniform(2.0, 5.0)
            if abs(x - hx) > hw / 2 + 0.4 * r or not front - 0.4 * r < y < fs + hd + 0.4 * r:
                self._tree(f.pts([(x, y)])[0], r, rng.uniform(5, 12))
        for _ in range(int(rng.integers(0, 4))):  # shrubs along the front of the house
            self._tree(
                f.pts([(hx + rng.uniform(-hw / 2, hw / 2), front - rng.uniform(0.5, 1.0))])[0],
                rng.uniform(0.6, 1.3),
                1.5,
            )

    def _backyard(self, f: _Frame, lw: float, depth: float, back: float) -> None:
        rng, pool = self.rng, None
        if depth - back >= 9 and rng.random() < 0.3:
            pl, pw = min(rng.uniform(6, 10), lw - 5), rng.uniform(3.5, 5)
            px = rng.uniform(-1, 1) * (lw / 2 - pl / 2 - 2)
            py = rng.uniform(back + 1.5 + pw / 2, depth - 1.5 - pw / 2)
            pf = f.child(px, py)
            self.poly(
                self.ground, _rounded_rect(pf, pl / 2 + 1.2, pw / 2 + 1.2, 0.6), BACKGROUND, self.concrete
            )
            murky = rng.random() < 0.3  # storm-fouled pools look like flood water
            color = _tone(rng, (100, 104, 78) if murky else (80, 178, 200), 10)
            self.poly(self.ground, _rounded_rect(pf, pl / 2, pw / 2, 0.8), POOL, color)
            self.poly(
                self.ground, _rounded_rect(pf, pl / 2 - 0.7, pw / 2 - 0.7, 0.5), None, _scale(color, 0.9)
            )
            pool = (px, py, pl, pw)
        elif depth - back >= 7 and rng.random() < 0.08:
            tf = f.child(rng.uniform(-1, 1) * (lw / 2 - 3), rng.uniform(back + 2.5, depth - 2.5))
            r = rng.uniform(1.8, 2.3)
            self.poly(self.ground, _blob(rng, tf.origin, r, 0), TRAMPOLINE, _tone(rng, (40, 80, 160), 15))
            self.poly(self.ground, _blob(rng, tf.origin, r - 0.35, 0), None, (26, 26, 30))
        if rng.random() < 0.35:  # a shed in a back corner
            sw, sd = rng.uniform(2.5, 4.0), rng.uniform(3.0, 5.0)
            sx, sy = _pick(rng, (-1, 1)) * (lw / 2 - sw / 2 - 0.8), depth - sd / 2 - 0.8
            if (
                pool is None
                or abs(sx - pool[0]) > (sw + pool[2]) / 2 + 1.5
                or abs(sy - pool[1]) > (sd + pool[3]) / 2 + 1.5
            ):
                color = _tone(
                    rng, _pick(rng, ((160, 160, 158), (120, 100, 80), (110, 122, 104), (176, 170, 150))), 8
                )
                self._roof([(f.child(sx, sy, rng.normal(0, 0.05)), sw / 2, sd / 2)], color, SHED, 2.5, False)
        if self.fences:
            wood = (118, 96, 70)
            for x in (-lw / 2, lw / 2):
                self.line(self.ground, f.pts([(x, back), (x, depth)]), 0.15, BACKGROUND, wood)
            self.line(
                self.ground, f.pts([(-lw / 2, depth - 0.1), (lw / 2, depth - 0.1)]), 0.15, BACKGROUND, wood
            )

    def _roof(self, parts: list, color, cls: int, height: float, hip: bool) -> None:
        """Hip or gable roof over rectangles (frame, half_x, half_y), lit from the sun's side."""
        norm: list[tuple[_Frame, float, float]] = []
        for fr, a, b in parts:  # long axis along x
            norm.append((fr, a, b) if a >= b else (fr.child(0, 0, np.pi / 2), b, a))
        for fr, a, b in norm:  # all shadows first, so one wing does not shade the other
            self.shadow(self.structures, fr.rect(-a, a, -b, b), height)
        for fr, a, b in norm:
            self.poly(self.structures, fr.rect(-a, a, -b, b), cls, color)
            r = a - b if hip else a  # ridge half-length
            facets = [
                ([(-a, -b), (a, -b), (r, 0), (-r, 0)], -fr.ey),
                ([(a, b), (-a, b), (-r, 0), (r, 0)], fr.ey),
            ]
            if hip:
                facets += [([(a, -b), (a, b), (r, 0)], fr.ex), ([(-a, b), (-a, -b), (-r, 0)], -fr.ex)]
            for pts, normal in facets:
                self.poly(
                    self.structures, fr.pts(pts), None, _scale(color, 1 + 0.3 * float(normal @ self.to_sun))
                )
            ridge = _scale(color, 1.2)
            self.line(self.structures, fr.pts([(-r, 0), (r, 0)]), 0.18, None, ridge)
            if hip:
                for sx in (-1, 1):
                    for sy in (-1, 1):
                        self.line(self.structures, fr.pts([(sx * a, sy * b), (sx * r, 0)]), 0.12, None, ridge)
        if cls == ROOF:
            self._roof_details(*norm[0])

    def _roof_details(self, fr: _Frame, a: float, b: float) -> None:
        rng = self.rng
        if rng.random() < 0.15 and a - 0.8 * b >= 2.2:  # solar array on the sunny slope
            sgn = 1 if fr.ey @ self.to_sun > 0 else -1
            x1, (y0, y1) = a - 0.8 * b - 0.3, sorted((sgn * 0.22 * b, sgn * 0.82 * b))
            panel = _tone(rng, (30, 38, 66), 5)
            self.poly(self.structures, fr.rect(-x1, x1, y0, y1), SOLAR, panel)
            for x in np.arange(-x1 + 1.0, x1 - 0.5, 1.0):
                self.line(self.structures, fr.pts([(x, y0), (x, y1)]), 0.05, None, _scale(panel, 1.8))
            self.line(
                self.structures,
                fr.pts([(-x1, (y0 + y1) / 2), (x1, (y0 + y1) / 2)]),
                0.05,
                None,
                _scale(panel, 1.8),
            )
        if rng.random() < 0.3 and a > 1.6:  # chimney
            cx, cy, s = rng.uniform(-(a - 1.2), a - 1.2), rng.uniform(-0.6, 0.6) * b, rng.uniform(0.35, 0.65)
            sq = fr.rect(cx - s, cx + s, cy - s, cy + s)
            self.shadow(self.structures, sq, 1.3)
            self.poly(
                self.structures, sq, CHIMNEY, _tone(rng, _pick(rng, ((140, 72, 58), (120, 116, 110))), 8)
            )
            self.poly(
                self.structures, fr.rect(cx - s / 2, cx + s / 2, cy - s / 2, cy + s / 2), None, (40, 36, 34)
            )
        if rng.random() < 0.08:  # skylight
            cx, cy = rng.uniform(-0.5, 0.5) * a, _pick(rng, (-1, 1)) * 0.5 * b
            self.poly(
                self.structures, fr.rect(cx - 0.55, cx + 0.55, cy - 0.35, cy + 0.35), WINDOW, (52, 66, 84)
            )
        if rng.random() < 0.08:  # satellite dish near an eave
            c = fr.pts([(rng.uniform(-0.7, 0.7) * a, _pick(rng, (-1, 1)) * 0.8 * b)])[0]
            self.poly(self.structures, _blob(rng, c, 0.4, 0, 12), ANTENNA, (204, 204, 200))
            self.poly(self.structures, _blob(rng, c + self.to_sun * 0.1, 0.15, 0, 8), None, (90, 90, 92))

    def _construction(self, f: _Frame, lw: float, fs: float) -> None:
        rng = self.rng
        self.poly(
            self.ground,
            f.rect(-lw / 2 + 1, lw / 2 - 1, 1.5, fs + 16),
            BACKGROUND,
            _tone(rng, (146, 118, 86), 8),
        )
        hw, hd = lw - 2 * rng.uniform(2, 3), rng.uniform(9, 13)
        slab = f.rect(-hw / 2, hw / 2, fs, fs + hd)
        self.shadow(self.structures, slab, 1.5)
        wood = _tone(rng, (188, 162, 122), 8)
        self.poly(self.structures, slab, CONSTRUCTION, wood)
        for x in np.arange(-hw / 2 + 0.3, hw / 2, rng.uniform(0.6, 1.2)):  # exposed framing
            self.line(self.structures, f.pts([(x, fs), (x, fs + hd)]), 0.1, None, _scale(wood, 0.6))

    def _commercial(self, f: _Frame, length: float, depth: float) -> None:
        """A strip of commercial parking, an industrial yard or a sports court instead of houses."""
        rng, L = self.rng, length / 2
        kind = rng.random()
        if kind < 0.55:
            pd = min(19.5, 0.65 * depth)
            self.poly(self.ground, f.rect(-L, L, 0, pd), PARKING, _scale(self.road, rng.uniform(0.8, 0.95)))
            rows = [(1.0, 6.5)] + ([(13.0, 18.5)] if pd >= 19 else [])
            for y0, y1 in rows:
                for x in np.arange(-L + 1, L - 1, 2.7):
                    self.line(self.ground, f.pts([(x, y0), (x, y1)]), 0.12, None, (210, 210, 205))
                    if rng.random() < 0.55 and x + 2.7 < L - 1:
                        p = f.pts([(x + 1.35, (y0 + y1) / 2)])[0]
                        if not self.submerged(p, False, 0.2):
                            self._vehicle(p, f.ey * _pick(rng, (-1, 1)))
            bf = f.child(0, (pd + 1 + depth - 1.5) / 2)
            bh = (depth - 1.5 - pd - 1) / 2
            roof = _tone(rng, (184, 182, 176), 10)
            self.shadow(self.structures, bf.rect(-L + 2, L - 10, -bh, bh), 5.0)
            self.poly(self.structures, bf.rect(-L + 2, L - 10, -bh, bh), ROOF, roof)
            for _ in range(int(rng.integers(2, 6))):  # rooftop air-conditioning units
                c = (rng.uniform(-L + 4, L - 12), rng.uniform(-bh + 1.5, bh - 1.5))
                unit = bf.rect(c[0] - 0.9, c[0] + 0.9, c[1] - 0.7, c[1] + 0.7)
                self.shadow(self.structures, unit, 1.0)
                self.poly(self.structures, unit, None, (206, 206, 204))
            tank_at = bf.pts([(L - 5, 0)])[0] if rng.random() < 0.5 else None
        elif kind < 0.8:
            self.poly(self.ground, f.rect(-L, L, 0, depth), INDUSTRIAL, _tone(rng, (128, 118, 102), 8))
            for i in range(int(rng.integers(2, 4))):
                self._tank(f.pts([(-L + 6 + i * 9, 6)])[0], rng.uniform(2.0, 3.8))
            bf = f.child(rng.uniform(-5, 5), depth - 9)
            self._roof([(bf, rng.uniform(10, 16), 6.5)], _tone(rng, (170, 172, 170), 8), ROOF, 6.0, False)
            tank_at = None
        else:
            court = f.child(rng.uniform(-10, 10), depth / 2, np.pi / 2 * (rng.random() < 0.5))
            color = _tone(rng, _pick(rng, ((70, 120, 80), (60, 90, 140))), 8)
            self.poly(self.ground, court.rect(-13.5, 13.5, -7, 7), SPORTS, _scale(color, 0.85))
            self.poly(self.ground, court.rect(-11.9, 11.9, -5.5, 5.5), None, color)
            for pts in ([(-11.9, -5.5), (11.9, -5.5), (11.9, 5.5), (-11.9, 5.5), (-11.9, -5.5)], [(0, -6), (0, 6)],
                        [(-6.4, -4.1), (-6.4, 4.1)], [(6.4, -4.1), (6.4, 4.1)], [(-6.4, 0), (6.4, 0)]):  # fmt: skip
                self.line(self.ground, court.pts(pts), 0.08, None, (232, 232, 226))
            tank_at = None
        if tank_at is not None:
            self._tank(tank_at, rng.uniform(1.5, 2.5))

    def _tank(self, c: np.ndarray, r: float) -> None:
        outline = _blob(self.rng, c, r, 0, 24)
        self.shadow(self.structures, outline, 1.6 * r)
        self.poly(self.structures, outline, TANK, _tone(self.rng, (200, 200, 195), 8))
        self.poly(
            self.structures, _blob(self.rng, c + self.to_sun * 0.2 * r, 0.6 * r, 0, 20), None, (222, 222, 218)
        )

    def _street_light(self, base: np.ndarray, to_road: np.ndarray) -> None:
        if not self.inside(base, 2):
            return
        side = np.array([-to_road[1], to_road[0]])
        arm = _Frame(base, to_road, side)
        shade_dir = self.shadow_vec / max(np.linalg.norm(self.shadow_vec), 1e-9)
        pole_shadow = _Frame(base, shade_dir, np.array([-shade_dir[1], shade_dir[0]]))
        self.structures.append(
            _Op("shadow", pole_shadow.rect(0, 8 * np.linalg.norm(self.shadow_vec), -0.09, 0.09), None)
        )
        self.poly(self.overhead, _blob(self.rng, base, 0.18, 0, 10), STREET_LIGHT, (70, 70, 72))
        self.poly(self.overhead, arm.rect(0, 1.8, -0.08, 0.08), STREET_LIGHT, (84, 84, 86))
        self.poly(self.overhead, arm.rect(1.6, 2.2, -0.18, 0.18), STREET_LIGHT, (196, 196, 186))

    def _tree(self, p: np.ndarray, r: float, height: float) -> None:
        """A canopy of overlapping lumps covered in leaf clumps; trees stand above the flood."""
        rng = self.rng
        base = _tone(rng, _pick(rng, TREE_GREENS), 10)
        n = 1 + int(np.clip(r, 0, 5)) + int(rng.integers(0, 3))
        centres = [p] + [p + _unit(rng.uniform(0, 2 * np.pi)) * rng.uniform(0, 0.5 * r) for _ in range(n - 1)]
        radii = [0.7 * r] + list(r * rng.uniform(0.4, 0.65, n - 1))
        blobs = list(_blobs(rng, centres, radii))
        for b in blobs:
            self.shadow(self.canopy, b, height, base=0.3 * height)  # crown, not trunk
        for b, c, rr in zip(blobs, centres, radii, strict=True):
            color = _tone(rng, base, 6)
            self.poly(self.canopy, b, TREE, _scale(color, 0.8))
            self._clumps(self.canopy, c, 0.86 * rr, color, max(2, int(2.5 * rr)))

    def _clumps(self, layer: list, c: np.ndarray, radius: float, color, n: int) -> None:
        """Photo-only leaf clumps inside a circle of `radius`: shaded away from the sun, lit toward it."""
        rng = self.rng
        cr = radius * rng.uniform(0.25, 0.45, n)
        off = (
            np.stack([np.cos(a := rng.uniform(0, 2 * np.pi, n)), np.sin(a)], 1)
            * (rng.uniform(0, 1, n) * (radius - 1.2 * cr))[:, None]
        )
        lit = 1 + 0.35 * (off @ self.to_sun) / max(radius, 1e-6) + rng.normal(0, 0.05, n)
        dark = _blobs(rng, c + off, cr, 0.15, 10)
        light = _blobs(rng, c + off + self.to_sun * 0.2 * cr[:, None], 0.55 * cr, 0.15, 8)
        for i in range(n):
            self.poly(layer, dark[i], None, _scale(color, 0.85 * lit[i]))
            self.poly(layer, light[i], None, _scale(color, 1.1 * lit[i]))

    def _vehicle(self, c: np.ndarray, heading: np.ndarray) -> None:
        rng = self.rng
        L, W, k = rng.uniform(4.2, 5.4), rng.uniform(1.75, 2.05), 0.35
        f = _Frame(c, heading, np.array([-heading[1], heading[0]]))
        body = f.pts([(-L / 2, -W / 2 + k), (-L / 2 + k, -W / 2), (L / 2 - k, -W / 2), (L / 2, -W / 2 + k),
                      (L / 2, W / 2 - k), (L / 2 - k, W / 2), (-L / 2 + k, W / 2), (-L / 2, W / 2 - k)])  # fmt: skip
        color, glass = _tone(rng, _pick(rng, CAR_COLORS), 6), (40, 44, 50)
        self.shadow(self.structures, body, 1.4)
        self.poly(self.structures, body, VEHICLE, color)
        self.poly(self.structures, f.rect(0.1 * L, 0.3 * L, -W / 2 + 0.15, W / 2 - 0.15), None, glass)
        if rng.random() < 0.2:  # pickup: open bed instead of a rear window
            self.poly(
                self.structures,
                f.rect(-0.47 * L, -0.1 * L, -W / 2 + 0.15, W / 2 - 0.15),
                None,
                _scale(color, 0.7),
            )
        else:
            self.poly(self.structures, f.rect(-0.38 * L, -0.26 * L, -W / 2 + 0.15, W / 2 - 0.15), None, glass)
            self.poly(
                self.structures,
                f.rect(-0.26 * L, 0.1 * L, -W / 2 + 0.25, W / 2 - 0.25),
                None,
                _scale(color, 1.06),
            )

    def _boat(self, c: np.ndarray, heading: np.ndarray) -> None:
        rng = self.rng
        L, W = rng.uniform(3.8, 6.0), rng.uniform(1.5, 2.2)
        f = _Frame(c, heading, np.array([-heading[1], heading[0]]))
        hull = f.pts([(-L / 2, -W / 2), (L / 4, -W / 2), (L / 2, 0), (L / 4, W / 2), (-L / 2, W / 2)])
        color = _tone(rng, _pick(rng, ((226, 226, 220), (182, 184, 180), (72, 90, 62), (160, 52, 40))), 6)
        if rng.random() < 0.5:  # under way: a pale wake fanning out behind
            wake = _scale(self.colors["flood_a"], 1.3)
            for s in (-1, 1):
                self.line(
                    self.boats, f.pts([(-L / 2, s * W / 2), (-L / 2 - 4, s * (W / 2 + 1.6))]), 0.3, None, wake
                )
        self.shadow(self.boats, hull, 0.6)
        self.poly(self.boats, hull, BOAT, color)
        self.poly(self.boats, c + (hull - c) * 0.72, None, _scale(color, 0.75))
        self.poly(self.boats, f.rect(-L / 2 - 0.5, -L / 2, -0.25, 0.25), BOAT, (44, 44, 46))

    def boats_on_water(self) -> None:
        if self.water_line is not None and self.rng.random() < 0.5:
            spots = [i for i, p in enumerate(self.water_line[1:-1], 1) if self.inside(p, -5)]
            if spots:
                i = int(_pick(self.rng, spots))
                d = self.water_line[i + 1] - self.water_line[i - 1]
                self._boat(self.water_line[i], d / np.linalg.norm(d))


def plan_scene(rng: np.random.Generator, width: int = 4, height: int = 3) -> ScenePlan:
    """Lay out a neighbourhood in metres; only the aspect ratio of width x height matters.

    Args:
        rng: the only source of randomness; the same state gives the same scene.
        width, height: the pixel size the plan will be drawn at (sets the aspect ratio).

    Returns:
        A ScenePlan covering SCENE_AREA_M2 of ground.
    """
    world_w = math.sqrt(SCENE_AREA_M2 * width / height)
    p = _Planner(rng, world_w, SCENE_AREA_M2 / world_w)
    p.water_and_forest()
    p.terrain()
    p.streets()
    p.boats_on_water()
    return ScenePlan(
        world_size=(p.w, p.h),
        ground=tuple(p.ground),
        waterside=tuple(p.waterside),
        roads=tuple(p.roads),
        bridged=tuple(p.bridged),
        objects=tuple(p.structures + p.boats + p.canopy + p.overhead),
        elevation=p.elevation.astype(np.float32),
        flood_level=p.flood_level,
        colors=p.colors,
        shadow_strength=float(rng.uniform(0.25, 0.6)),
    )


# --- rendering: the plan in pixels ----------------------------------------------------------------


def _draw(ops, image: Image.Image, mask: Image.Image, shadow: Image.Image, gsd: float) -> None:
    """Draw ops with identical geometry on the photo and the mask; labelled shapes are lit (unshadowed)."""
    photo, labels, shade = ImageDraw.Draw(image), ImageDraw.Draw(mask), ImageDraw.Draw(shadow)
    for op in ops:
        xy = (op.pts / gsd).ravel().tolist()
        if op.kind == "shadow":
            shade.polygon(xy, fill=255)
        elif op.kind == "poly":
            photo.polygon(xy, fill=op.color)
            if op.cls is not None:
                labels.polygon(xy, fill=op.cls)
                shade.polygon(xy, fill=0)
        elif op.cls is not None or op.width >= 0.5 * gsd:  # photo-only details under half a pixel vanish
            width = max(1, round(op.width / gsd))
            photo.line(xy, fill=op.color, width=width, joint="curve")
            if op.cls is not None:
                labels.line(xy, fill=op.cls, width=width, joint="curve")


def _noise(rng: np.random.Generator, width: int, height: int, gsd: float, scale_m: float) -> np.ndarray:
    """Unit-variance smooth noise with blobs about scale_m metres wide (pixel noise if finer than a pixel)."""
    step = scale_m / gsd
    if step < 1.5:
        return rng.standard_normal((height, width), dtype=np.float32)
    grid = rng.standard_normal((int(height / step) + 4, int(width / step) + 4), dtype=np.float32)
    out = np.asarray(
        Image.fromarray(grid).resize(
            (width, height), Image.BICUBIC, box=(1, 1, 1 + width / step, 1 + height / step)
        )
    )
    return out * np.float32(1 / max(float(out[::7, ::7].std()), 1e-6))


def _lerp_colors(a, b, t: np.ndarray) -> np.ndarray:
    a32 = np.asarray(a, np.float32)
    return a32 + (np.asarray(b, np.float32) - a32) * t[..., None]


def _flood(
    plan: ScenePlan,
    img: np.ndarray,
    mask: np.ndarray,
    n_mid: np.ndarray,
    n_low: np.ndarray,
    raised: np.ndarray,
) -> None:
    """Cover low floodable ground with muddy water (in place); shallow edges let the ground show through.

    Roads on `raised` pixels (over the bayou or pond) are bridges and stay dry.
    """
    h, w = mask.shape
    elev = np.asarray(Image.fromarray(plan.elevation).resize((w, h), Image.BILINEAR)) + 0.03 * n_mid
    elev[mask == ROAD] -= ROAD_DIP
    flooded = np.isin(mask, FLOODABLE) & (elev < plan.flood_level)
    flooded &= ~(raised & (mask == ROAD))
    depth = plan.flood_level - elev[flooded]
    alpha = np.clip(0.6 + 6.0 * depth, 0, 1)[:, None]  # ~1 m of shallow edge
    water = _lerp_colors(
        plan.colors["flood_a"], plan.colors["flood_b"], np.clip(0.5 + 0.4 * n_low[flooded], 0, 1)
    )
    img[flooded] = (img[flooded] * (1 - alpha) + water * alpha).astype(np.uint8)
    mask[flooded] = FLOODED


def _luminance(mask: np.ndarray, noise: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per-pixel brightness factor from the class texture table (HxW float32)."""
    lum = np.ones(mask.shape, np.float32)
    for i, field in enumerate(noise):
        amp = TEXTURE[mask, i]
        amp *= field
        lum += amp
    return lum


def _finish(
    plan: ScenePlan, img: np.ndarray, lum: np.ndarray, shadow: np.ndarray, debris: np.ndarray, rng
) -> np.ndarray:
    """Shadows, haze, uneven light, lens blur and sensor noise: flat drawing -> photo (in place where possible)."""
    h, w = lum.shape
    shade = shadow.astype(np.float32) * np.float32(plan.shadow_strength / 255)
    lum *= 1 - shade
    xs, ys = np.linspace(-1, 1, w, dtype=np.float32)[None], np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    gx, gy = rng.uniform(-0.08, 0.08, 2)
    lum *= (1 + gx * xs + gy * ys) * (1 - rng.uniform(0.03, 0.12) * (xs * xs + ys * ys) / 2)
    out = img.astype(np.float32)
    out *= lum[..., None]
    out[..., :2] *= (1 - 0.12 * shade)[..., None]  # skylight makes shadows slightly blue
    del lum, shade
    out *= (rng.normal(1, 0.06) * rng.normal(1, 0.025, 3)).astype(np.float32)  # exposure, white balance
    out[debris] *= 1.35  # floating debris on the flood
    haze = rng.uniform(0, 0.12)
    out *= np.float32(1 - haze)
    out += np.float32(haze * 190)
    photo = Image.fromarray(np.clip(out, 0, 255, out=out).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.6)
    )
    out[:] = np.asarray(photo)
    del photo
    sensor = rng.standard_normal(out.shape, dtype=np.float32)
    sensor *= np.float32(rng.uniform(1.5, 4.0))
    out += sensor
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def bridge_mask(plan: ScenePlan, width: int, height: int) -> np.ndarray:
    """HxW bool: the outline of the bayou or pond with its banks, where roads are bridges that stay dry."""
    bridges = Image.new("L", (width, height), 0)
    outline = ImageDraw.Draw(bridges)
    gsd = plan.world_size[0] / width
    for op in plan.bridged:  # a fixed fill, not op.cls: a pond's rim is Background (0) and left no mark
        outline.polygon((op.pts / gsd).ravel().tolist(), fill=255)
    return np.asarray(bridges) > 0


def render_scene(
    plan: ScenePlan, width: int, height: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a plan at width x height pixels; rng supplies texture and sensor noise only.

    Args:
        plan: from `plan_scene`; drawing it at another size of the same aspect gives the same layout.
        width, height: pixel size, 64..8000 per side.
        rng: texture, illumination and sensor-noise randomness.

    Returns:
        (image, mask): HxWx3 uint8 RGB photo and HxW uint8 class-id mask (0..24).
    """
    width, height = _check_size(width, height)
    gsd = plan.world_size[0] / width  # metres per pixel
    noise = tuple(_noise(rng, width, height, gsd, s) for s in (0.15, 0.8, 5.0))
    grass_t = np.clip(0.5 + 0.35 * noise[2] + 0.2 * noise[1], 0, 1)
    lush, dry = plan.colors["grass_lush"], plan.colors["grass_dry"]
    grass = np.stack(
        [(a + (b - a) * grass_t).astype(np.uint8) for a, b in zip(lush, dry, strict=True)], axis=-1
    )
    image = Image.fromarray(grass)
    del grass, grass_t
    mask, shadow = Image.new("L", (width, height), GRASS), Image.new("L", (width, height), 0)
    _draw(plan.ground, image, mask, shadow, gsd)
    _draw(plan.waterside, image, mask, shadow, gsd)
    _draw(plan.roads, image, mask, shadow, gsd)
    img, labels = np.array(image), np.array(mask)
    _flood(plan, img, labels, noise[1], noise[2], bridge_mask(plan, width, height))
    image, mask = Image.fromarray(img), Image.fromarray(labels)
    _draw(plan.objects, image, mask, shadow, gsd)
    soft = np.asarray(shadow.filter(ImageFilter.GaussianBlur(max(0.5, 0.12 / gsd))))  # penumbra ~0.1 m
    labels = np.array(mask)
    lum = _luminance(labels, noise)
    debris = (labels == FLOODED) & (noise[0] > 2.8)
    del noise, img
    return _finish(plan, np.asarray(image), lum, soft, debris, rng), labels


def generate_scene(width: int, height: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic aerial photo of a flooded neighbourhood and its class-id mask.

    The layout is drawn from rng first, so the same rng state gives the same neighbourhood at any
    size of the same aspect ratio (4000x3000 is ~3 cm/px, 640x480 ~19 cm/px).

    Args:
        width, height: pixel size, 64..8000 per side.
        rng: source of all randomness.

    Returns:
        (image, mask): HxWx3 uint8 RGB and HxW uint8 class ids in 0..24.

    Raises:
        ValueError: a side outside 64..8000 px.
    """
    width, height = _check_size(width, height)
    return render_scene(plan_scene(rng, width, height), width, height, rng)


# --- dataset writing -----------------------------------------------------------------------------


def _check_size(width: int, height: int) -> tuple[int, int]:
    for side in (width, height):
        if (
            isinstance(side, bool)
            or not isinstance(side, (int, np.integer))
            or not MIN_SIDE_PX <= side <= MAX_SIDE_PX
        ):
            raise ValueError(
                f"size {width}x{height} is not allowed; each side must be an integer in {MIN_SIDE_PX}..{MAX_SIDE_PX} px"
            )
    return int(width), int(height)


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480).

    Raises:
        ValueError: not WIDTHxHEIGHT, or a side outside 64..8000 px.
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if match is None:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT in pixels, e.g. '640x480'")
    return _check_size(int(match.group(1)), int(match.group(2)))


def _check_demo_folder(root: Path, replace: bool) -> None:
    for existing in (root, *root.parents):
        if existing.exists():
            if not existing.is_dir():
                where = "is a file" if existing == root else f"is inside {existing}, which is a file"
                raise ValueError(f"--out {root} {where}; give a folder for the dataset")
            break
    entries = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if entries and not replace:
        raise ValueError(
            f"--out {root} is not empty ({len(entries)} entries, e.g. {entries[0]}); choose a new folder, "
            "or pass --replace to delete its train_images/, train_masks/ and test_images/ first"
        )


def write_demo_dataset(
    out: str | Path,
    n: int = 24,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    n_test: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    replace: bool = False,
) -> DemoDatasetSummary:
    """Write a synthetic dataset in the Harvey layout.

    Files: out/train_images/synth_NNNN.tif (RGB, deflate), out/train_masks/synth_NNNN.png ('L' class
    ids) and out/test_images/synth_NNNN.tif (numbered after the train scenes, no masks). Scene i is
    drawn from np.random.default_rng([seed, i]), so a seed always gives the same files and any one
    scene can be regenerated alone. A folder that already holds anything is refused (old and
    new scenes of different sizes would mix into one dataset) unless `replace`, which deletes its
    train_images/, train_masks/ and test_images/ first and leaves any other file alone.

    Args:
        out: dataset root (created if missing).
        n: number of train scenes (>= 1).
        size: (width, height) in px, 64..8000 per side.
        seed: non-negative seed.
        n_test: number of test images; default max(2, n // 4).
        progress: called as progress(done, total) after each scene is written (total = n + n_test).
        replace: write into a non-empty folder, deleting the dataset folders it holds first.

    Returns:
        A DemoDatasetSummary with per-class pixel counts over the train masks.

    Raises:
        ValueError: n < 1, n_test < 0, negative seed or a size outside 64..8000 px; `out` is a
            file, lies under one, or is a non-empty folder and `replace` is False.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be an integer >= 1")
    n_test = max(2, n // 4) if n_test is None else n_test
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 0:
        raise ValueError(f"n_test={n_test!r} must be an integer >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an integer >= 0")
    width, height = _check_size(*size)
    root = Path(out)
    dirs = {name: root / name for name in ("train_images", "train_masks", "test_images")}
    _check_demo_folder(root, replace)
    if replace:
        for d in dirs.values():
            if d.is_dir():
                shutil.rmtree(d)
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    counts = np.zeros(NUM_CLASSES, np.int64)
    total = n + n_test
    for i in range(total):
        image, mask = generate_scene(width, height, np.random.default_rng([seed, i]))
        stem = f"synth_{i:04d}"
        folder = dirs["train_images"] if i < n else dirs["test_images"]
        Image.fromarray(image).save(folder / f"{stem}.tif", compression="tiff_adobe_deflate")
        if i < n:
            Image.fromarray(mask).save(dirs["train_masks"] / f"{stem}.png")
            counts += np.bincount(mask.ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
        if progress is not None:
            progress(i + 1, total)
    return DemoDatasetSummary(root, n, n_test, (width, height), tuple(int(c) for c in counts))
