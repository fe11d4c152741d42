"""What analysts look at and download: overlays and export files (the statistics they show are
`seg_core.analytics.statistics`), in the colours of the label scheme at hand.

Masks are at the photo's original size (a Harvey frame is 4000x3000, 12 MP), so the overlay
blends in uint16 row chunks to stay well under a second and a few hundred MB there.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from seg_core.analytics.statistics import ImageStats, as_class_mask, batch_summary, empty_stats, stats_rows
from seg_core.core.atomic import atomic_write_bytes
from seg_core.schemes.scheme import LabelScheme

OVERLAY_CHUNK_ROWS = 512  # 512 x 4000 x 3 uint8 temporaries: ~6 MB each, few calls per image
OVERLAY_JPEG_QUALITY = 90
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM_CHARS = 100  # keeps archive paths well under every file system's name limit


# --- validation ------------------------------------------------------------------------------------


def _rgb_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be an HxWx3 uint8 RGB array, got shape {image.shape} {image.dtype}")
    return image


def _check_opacity(opacity: float) -> float:
    opacity = float(opacity)
    if not 0.0 <= opacity <= 1.0:  # also refuses NaN
        raise ValueError(f"opacity must be between 0 and 1, got {opacity!r}")
    return opacity


# --- overlay -----------------------------------------------------------------------------------------


@functools.cache
def _colour_lut(scheme: LabelScheme) -> np.ndarray:
    lut = np.zeros((256, 1, 3), dtype=np.uint8)  # cv2.LUT wants 256 entries per channel
    lut[: scheme.num_classes, 0] = scheme.palette
    return lut


def class_edges(mask: np.ndarray) -> np.ndarray:
    """HxW bool: pixels whose 4-neighbour has another class (both sides of a border, so 2 px)."""
    edges = np.zeros(mask.shape, dtype=bool)
    horizontal = mask[:, 1:] != mask[:, :-1]
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    del horizontal
    vertical = mask[1:] != mask[:-1]
    edges[1:] |= vertical
    edges[:-1] |= vertical
    return edges


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    opacity: float = 0.5,
    classes: Iterable[int] | None = None,
    boundaries: bool = False,
    *,
    scheme: LabelScheme,
) -> np.ndarray:
    """Blend the class colours over the photo.

    Args:
        image: HxWx3 uint8 RGB photo.
        mask: HxW class-id mask of the same size.
        scheme: what the mask's ids stand for; its colours are drawn.
        opacity: weight of the class colour, 0 (photo only) to 1 (palette colour only).
        classes: class ids to colour; None colours every class except Background, which stays
            the photo. Pixels of other classes are left as the photo.
        boundaries: also draw class borders (1 px on each shown side) in the class colour at
            full opacity, so borders stay visible at low opacity.

    Returns:
        HxWx3 uint8. Blending is exact at the ends: opacity 1 gives the palette colour, 0 the photo.

    Raises:
        ValueError: mismatched shapes, ids outside the scheme, opacity outside [0, 1].
    """
    image, mask, opacity = _rgb_image(image), as_class_mask(mask, scheme), _check_opacity(opacity)
    if image.shape[:2] != mask.shape:
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]} but mask is {mask.shape[1]}x{mask.shape[0]}"
        )
    shown = np.zeros(256, dtype=bool)
    shown[_class_ids(classes, scheme) if classes is not None else range(1, scheme.num_classes)] = True
    lut = _colour_lut(scheme)
    edges = class_edges(mask) if boundaries else None
    out = np.empty_like(image)
    # OpenCV in row chunks: 4x faster than numpy fancy indexing and no full-size temporaries.
    # addWeighted is exact at the ends (weights 0 and 1), so opacity 1 gives the palette colour.
    for r0 in range(0, mask.shape[0], OVERLAY_CHUNK_ROWS):
        rows = slice(r0, r0 + OVERLAY_CHUNK_ROWS)
        ids, photo, dst = mask[rows], np.ascontiguousarray(image[rows]), out[rows]
        colour = cv2.LUT(cv2.merge([ids, ids, ids]), lut)
        # dst is a contiguous view of `out`, so OpenCV writes the result straight into it.
        cv2.addWeighted(photo, 1.0 - opacity, colour, opacity, 0.0, dst=dst)
        cv2.copyTo(photo, (~shown[ids]).view(np.uint8), dst=dst)
        if edges is not None:
            cv2.copyTo(colour, (edges[rows] & shown[ids]).view(np.uint8), dst=dst)
    return out


def _class_ids(classes: Iterable[int], scheme: LabelScheme) -> list[int]:
    ids = [int(c) for c in classes]
    bad = [c for c in ids if not 0 <= c < scheme.num_classes]
    if bad:
        raise ValueError(f"unknown class ids {bad}; {scheme.name}'s ids are 0..{scheme.num_classes - 1}")
    return ids


# --- exports -----------------------------------------------------------------------------------------


def mask_png_bytes(mask: np.ndarray, *, scheme: LabelScheme) -> bytes:
    """A palette ('P') PNG: the pixel values are the class ids and the scheme's palette colours them.

    It opens coloured in any viewer, and `np.asarray(Image.open(...))` gives the ids back exactly.
    """
    png = Image.fromarray(as_class_mask(mask, scheme))  # mode L; putpalette turns it into P, same bytes
    png.putpalette(scheme.pil_palette())
    buf = io.BytesIO()
    png.save(buf, format="PNG")
    return buf.getvalue()


def image_bytes(image: np.ndarray, fmt: str = "PNG", quality: int = 90) -> bytes:
    """Encode an HxWx3 uint8 image as PNG or JPEG (quality 1..100, JPEG only)."""
    image = _rgb_image(image)
    kind = {"PNG": "PNG", "JPEG": "JPEG", "JPG": "JPEG"}.get(str(fmt).upper())
    if kind is None:
        raise ValueError(f"unsupported image format {fmt!r}; choose PNG or JPEG")
    buf = io.BytesIO()
    if kind == "PNG":
        # Level 1: at 12 MP, level 6 takes up to 4x longer (~4 s) for a file only ~5-15% smaller.
        Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    else:
        if not (isinstance(quality, int | np.integer) and 1 <= quality <= 100):
            raise ValueError(f"JPEG quality must be an integer from 1 to 100, got {quality!r}")
        Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def _csv_cell(value):
    # A name starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def stats_csv(
    stats: Sequence[ImageStats], extra: Sequence[dict] | None = None, scheme: LabelScheme | None = None
) -> str:
    """`stats_rows` as CSV text with a header (header only for an empty batch, which needs `scheme`).

    `extra`: per image, columns to put right after `image` (e.g. the source path).
    """
    rows = stats_rows(stats)
    if extra is not None:
        if len(extra) != len(rows):
            raise ValueError(f"stats_csv got {len(rows)} images but {len(extra)} extra rows")
        rows = [{"image": r["image"], **x, **r} for r, x in zip(rows, extra, strict=True)]
    fields = list((rows or _header_rows(scheme))[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


def _header_rows(scheme: LabelScheme | None) -> list[dict]:
    if scheme is None:
        raise ValueError("an empty statistics table needs its label scheme for its columns")
    return stats_rows([empty_stats(scheme)])


def stats_json(stats: Sequence[ImageStats], scheme: LabelScheme | None = None) -> str:
    """{"images": [ImageStats.to_dict()...], "summary": batch_summary(stats, scheme)} as JSON text."""
    summary = batch_summary(stats, scheme)
    return json.dumps({"images": [s.to_dict() for s in stats], "summary": summary}, indent=2)


def legend_csv(scheme: LabelScheme) -> str:
    """id,name,color (hex) for every class of the scheme."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "name", "color"])
    writer.writerows([e["id"], e["name"], e["color"]] for e in scheme.legend_entries())
    return buf.getvalue()


