"""Trees, vehicles, boats and street lights (planner mixin)."""

from __future__ import annotations

import numpy as np

from seg_core.demo.synth.geometry import _blob, _blobs, _Frame, _pick, _scale, _tone, _unit
from seg_core.demo.synth.scene import (
    BOAT,
    STREET_LIGHT,
    TREE,
    VEHICLE,
    _Op,
)

CAR_COLORS = (
    (222, 222, 220),
    (172, 174, 178),
    (32, 32, 36),
    (60, 62, 66),
    (148, 32, 30),
    (36, 58, 118),
    (120, 120, 118),
    (186, 172, 140),
)


class _Things:
    """Small objects of one neighbourhood; mixed into `_Planner`."""

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
        base = _tone(rng, _pick(rng, self.style.tree_greens), 10)
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
        body = f.pts(
            [
                (-L / 2, -W / 2 + k),
                (-L / 2 + k, -W / 2),
                (L / 2 - k, -W / 2),
                (L / 2, -W / 2 + k),
                (L / 2, W / 2 - k),
                (L / 2 - k, W / 2),
                (-L / 2 + k, W / 2),
                (-L / 2, W / 2 - k),
            ]
        )
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
