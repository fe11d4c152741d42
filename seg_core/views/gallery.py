"""What the Data and Evaluate pages show, as plain data: photo thumbnails with their mask
overlaid, photo | truth | prediction strips, and the rows of their tables (problems by file,
scores per class) with CSV export.

Pictures are decoded at thumbnail size (JPEG draft mode, nearest-neighbour masks), so a page of
nine 12-megapixel photos renders in about a second rather than decoding 100 MB of pixels.
"""

from __future__ import annotations

import base64
import collections
import csv
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.analytics.report import overlay
from seg_core.analytics.statistics import class_shares
from seg_core.datasets.discovery import Pair, ValidationReport
from seg_core.evaluation.scores import confusion_matrix_figure_data, scores_from_matrix
from seg_core.imagery.imageio import load_mask, load_rgb
from seg_core.schemes.scheme import LabelScheme

TOP_CLASSES = 3  # enough to say what a photo shows, short enough for a caption
STRIP_GAP_PX = 4  # white gap between panels so three same-coloured edges do not read as one
MIN_SIDE, MAX_SIDE = 16, 2048  # below 16 px nothing is visible; above 2048 it is no thumbnail


@dataclass(frozen=True, eq=False)  # eq=False: an array field makes the generated __eq__ meaningless
class Thumb:
    """One gallery tile.

    Attributes:
        stem: the pair's file stem (the caption).
        overlay: HxWx3 uint8 photo with the class colours blended in, long side <= max_side;
            None when the files could not be read (then `error` says why).
        top_classes: names of the largest classes, largest first (Background left out unless it
            is all there is, since nearly every photo has it).
        top_shares: their pixel shares, same order.
        error: the read error's sentence, or None.
    """

    stem: str
    overlay: np.ndarray | None
    top_classes: list[str] = field(default_factory=list)
    top_shares: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def caption(self) -> str:
        if self.error:
            return f"{self.stem}: unreadable"
        parts = [f"{name} {share:.0%}" for name, share in zip(self.top_classes, self.top_shares, strict=True)]
        return f"{self.stem} · {', '.join(parts)}" if parts else self.stem


def _check_max_side(max_side: int) -> int:
    if not MIN_SIDE <= int(max_side) <= MAX_SIDE:
        raise ValueError(f"thumbnail size {max_side} px is outside {MIN_SIDE}..{MAX_SIDE}")
    return int(max_side)


def top_classes(mask: np.ndarray, scheme: LabelScheme, k: int = TOP_CLASSES) -> list[tuple[str, float]]:
    """The k largest classes of a mask as (name, share), Background only when nothing else is there."""
    shares = class_shares(mask, scheme)
    order = [int(c) for c in np.argsort(-shares, kind="stable") if shares[c] > 0]
    named = [c for c in order if c != 0] or order
    return [(scheme.names[c], float(shares[c])) for c in named[:k]]


