"""The Segment page's downloads of segmented photos: per photo (mask PNG, full-resolution overlay,
statistics) and one ZIP for a batch. Full-resolution photos are decoded again from their file
when a download is built, never kept between reruns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from seg_core.analytics import report
from seg_core.imagery.imageio import ImageReadError, load_rgb
from seg_core.services.analysis import PhotoAnalysis


@dataclass(frozen=True)
class DownloadFile:
    """A file the page offers; `build` makes its bytes when the user clicks (deferred)."""

    label: str
    file_name: str
    mime: str
    build: Callable[[], bytes]


def full_resolution_photo(analysis: PhotoAnalysis) -> np.ndarray:
    """HxWx3 uint8 at the original size, decoded again from the file (never kept in memory)."""
    photo = load_rgb(analysis.source, name=analysis.name).pixels
    if (photo.shape[1], photo.shape[0]) != analysis.original_size:
        raise ImageReadError(f"{analysis.name}: the file changed since it was segmented; segment it again")
    return photo


def overlay_jpeg(
    analysis: PhotoAnalysis,
    opacity: float = 0.5,
    classes: Iterable[int] | None = None,
    boundaries: bool = False,
) -> bytes:
    """The overlay at full resolution as a JPEG."""
    image = report.overlay(
        full_resolution_photo(analysis),
        analysis.full_mask(),
        opacity,
        classes,
        boundaries,
        scheme=analysis.scheme,
    )
    return report.image_bytes(image, "JPEG", report.OVERLAY_JPEG_QUALITY)


def download_files(
    analysis: PhotoAnalysis,
    opacity: float = 0.5,
    classes: Iterable[int] | None = None,
    boundaries: bool = False,
) -> list[DownloadFile]:
    """Mask PNG, overlay JPEG (as currently drawn, full resolution), statistics CSV and JSON."""
    stem = report.safe_stem(analysis.name)
    shown = None if classes is None else list(classes)
    return [
        DownloadFile("Mask PNG", f"{stem}_mask.png", "image/png", lambda: analysis.mask_png),
        DownloadFile(
            "Overlay JPEG",
            f"{stem}_overlay.jpg",
            "image/jpeg",
            lambda: overlay_jpeg(analysis, opacity, shown, boundaries),
        ),
        DownloadFile(
            "Statistics CSV",
            f"{stem}_stats.csv",
            "text/csv",
            lambda: report.stats_csv([analysis.stats]).encode(),
        ),
        DownloadFile(
            "Statistics JSON",
            f"{stem}_stats.json",
            "application/json",
            lambda: report.stats_json([analysis.stats]).encode(),
        ),
    ]


def downloads(
    analysis: PhotoAnalysis,
    opacity: float = 0.5,
    classes: Iterable[int] | None = None,
    boundaries: bool = False,
) -> dict[str, bytes]:
    """Every download of one photo, built now: file name -> bytes."""
    return {f.file_name: f.build() for f in download_files(analysis, opacity, classes, boundaries)}


class _FullResolutionItem(Sequence):
    """(name, photo, mask) for report.batch_zip, decoded only when unpacked, so the ZIP holds one
    full-resolution photo at a time instead of the whole batch (20 x 36 MB)."""

    def __init__(self, analysis: PhotoAnalysis):
        self._analysis = analysis

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index):
        if index in (0, -3):
            return self._analysis.name
        if index in (1, -2):
            return full_resolution_photo(self._analysis)
        if index in (2, -1):
            return self._analysis.full_mask()
        raise IndexError(index)


def batch_downloads(analyses: Sequence[PhotoAnalysis], opacity: float = 0.5) -> bytes:
    """One ZIP for the batch (report.batch_zip): full-resolution masks and overlays, stats CSV/JSON
    and the legend."""
    if not analyses:
        raise ValueError("there are no segmented photos to put in a ZIP")
    items = [_FullResolutionItem(a) for a in analyses]
    schemes = {a.scheme.name for a in analyses}
    if len(schemes) > 1:
        raise ValueError(f"photos of label schemes {', '.join(sorted(schemes))} cannot share one ZIP")
    return report.batch_zip(items, [a.stats for a in analyses], opacity, scheme=analyses[0].scheme)
