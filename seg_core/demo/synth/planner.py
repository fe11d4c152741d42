"""Planning: one neighbourhood laid out in ground metres (streets, water, terrain, flood level)."""

from __future__ import annotations

import math

import numpy as np

from seg_core.demo.synth.geometry import (
    _bilinear,
    _blob,
    _Frame,
    _hull,
    _pick,
    _polyline_distance,
    _ribbon,
    _scale,
    _tone,
    _unit,
)
from seg_core.demo.synth.houses import _Houses
from seg_core.demo.synth.scene import (
    BACKGROUND,
    FOREST,
    POWER_LINE,
    ROAD,
    ROAD_DIP,
    WATER_BODY,
    ScenePlan,
    _Op,
)
from seg_core.demo.synth.style import HARVEY, StormStyle, resolve_style
from seg_core.demo.synth.things import _Things


class _Planner(_Houses, _Things):
    """Lays out one neighbourhood; every random draw happens here or in `render_scene`'s textures."""

    def __init__(self, rng: np.random.Generator, world_w: float, world_h: float, style: StormStyle = HARVEY):
        self.rng, self.w, self.h, self.style = rng, world_w, world_h, style
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
        sun_az = rng.uniform(*style.sun_azimuth_rad)
        self.to_sun = _unit(sun_az)
        self.shadow_vec = -self.to_sun * rng.uniform(
            *style.shadow_length
        )  # ground offset per metre of height
        self.keep_out: list[tuple[np.ndarray, float]] = []  # circles no lot may touch
        self.water_line: np.ndarray | None = None
        self.water_half = 0.0
        self.ponds: list[tuple[np.ndarray, float]] = []
        self.fences = False  # set per scene in streets()
        self.colors = {
            "grass_lush": _tone(rng, style.grass_lush, 10),
            "grass_dry": _tone(rng, style.grass_dry, 12),
            "flood_a": _tone(rng, _pick(rng, style.flood_colors), 8),
            "flood_b": _tone(rng, _pick(rng, style.flood_colors), 8),
        }
        light = rng.random() < style.light_road_share
        self.road = _tone(rng, style.road_light, 8) if light else _tone(rng, style.road_dark, 12)
        self.concrete = _tone(rng, style.concrete, 8)
        self.water = _tone(rng, _pick(rng, style.water_colors), 8)

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
        if (
            kind < self.style.bayou_share
        ):  # a bayou meandering across the scene, crossed by the streets on bridges
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
            bank_color = (
                _tone(rng, self.style.woods, 6)
                if bank_cls == FOREST
                else _tone(rng, self.style.bare_ground, 8)
            )
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
        elif kind < self.style.bayou_share + self.style.pond_share:  # a retention pond
            c, r = np.array([rng.uniform(0, self.w), rng.uniform(0, self.h)]), rng.uniform(8, 14)
            rim = _blob(rng, c, r + 2)
            self.poly(self.waterside, rim, BACKGROUND, _tone(rng, self.style.bare_ground, 8))
            self.poly(self.waterside, c + (rim - c) * r / (r + 2), WATER_BODY, self.water)
            self.keep_out.append((c, r + 4))
            self.bridged.append(self.waterside[0])
            self.ponds.append((c, r))
        if rng.random() < self.style.woods_share:  # a patch of dense woods where no lots were built
            c0 = np.array([rng.uniform(0, self.w), rng.uniform(0, self.h)])
            color = _tone(rng, self.style.woods, 6)
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
        R, rw, depth = self.reach, rng.uniform(7, 10), rng.uniform(25, 33) * self.style.house_scale
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
        street_trees, self.fences = rng.random() < self.style.street_tree_share, rng.random() < 0.5
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
                    self._tree(p, rng.uniform(2, 4) * self.style.canopy_scale, rng.uniform(5, 9))
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
                w = rng.uniform(15, 22) * self.style.house_scale
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
                self.line(
                    self.roads,
                    street.pts([(a0, s * (rw / 2 - 0.2)), (a1, s * (rw / 2 - 0.2))]),
                    0.35,
                    None,
                    _scale(self.road, 1.25),
                )
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
        spots = [
            p
            for p in street.pts([(a, 0) for a in np.arange(-self.reach, self.reach, 4.0)])
            if self.inside(p, -2) and self.submerged(p, True, 0.35)
        ]
        rng.shuffle(spots)
        placed: list[np.ndarray] = []
        for p in spots[: int(rng.integers(0, 3))]:
            if all(np.linalg.norm(p - q) > 10 for q in placed):
                placed.append(p)
                heading = street.ex * _pick(rng, (-1, 1)) + rng.normal(0, 0.2, 2)
                self._boat(p + rng.normal(0, 0.8, 2), heading / np.linalg.norm(heading))

    def boats_on_water(self) -> None:
        if self.water_line is not None and self.rng.random() < 0.5:
            spots = [i for i, p in enumerate(self.water_line[1:-1], 1) if self.inside(p, -5)]
            if spots:
                i = int(_pick(self.rng, spots))
                d = self.water_line[i + 1] - self.water_line[i - 1]
                self._boat(self.water_line[i], d / np.linalg.norm(d))


def ground_width_m(width: int, height: int, style: StormStyle | str = HARVEY) -> float:
    """Metres of ground across a scene drawn at width x height px: the style's area at that aspect
    ratio. Fixed by the style, not drawn at random, so a dataset's GSD needs no scene planned."""
    return math.sqrt(resolve_style(style).scene_area_m2 * width / height)


def plan_scene(
    rng: np.random.Generator, width: int = 4, height: int = 3, style: StormStyle | str = HARVEY
) -> ScenePlan:
    """Lay out a neighbourhood in metres; only the aspect ratio of width x height matters.

    Args:
        rng: the only source of randomness; the same state gives the same scene.
        width, height: the pixel size the plan will be drawn at (sets the aspect ratio).
        style: a StormStyle or a preset's name (see `STYLES`); harvey by default.

    Returns:
        A ScenePlan covering the style's ground (SCENE_AREA_M2 for harvey); `world_size` is its
        (width, height) in metres.

    Raises:
        ValueError: a style name that is not a preset.
    """
    style = resolve_style(style)
    world_w = ground_width_m(width, height, style)
    p = _Planner(rng, world_w, style.scene_area_m2 / world_w, style)
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
        shadow_strength=float(rng.uniform(*style.shadow_strength)),
        style=style.name,
        sun_direction=(float(p.to_sun[0]), float(p.to_sun[1])),
    )
