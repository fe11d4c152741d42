"""Correcting a mask: superpixel fill, brush, polygon, eraser, with undo/redo.

Every edit works on the mask at the photo's ORIGINAL size (what Save writes), with coordinates in
original pixels; the page converts from its zoomed canvas. An edit touches a bounding box, and
undo keeps only that box's before/after patches, so 50 undo steps on a 12-megapixel photo cost
a few MB, not 50 copies of a 12 MB mask.

Superpixels (scikit-image SLIC or Felzenszwalb) are computed on the working image the analyst
sees (long side ~1024 px: a 12 MP photo segments in about a second instead of a minute); a fill
maps each original pixel to its working pixel, so a filled region is exactly the superpixel's
footprint at full size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seg_core.schemes.scheme import DEFAULT_SCHEME, builtin

SUPERPIXEL_METHODS = ("slic", "felzenszwalb")
BACKGROUND = 0  # what the eraser paints
UNDO_DEPTH = 50  # steps kept; older ones are dropped (a long session stays bounded in memory)


def superpixels(image: np.ndarray, method: str = "slic", regions: int = 400) -> np.ndarray:
    """HxW int32 region ids for an HxWx3 uint8 image.

    Args:
        method: 'slic' (compact, even-sized regions: good for roofs and roads) or 'felzenszwalb'
            (follows colour edges: good for irregular flood and vegetation borders).
        regions: granularity, the approximate number of regions over the image.
    """
    from skimage.segmentation import felzenszwalb, slic

    if method not in SUPERPIXEL_METHODS:
        raise ValueError(f"superpixel method {method!r} is not one of: {', '.join(SUPERPIXEL_METHODS)}")
    if not 2 <= regions <= 20000:
        raise ValueError(f"superpixel granularity {regions} must be between 2 and 20000 regions")
    if method == "slic":
        labels = slic(image, n_segments=regions, compactness=10, start_label=0)
    else:
        # felzenszwalb's `scale` sets region size; this maps "about N regions" onto it.
        scale = image.shape[0] * image.shape[1] / regions / 4
        labels = felzenszwalb(image, scale=scale, sigma=0.8, min_size=max(20, int(scale / 4)))
    return labels.astype(np.int32)


def region_boundaries(labels: np.ndarray) -> np.ndarray:
    """HxW bool: pixels on a superpixel border (drawn over the photo so analysts see what a click fills)."""
    from skimage.segmentation import find_boundaries

    return find_boundaries(labels, mode="inner")


@dataclass
class _Patch:
    y0: int
    x0: int
    before: np.ndarray
    after: np.ndarray


@dataclass
class MaskEditor:
    """An original-size mask being corrected, with bounded undo/redo.

    `touched` marks every pixel a tool covered, whether it changed the class or painted the one
    already there (a person looked and confirmed it): what the mask's provenance counts as a
    person's. Undo leaves it as it is: the region was looked at either way.
    """

    mask: np.ndarray
    undo_stack: list[_Patch] = field(default_factory=list)
    redo_stack: list[_Patch] = field(default_factory=list)
    touched: np.ndarray | None = None
    num_classes: int = builtin(DEFAULT_SCHEME).num_classes  # of the dataset's scheme

    def __post_init__(self) -> None:
        self.mask = np.array(self.mask, dtype=np.uint8)  # our own writable copy
        self.touched = np.zeros(self.mask.shape, dtype=bool)

    @property
    def size(self) -> tuple[int, int]:
        return self.mask.shape[1], self.mask.shape[0]

    def apply(self, y0: int, x0: int, region: np.ndarray, class_id: int) -> int:
        """Set `region` (a bool patch placed at row y0, column x0) to `class_id`; returns pixels changed."""
        if not 0 <= class_id < self.num_classes:
            raise ValueError(f"class id {class_id} is not one of 0..{self.num_classes - 1}")
        window = self.mask[y0 : y0 + region.shape[0], x0 : x0 + region.shape[1]]
        region = region[: window.shape[0], : window.shape[1]]
        self.touched[y0 : y0 + region.shape[0], x0 : x0 + region.shape[1]] |= region
        before = window.copy()
        window[region] = class_id
        changed = int((before != window).sum())
        if changed:
            self.undo_stack.append(_Patch(y0, x0, before, window.copy()))
            del self.undo_stack[:-UNDO_DEPTH]
            self.redo_stack.clear()
        return changed

    def undo(self) -> bool:
        if not self.undo_stack:
            return False
        patch = self.undo_stack.pop()
        self._put(patch, patch.before)
        self.redo_stack.append(patch)
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        patch = self.redo_stack.pop()
        self._put(patch, patch.after)
        self.undo_stack.append(patch)
        return True

    def _put(self, patch: _Patch, values: np.ndarray) -> None:
        self.mask[patch.y0 : patch.y0 + values.shape[0], patch.x0 : patch.x0 + values.shape[1]] = values

    # ---- tools ------------------------------------------------------------------------------
    def fill_superpixel(self, labels: np.ndarray, x: float, y: float, class_id: int) -> int:
        """Fill the superpixel under original pixel (x, y); `labels` is at working resolution."""
        height, width = self.mask.shape
        work_h, work_w = labels.shape
        if not (0 <= x < width and 0 <= y < height):
            return 0
        wanted = labels[int(y * work_h / height), int(x * work_w / width)]
        rows, cols = np.nonzero(labels == wanted)
        # Original-pixel range whose working pixel falls inside the region's box.
        y0, y1 = _original_span(rows.min(), rows.max(), work_h, height)
        x0, x1 = _original_span(cols.min(), cols.max(), work_w, width)
        row_of = (np.arange(y0, y1) * work_h // height).clip(max=work_h - 1)
        col_of = (np.arange(x0, x1) * work_w // width).clip(max=work_w - 1)
        region = labels[row_of[:, None], col_of[None, :]] == wanted
        return self.apply(y0, x0, region, class_id)

    def paint_stroke(self, points: list[tuple[float, float]], width: float, class_id: int) -> int:
        """A brush stroke: every pixel whose centre lies within width/2 of the polyline through
        `points` (original px). One point paints a disc."""
        if not points:
            return 0
        radius = max(width, 1.0) / 2
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        height, width_px = self.mask.shape
        x0 = max(int(np.floor(pts[:, 0].min() - radius)), 0)
        x1 = min(int(np.ceil(pts[:, 0].max() + radius)) + 1, width_px)
        y0 = max(int(np.floor(pts[:, 1].min() - radius)), 0)
        y1 = min(int(np.ceil(pts[:, 1].max() + radius)) + 1, height)
        if x0 >= x1 or y0 >= y1:
            return 0
        region = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        segments = list(zip(pts[:-1], pts[1:], strict=True)) or [(pts[0], pts[0])]
        for a, b in segments:  # each segment tested only inside its own padded box: long strokes stay cheap
            sx0, sx1 = int(max(min(a[0], b[0]) - radius, x0)), int(min(max(a[0], b[0]) + radius + 1, x1))
            sy0, sy1 = int(max(min(a[1], b[1]) - radius, y0)), int(min(max(a[1], b[1]) + radius + 1, y1))
            if sx0 >= sx1 or sy0 >= sy1:
                continue
            gy, gx = np.mgrid[sy0:sy1, sx0:sx1]
            near = _distance_to_segment(gx + 0.5, gy + 0.5, a, b) <= radius
            region[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] |= near
        return self.apply(y0, x0, region, class_id)

    def fill_polygon(self, vertices: list[tuple[float, float]], class_id: int) -> int:
        """Fill a polygon given by (x, y) vertices in original px (scikit-image's scan conversion)."""
        from skimage.draw import polygon

        if len(vertices) < 3:
            raise ValueError(f"a polygon needs at least 3 vertices, got {len(vertices)}")
        pts = np.asarray(vertices, dtype=np.float64)
        rows, cols = polygon(pts[:, 1], pts[:, 0], shape=self.mask.shape)
        if rows.size == 0:
            return 0
        y0, x0 = rows.min(), cols.min()
        region = np.zeros((rows.max() - y0 + 1, cols.max() - x0 + 1), dtype=bool)
        region[rows - y0, cols - x0] = True
        return self.apply(int(y0), int(x0), region, class_id)

    def erase_stroke(self, points: list[tuple[float, float]], width: float) -> int:
        """The eraser: a brush stroke that paints Background."""
        return self.paint_stroke(points, width, BACKGROUND)


def _original_span(first: int, last: int, work: int, original: int) -> tuple[int, int]:
    """Original rows [start, stop) whose working row (r * work // original) is in [first, last]."""
    start = -(-first * original // work)  # ceil(first * original / work)
    stop = -(-(last + 1) * original // work)
    return max(start, 0), min(stop, original)


def _distance_to_segment(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    length2 = float(ab @ ab)
    if length2 == 0:
        return np.hypot(px - a[0], py - a[1])
    t = np.clip(((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / length2, 0, 1)
    return np.hypot(px - (a[0] + t * ab[0]), py - (a[1] + t * ab[1]))