def safe_stem(name: str) -> str:
    r"""A file-name stem from a user-given name: basename only, no extension, safe characters.

    '../../evil.png' -> 'evil', 'C:\photos\DJI 01.JPG' -> 'DJI_01', '' -> 'image'.
    """
    base = re.split(r"[\\/]", str(name))[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    stem = _UNSAFE_NAME_CHARS.sub("_", stem).strip("._")[:_MAX_STEM_CHARS]
    return stem or "image"


def _unique_stems(names: Sequence[str]) -> list[str]:
    """safe_stem for each name, with _2, _3... appended to repeats (case-insensitively)."""
    used: set[str] = set()
    stems = []
    for name in names:
        stem, n = safe_stem(name), 1
        candidate = stem
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem}_{n}"
        used.add(candidate.lower())
        stems.append(candidate)
    return stems


def batch_zip(
    items: Sequence[tuple[str, np.ndarray, np.ndarray]],
    stats: Sequence[ImageStats],
    opacity: float = 0.5,
    *,
    scheme: LabelScheme,
) -> bytes:
    """One download for a batch: masks, overlays, stats and the legend.

    Args:
        items: (name, HxWx3 uint8 photo, HxW mask) per image, in the order of `stats`.
        stats: the ImageStats of each item.
        opacity: overlay opacity.
        scheme: what the masks' ids stand for (colours, legend, columns).

    Returns:
        ZIP bytes with masks/<stem>_mask.png, overlays/<stem>_overlay.jpg, stats.csv,
        stats.json and legend.csv. Stems come from `safe_stem`, made unique.
    """
    if len(items) != len(stats):
        raise ValueError(f"batch_zip got {len(items)} images but {len(stats)} stats; they must pair up")
    _check_opacity(opacity)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for stem, (_, image, mask) in zip(_unique_stems([i[0] for i in items]), items, strict=True):
            # PNG and JPEG are compressed already: storing them saves time for no size cost.
            png = mask_png_bytes(mask, scheme=scheme)
            archive.writestr(f"masks/{stem}_mask.png", png, compress_type=zipfile.ZIP_STORED)
            jpeg = image_bytes(overlay(image, mask, opacity, scheme=scheme), "JPEG", OVERLAY_JPEG_QUALITY)
            archive.writestr(f"overlays/{stem}_overlay.jpg", jpeg, compress_type=zipfile.ZIP_STORED)
        archive.writestr("stats.csv", stats_csv(stats, scheme=scheme))
        archive.writestr("stats.json", stats_json(stats, scheme))
        archive.writestr("legend.csv", legend_csv(scheme))
    return buf.getvalue()


def write_outputs(
    out_dir: Path,
    name: str,
    image: np.ndarray,
    mask: np.ndarray,
    stats: ImageStats,
    opacity: float = 0.5,
    stem: str | None = None,
    *,
    scheme: LabelScheme,
) -> list[Path]:
    """The CLI's files for one image: <stem>_mask.png, <stem>_overlay.jpg, <stem>_stats.json.

    The stem is `stem` when given (`outputs.OutputFolder.stem_for` makes it unique), else
    `safe_stem(name)`; existing files of the same name are replaced.

    Returns:
        The three paths, in that order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or safe_stem(name)
    paths = [out_dir / f"{stem}_mask.png", out_dir / f"{stem}_overlay.jpg", out_dir / f"{stem}_stats.json"]
    atomic_write_bytes(paths[0], mask_png_bytes(mask, scheme=scheme))
    overlaid = overlay(image, mask, opacity, scheme=scheme)
    atomic_write_bytes(paths[1], image_bytes(overlaid, "JPEG", OVERLAY_JPEG_QUALITY))
    atomic_write_bytes(paths[2], json.dumps(stats.to_dict(), indent=2).encode())
    return paths