def _load_pair(image_path: Path, mask_path: Path, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Photo and mask at thumbnail size; the mask resized nearest so class ids stay ids."""
    pixels = load_rgb(image_path, long_side=max_side).pixels
    height, width = pixels.shape[:2]
    return pixels, load_mask(mask_path, size=(width, height))


def _thumb(pair: Pair, scheme: LabelScheme, max_side: int, opacity: float) -> Thumb:
    try:
        pixels, mask = _load_pair(pair.image, pair.mask, max_side)
    except ValueError as exc:  # ImageReadError: a file changed since validation; one tile, not the page
        return Thumb(pair.stem, None, error=str(exc))
    try:
        shown = overlay(pixels, mask, opacity=opacity, scheme=scheme)
    except ValueError as exc:  # label ids outside the scheme (an unvalidated mask)
        return Thumb(pair.stem, None, error=f"{pair.mask}: {exc}")
    top = top_classes(mask, scheme)
    return Thumb(
        pair.stem,
        shown,
        [name for name, _ in top],
        [share for _, share in top],
    )


def thumbnail_overlays(
    pairs: Sequence[Pair],
    scheme: LabelScheme,
    max_side: int = 320,
    opacity: float = 0.5,
    start: int = 0,
    count: int = 9,
    workers: int = 2,
) -> list[Thumb]:
    """Thumbnails of `pairs[start:start + count]` with their masks overlaid.

    Args:
        pairs: usable pairs, e.g. `validate_dataset(...).pairs`.
        scheme: the dataset's label scheme (`ValidationReport.scheme`): the colours drawn.
        max_side: long side of each thumbnail in px (never upscaled).
        opacity: weight of the class colours, 0 (photo) to 1 (colours only).
        start, count: the page of pairs to render.
        workers: threads decoding files (Pillow releases the GIL while decoding).

    Returns:
        One Thumb per pair of the page, in order; unreadable files give a Thumb with `error`.

    Raises:
        ValueError: max_side outside 16..2048, opacity outside [0, 1], negative start or count.
    """
    max_side = _check_max_side(max_side)
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity {opacity} must be between 0 and 1")
    if start < 0 or count < 0:
        raise ValueError(f"start {start} and count {count} must not be negative")
    page = list(pairs[start : start + count])
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda p: _thumb(p, scheme, max_side, opacity), page))


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (mask.shape[1], mask.shape[0]) == size:
        return mask
    return np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))


def comparison_strip(
    image_path: str | Path,
    mask_path: str | Path,
    predicted_mask: np.ndarray,
    scheme: LabelScheme,
    max_side: int = 320,
) -> np.ndarray:
    """Photo | true mask | predicted mask side by side, each panel's long side <= max_side.

    Args:
        image_path: the photo.
        mask_path: its class-id mask.
        predicted_mask: HxW class ids at the photo's displayed size (any size is resized nearest).
        scheme: the label scheme of both masks (the model's, which evaluation checked).
        max_side: long side of each panel in px.

    Returns:
        h x (3w + 2 gaps) x 3 uint8, masks drawn in the class colours.

    Shape:
        predicted_mask (H, W) -> (h, 3w + 2 * STRIP_GAP_PX, 3) with max(h, w) <= max_side.

    Raises:
        ImageReadError: the photo or mask cannot be read.
        ValueError: max_side out of range, or the prediction holds ids outside the scheme.
    """
    max_side = _check_max_side(max_side)
    predicted = np.asarray(predicted_mask)
    if predicted.ndim != 2:
        raise ValueError(f"predicted mask must be HxW, got shape {predicted.shape}")
    if predicted.size and int(predicted.max()) >= scheme.num_classes:
        raise ValueError(
            f"predicted mask holds id {int(predicted.max())}; {scheme.name}'s ids are 0..{scheme.num_classes - 1}"
        )
    pixels, truth = _load_pair(Path(image_path), Path(mask_path), max_side)
    height, width = truth.shape
    prediction = _resize_mask(predicted.astype(np.uint8, copy=False), (width, height))
    gap = np.full((height, STRIP_GAP_PX, 3), 255, dtype=np.uint8)
    return np.concatenate([pixels, gap, scheme.colorize(truth), gap, scheme.colorize(prediction)], axis=1)


# --------------------------------------------------------------------------- tables

AWAITING_LABEL = "missing_mask"  # a photo nobody has labelled yet: a labelling state, not a fault
PROBLEM_LABELS = {  # data.Problem.kind -> what an analyst calls it
    AWAITING_LABEL: "awaiting a label",
    "orphan_mask": "mask without image",
    "damaged": "damaged file",
    "unreadable": "unreadable file",
    "size_mismatch": "mask size differs from image",
    "bad_labels": "labels outside the scheme",
    "foreign_scheme": "another scheme's labels",
    "unlabelled": "no labelled pixel",
    "unknown_scheme": "label scheme unknown",
    "duplicate_stem": "duplicate file name",
    "not_an_image": "not an image",
    "outside_root": "link outside the dataset",
    "empty": "no images",
}


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def problem_rows(report: ValidationReport) -> list[dict]:
    """One row per unusable file: {problem, file (relative to the dataset), message}.

    The message drops its leading path, which the `file` column already shows.
    """
    rows = []
    for problem in report.problems:
        message = problem.message.removeprefix(f"{problem.path}: ")
        rows.append(
            {
                "problem": PROBLEM_LABELS.get(problem.kind, problem.kind),
                "file": _relative(problem.path, report.root),
                "message": message,
            }
        )
    return rows


def problem_counts(report: ValidationReport) -> dict[str, int]:
    """Faults per kind (analyst wording), most frequent first; photos awaiting a label are not
    faults (`awaiting_label`)."""
    faults = [p for p in report.problems if p.kind != AWAITING_LABEL]
    counts = collections.Counter(PROBLEM_LABELS.get(p.kind, p.kind) for p in faults)
    return dict(counts.most_common())


def awaiting_label(report: ValidationReport) -> int:
    """Photos without a mask yet: the Label page's work, not something to fix or remove."""
    return sum(1 for p in report.problems if p.kind == AWAITING_LABEL)


def present_classes(matrix: np.ndarray) -> list[int]:
    """Class ids with pixels in the truth or the prediction of a (C, C) confusion matrix."""
    m = np.asarray(matrix)
    return [int(c) for c in np.flatnonzero((m.sum(axis=0) + m.sum(axis=1)) > 0)]


def confusion_for_present(matrix: np.ndarray, scheme: LabelScheme) -> dict:
    """`confusion_matrix_figure_data` restricted to the classes present, rows normalised by truth.

    Dropping absent classes changes no value: their rows and columns hold only zeros.
    """
    ids = present_classes(matrix) or [0]
    sub = np.asarray(matrix)[np.ix_(ids, ids)]
    return confusion_matrix_figure_data(sub, [scheme.names[c] for c in ids], normalize="true")


def swatch_data_url(colour: str) -> str:
    """A tiny SVG square in a '#rrggbb' colour, as a data URL an image table column can show."""
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' width='16' height='16'>"
        f"<rect width='16' height='16' fill='{colour}' stroke='#555'/></svg>"
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _defined(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def class_score_rows(matrix: np.ndarray, scheme: LabelScheme) -> list[dict]:
    """Per-class scores of the classes present, worst IoU first (the ones to work on).

    Returns:
        Rows {id, colour (swatch URL), class, iou, dice, precision, recall, truth_share,
        predicted_share, support}; undefined scores are None (e.g. precision of a class never
        predicted) and sort last.
    """
    m = np.asarray(matrix, dtype=np.int64)
    scores = scores_from_matrix(m)
    total = max(int(m.sum()), 1)
    predicted = m.sum(axis=0)
    rows = []
    for c in present_classes(m):
        rows.append(
            {
                "id": c,
                "colour": swatch_data_url(scheme.hex_color(c)),
                "class": scheme.names[c],
                "iou": _defined(scores.iou[c]),
                "dice": _defined(scores.dice[c]),
                "precision": _defined(scores.precision[c]),
                "recall": _defined(scores.recall[c]),
                "truth_share": int(scores.support[c]) / total,
                "predicted_share": int(predicted[c]) / total,
                "support": int(scores.support[c]),
            }
        )
    rows.sort(key=lambda r: (r["iou"] is None, r["iou"] if r["iou"] is not None else 0.0, -r["support"]))
    return rows


def rows_csv(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """CSV text of table rows (None -> empty cell); `columns` picks and orders the fields."""
    columns = list(columns or (rows[0].keys() if rows else []))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
