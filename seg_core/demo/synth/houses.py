"""House lots, roofs, backyards, construction sites and commercial strips (planner mixin)."""

from __future__ import annotations

import numpy as np

from seg_core.demo.synth.geometry import _blob, _Frame, _pick, _rounded_rect, _scale, _tone
from seg_core.demo.synth.scene import (
    ANTENNA,
    BACKGROUND,
    BINS,
    CHIMNEY,
    CONSTRUCTION,
    INDUSTRIAL,
    PARKING,
    POOL,
    ROOF,
    SHED,
    SOLAR,
    SPORTS,
    TANK,
    TRAMPOLINE,
    WINDOW,
)


class _Houses:
    """Buildings of one neighbourhood; mixed into `_Planner`, whose state (rng, layers, sun) it uses."""

    def _lot(self, f: _Frame, lw: float, depth: float) -> None:
        """One house lot: f has x along the street, y from the kerb-side lot line into the lot."""
        rng = self.rng
        fs = rng.uniform(5.5, 9.0) * self.style.house_scale  # front setback
        if rng.random() < 0.04:
            self._construction(f, lw, fs)
            return
        s = self.style.house_scale
        hw, hd = (
            min(lw - 2 * rng.uniform(1.5, 3.0), 19.0 * s),
            rng.uniform(9.0 * s, max(9.0 * s, min(15.0 * s, depth - fs - 5.0))),  # >= 5 m of backyard
        )
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
        color, height, kind = (
            _tone(rng, _pick(rng, self.style.roof_colors), 8),
            rng.uniform(4, 7),
            rng.random(),
        )
        self._roof(parts, color, ROOF, height, self._roof_shape(kind))
        self._backyard(f, lw, depth, fs + hd)
        yard_spots = [
            (rng.uniform(-lw / 2, lw / 2), rng.uniform(0.5, depth))
            for _ in range(int(rng.integers(0, self.style.yard_trees_max + 1)))
        ]
        for x, y in yard_spots:
            r = rng.uniform(2.0, 5.0) * self.style.canopy_scale
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
                self._roof(
                    [(f.child(sx, sy, rng.normal(0, 0.05)), sw / 2, sd / 2)], color, SHED, 2.5, "gable"
                )
        if self.fences:
            wood = (118, 96, 70)
            for x in (-lw / 2, lw / 2):
                self.line(self.ground, f.pts([(x, back), (x, depth)]), 0.15, BACKGROUND, wood)
            self.line(
                self.ground, f.pts([(-lw / 2, depth - 0.1), (lw / 2, depth - 0.1)]), 0.15, BACKGROUND, wood
            )

    def _roof_shape(self, draw: float) -> str:
        """'flat', 'hip' or 'gable' from one uniform draw, in the style's shares (one draw whatever the style)."""
        if draw < self.style.flat_roof_share:
            return "flat"
        return "hip" if draw < self.style.flat_roof_share + self.style.hip_roof_share else "gable"

    def _roof(self, parts: list, color, cls: int, height: float, shape: str) -> None:
        """Flat, hip or gable roof over rectangles (frame, half_x, half_y), lit from the sun's side."""
        norm: list[tuple[_Frame, float, float]] = []
        for fr, a, b in parts:  # long axis along x
            norm.append((fr, a, b) if a >= b else (fr.child(0, 0, np.pi / 2), b, a))
        for fr, a, b in norm:  # all shadows first, so one wing does not shade the other
            self.shadow(self.structures, fr.rect(-a, a, -b, b), height)
        hip = shape == "hip"
        for fr, a, b in norm:
            self.poly(self.structures, fr.rect(-a, a, -b, b), cls, color)
            if shape == "flat":
                self._flat_roof(fr, a, b, color)
                continue
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

    def _flat_roof(self, fr: _Frame, a: float, b: float, color) -> None:
        """Low-slope metal roof: a parapet rim, corrugation ribs across the short side (photo only)."""
        inset = min(0.4, 0.2 * b)
        self.poly(
            self.structures, fr.rect(-a + inset, a - inset, -b + inset, b - inset), None, _scale(color, 0.93)
        )
        rib = _scale(color, 1.12)
        for x in np.arange(-a + 1.2, a - 0.6, 1.2):
            self.line(self.structures, fr.pts([(x, -b + inset), (x, b - inset)]), 0.15, None, rib)

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
            self._roof([(bf, rng.uniform(10, 16), 6.5)], _tone(rng, (170, 172, 170), 8), ROOF, 6.0, "gable")
            tank_at = None
        else:
            court = f.child(rng.uniform(-10, 10), depth / 2, np.pi / 2 * (rng.random() < 0.5))
            color = _tone(rng, _pick(rng, ((70, 120, 80), (60, 90, 140))), 8)
            self.poly(self.ground, court.rect(-13.5, 13.5, -7, 7), SPORTS, _scale(color, 0.85))
            self.poly(self.ground, court.rect(-11.9, 11.9, -5.5, 5.5), None, color)
            for pts in (
                [(-11.9, -5.5), (11.9, -5.5), (11.9, 5.5), (-11.9, 5.5), (-11.9, -5.5)],
                [(0, -6), (0, 6)],
                [(-6.4, -4.1), (-6.4, 4.1)],
                [(6.4, -4.1), (6.4, 4.1)],
                [(-6.4, 0), (6.4, 0)],
            ):
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
