"""Ground-metre geometry and colour helpers shared by the planner (frames, blobs, ribbons, hulls)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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
    corners = (
        (half_x - r, half_y - r, 0),
        (-half_x + r, half_y - r, 1),
        (-half_x + r, -half_y + r, 2),
        (half_x - r, -half_y + r, 3),
    )
    pts = [
        (cx + r * math.cos(a), cy + r * math.sin(a))
        for cx, cy, q in corners
        for a in np.linspace(q * np.pi / 2, (q + 1) * np.pi / 2, n)
    ]
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
