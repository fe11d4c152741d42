"""Segmenting photos for the Segment page: analyse a batch and re-draw its overlays (headline
figures and tables: `figures`; download files: `downloads`).

Plain data in and out (no streamlit), so the page only wires widgets to these functions.

What a `PhotoAnalysis` keeps, and why (a 12 MP photo costs ~7 MB plus its encoded file):

- `photo`: the photo at display size (long side <= `DISPLAY_LONG_SIDE`), uint8.
- `display_mask`: the mask resized (nearest) to the same display size, so moving the opacity
  slider re-blends ~2 MP in ~30 ms instead of 12 MP.
- `mask_png`: the full-resolution mask as a palette PNG: lossless, 0.1-1 MB instead of the 12 MB
  raw array, and already the file the mask download serves. `full_mask()` decodes it (~30 ms).
- `uncertainty`: the per-pixel uncertainty map at display size, uint8 (1/4 of float32), for the
  uncertainty overlay; its per-photo figures and familiarity verdict are in `stats`.
- `source`: the encoded upload (bytes) or sample path. The full-resolution overlay download is
  drawn from it only when asked for, so no full-size photo is ever held between reruns.

Statistics are computed once from the full-resolution mask, so they never depend on the display
size; a new ground sampling distance recomputes them from `mask_png` without re-running the model.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from seg_core.analytics import report, statistics
from seg_core.analytics.exposure import FLOOD_DISTANCE_M
from seg_core.analytics.familiarity import assess
from seg_core.analytics.uncertainty import photo_uncertainty, uncertainty_map
from seg_core.imagery.imageio import ImageReadError, LoadedImage, load_rgb, scaled_size
from seg_core.schemes.scheme import BOAT, POOL, VEHICLE, LabelScheme
from seg_core.services.caller import Caller

# Two side-by-side views on a 1400 px page are ~650 CSS px each: 1600 px stays sharp at 2x density.
DISPLAY_LONG_SIDE = 1600
# A batch stays in the browser session; 20 photos of 12 MP hold ~150 MB plus their files.
MAX_BATCH_PHOTOS = 20
UPLOAD_TYPES = ("jpg", "jpeg", "png", "tif", "tiff")
# Uncertainty shown at full colour: 1 - top probability of 0.5 means a coin flip between two
# classes; above it the map would only separate kinds of confusion no one acts on differently.
UNCERTAINTY_FULL_SCALE = 0.5
# Objects counted first, by role (every class of the role in the model's scheme), with their label.
COUNTED = {VEHICLE: "Vehicles", BOAT: "Boats", POOL: "Pools"}
__all__ = ["COUNTED", "FLOOD_DISTANCE_M", "PhotoAnalysis", "analyse_photo", "legend_rows"]

Progress = Callable[[float, str], None]  # (fraction of the batch done 0..1, what is happening)


@dataclass(frozen=True)
class PhotoInput:
    """One photo to segment: its name as the user knows it and its encoded file."""

    name: str
    source: bytes | Path  # upload bytes, or a path chosen by the app (samples), never typed by a user

    @property
    def size_bytes(self) -> int:
        """File size, part of the cache key; -1 for a vanished path (analysing it reports why)."""
        if isinstance(self.source, bytes):
            return len(self.source)
        try:
            return self.source.stat().st_size
        except OSError:
            return -1


def inputs_from_paths(paths: Iterable[Path]) -> list[PhotoInput]:
    return [PhotoInput(Path(p).name, Path(p)) for p in paths]


@dataclass(frozen=True)
class PhotoAnalysis:
    """A segmented photo, ready to display and export (see the module docstring for memory).

    Attributes:
        name: the photo's file name.
        photo: HxWx3 uint8 at display size (long side <= DISPLAY_LONG_SIDE).
        display_mask: HxW uint8 class ids at the same display size.
        mask_png: the full-resolution mask as a palette PNG (pixel values are class ids).
        original_size: (width, height) of the photo, EXIF orientation applied.
        stats: statistics.ImageStats of the full-resolution mask.
        legend: classes present, as `LabelScheme.legend_entries` rows (id, name, color, share).
        scheme: the model's label scheme: what the mask's ids stand for.
        notices: non-fatal remarks about the input (e.g. extra TIFF pages ignored).
        seconds: time per stage (decode, forward, upsample, display, statistics, total).
        source: the encoded file, for the full-resolution overlay download.
        uncertainty: HxW uint8 at display size, per-pixel uncertainty (1 - top class probability)
            scaled to 0..255 (`uncertainty_scale`); None for analyses made without it.
    """

    name: str
    photo: np.ndarray
    display_mask: np.ndarray
    mask_png: bytes
    original_size: tuple[int, int]
    stats: statistics.ImageStats
    legend: list[dict]
    scheme: LabelScheme
    notices: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    source: bytes | Path = b""
    uncertainty: np.ndarray | None = None

    def full_mask(self) -> np.ndarray:
        """HxW uint8 class ids at the photo's original size (decoded from `mask_png`)."""
        with Image.open(io.BytesIO(self.mask_png)) as png:
            return np.asarray(png, dtype=np.uint8)


@dataclass(frozen=True)
class PhotoFailure:
    """A photo that could not be segmented; `message` names the file and the reason."""

    name: str
    message: str


def legend_rows(stats: statistics.ImageStats, scheme: LabelScheme) -> list[dict]:
    """Classes present, largest share first: the rows of `scheme.legend_entries(mask)`, taken from
    the statistics so a 12 MP mask is not counted twice."""
    rows = [
        {"id": c.id, "name": c.name, "color": c.hex, "share": stats.pixel_share[c.name]}
        for c in scheme.classes
        if stats.pixel_share[c.name] > 0
    ]
    return sorted(rows, key=lambda r: -r["share"])


def check_gsd(gsd_cm: float | None) -> None:
    """Refuse a ground sampling distance that is not a positive number (before the model runs)."""
    statistics.check_gsd(gsd_cm)


def analyse_photo(
    predictor,
    source: bytes | str | Path,
    name: str,
    gsd_cm: float | None = None,
    tta: bool = False,
    progress: Callable[[float], None] | None = None,
) -> PhotoAnalysis:
    """Segment one photo and compute everything the page shows about it.

    Args:
        predictor: a seg_core.inference.predictor.Predictor.
        source: the encoded photo (upload bytes or a path).
        name: the file name, used in messages, tables and download names.
        gsd_cm: ground sampling distance in cm per pixel; enables areas in m².
        tta: 8-fold test-time augmentation (8x slower, slightly smoother masks).
        progress: called with the fraction of this photo done, 0..1.

    Returns:
        PhotoAnalysis. Shape: photo (h, w, 3) with max(h, w) <= DISPLAY_LONG_SIDE; full_mask()
        (H, W) at the original size.

    Raises:
        ImageReadError: the file is not a usable image (the message names it).
        ValueError: a bad gsd_cm.
    """
    source = Path(source) if isinstance(source, str) else source
    check_gsd(gsd_cm)
    report_progress = progress or (lambda fraction: None)
    start = time.perf_counter()
    if _is_jpeg(source):
        # JPEG decodes at 1/2..1/8 scale in the DCT domain: two small decodes (model, display)
        # beat one full decode, and the full-size photo is never built.
        model_input, full = source, None
    else:
        # TIFF/PNG have no reduced decode: decode once at full size for both (1 s saved at 12 MP).
        full = load_rgb(source, name=name)
        model_input = full.pixels
    decode_seconds = time.perf_counter() - start
    prediction = predictor.predict_full(
        model_input,
        tta=tta,
        confidence=True,
        name=name,
        progress=lambda done, total: report_progress(0.8 * done / total),
    )
    seconds = dict(prediction.seconds)
    seconds["decode"] = seconds.get("decode", 0.0) + decode_seconds
    mask = prediction.mask
    doubt = figures_of_doubt = None
    if prediction.confidence is not None:  # a stand-in predictor may not give one
        figures_of_doubt = _doubt_figures(prediction.confidence, mask, predictor)
        # Shrunk to display size first (a 12 MP float map is 48 MB), then 0..255 over
        # [0, UNCERTAINTY_FULL_SCALE]: a uint8 map costs a quarter of the float one.
        size = scaled_size((mask.shape[1], mask.shape[0]), DISPLAY_LONG_SIDE)
        small = np.asarray(Image.fromarray(prediction.confidence).resize(size, Image.Resampling.BOX))
        scaled = uncertainty_map(small) * (255 / UNCERTAINTY_FULL_SCALE)
        doubt = Image.fromarray(np.round(scaled).clip(0, 255).astype(np.uint8))
    del prediction, model_input  # neither the working-resolution copy nor the full photo is kept
    tick = time.perf_counter()
    display = _display_photo(source, name, full)
    del full
    if display.original_size != (mask.shape[1], mask.shape[0]):  # e.g. a sample rewritten meanwhile
        raise ImageReadError(f"{name}: the file changed while it was being segmented; try again")
    height, width = display.pixels.shape[:2]
    display_mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
    if doubt is not None and doubt.size != (width, height):
        doubt = doubt.resize((width, height), Image.Resampling.BOX)
    display_doubt = None if doubt is None else np.asarray(doubt)
    seconds["display"] = time.perf_counter() - tick
    report_progress(0.85)
    tick = time.perf_counter()
    scheme = predictor.scheme
    stats = statistics.image_stats(mask, scheme, name=name, gsd_cm=gsd_cm)
    if figures_of_doubt is not None:
        stats = replace(stats, uncertainty=figures_of_doubt[0], familiarity=figures_of_doubt[1])
    mask_png = report.mask_png_bytes(mask, scheme=scheme)
    seconds["statistics"] = time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - start
    report_progress(1.0)
    return PhotoAnalysis(
        name=name,
        photo=display.pixels,
        display_mask=display_mask,
        mask_png=mask_png,
        original_size=(mask.shape[1], mask.shape[0]),
        stats=stats,
        legend=legend_rows(stats, scheme),
        scheme=scheme,
        notices=display.notices,
        seconds=seconds,
        source=source,
        uncertainty=display_doubt,
    )


def _doubt_figures(confidence: np.ndarray, mask: np.ndarray, predictor) -> tuple[dict, dict]:
    """The photo's uncertainty figures and its familiarity verdict against the checkpoint's
    reference (`Predictor.familiarity`, without needing a full Predictor)."""
    doubt = photo_uncertainty(mask, confidence, predictor.scheme)
    meta = getattr(predictor, "meta", None) or {}
    return doubt.to_dict(), assess(doubt, meta.get("uncertainty_reference")).to_dict()


def _is_jpeg(source: bytes | Path) -> bool:
    """By content (JPEG's SOI marker), like the decoder; an unreadable path is left to load_rgb."""
    if isinstance(source, bytes):
        return source[:3] == b"\xff\xd8\xff"
    try:
        with open(source, "rb") as handle:
            return handle.read(3) == b"\xff\xd8\xff"
    except OSError:
        return False


def _display_photo(source: bytes | Path, name: str, full: LoadedImage | None) -> LoadedImage:
    """The photo with its long side at most DISPLAY_LONG_SIDE, from the full decode when there is one."""
    if full is None:
        return load_rgb(source, long_side=DISPLAY_LONG_SIDE, name=name)
    size = scaled_size(full.original_size, DISPLAY_LONG_SIDE)
    pixels = full.pixels
    if size != full.original_size:
        pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX))
    return LoadedImage(pixels, full.original_size, full.notices)


def with_gsd(analysis: PhotoAnalysis, gsd_cm: float | None) -> PhotoAnalysis:
    """The same analysis with statistics for another ground sampling distance (no model run)."""
    if analysis.stats.gsd_cm == gsd_cm:
        return analysis
    check_gsd(gsd_cm)
    stats = statistics.image_stats(analysis.full_mask(), analysis.scheme, name=analysis.name, gsd_cm=gsd_cm)
    stats = replace(stats, uncertainty=analysis.stats.uncertainty, familiarity=analysis.stats.familiarity)
    return replace(analysis, stats=stats)


# --- a batch, cached across reruns --------------------------------------------------------------


def cache_key(photo: PhotoInput, model_key: str, tta: bool) -> tuple:
    """What decides a mask: the file (name and size), the model file version and TTA. The gsd only
    changes statistics, which `with_gsd` recomputes, so it is not part of the key."""
    return (photo.name, photo.size_bytes, model_key, bool(tta))


def run_batch(
    photos: Sequence[PhotoInput],
    cache: MutableMapping,
    load_predictor: Callable[[], object],
    model_key: str,
    gsd_cm: float | None = None,
    tta: bool = False,
    progress: Progress | None = None,
    caller: Caller | None = None,
) -> list[PhotoAnalysis | PhotoFailure]:
    """Analyse the photos not in `cache` yet, reuse the rest, and forget everything else.

    A photo that cannot be read becomes a PhotoFailure (also cached, so it is not retried on
    every rerun) and the others are still processed. Each result enters the cache as soon as it
    is ready, so an interrupted batch resumes where it stopped.

    Args:
        photos: the current batch (duplicates by cache key are shown once).
        cache: cache_key -> PhotoAnalysis | PhotoFailure; left holding only this batch.
        load_predictor: returns the Predictor; called only when some photo needs the model.
        model_key: identifies the model file version (e.g. path and modification time).
        gsd_cm, tta: as for analyse_photo.
        progress: called as progress(fraction of the batch, "photo 2 of 5: name"), only while
            something is computed.
        caller: who uploads; their new uploads count against their daily quota (AccessDenied
            when over it; nothing is processed). None: the owner, no quota.

    Returns:
        One result per distinct photo, in input order.

    Raises:
        CheckpointError: the model cannot be loaded (nothing is processed).
    """
    keyed = {cache_key(p, model_key, tta): p for p in photos}
    seen = {key[:2] for key in cache}  # (name, size) already uploaded: another model or TTA is no new upload
    _charge_uploads(caller or Caller(), [p for k, p in keyed.items() if k not in cache and k[:2] not in seen])
    for stale in [k for k in cache if k not in keyed]:
        del cache[stale]
    todo = [k for k in keyed if k not in cache]
    predictor = load_predictor() if todo else None
    report_progress = progress or (lambda fraction, text: None)
    worked = False
    for index, (key, photo) in enumerate(keyed.items()):
        text = f"photo {index + 1} of {len(keyed)}: {photo.name}"
        cached = cache.get(key)
        if cached is None:
            report_progress(index / len(keyed), text)
            cache[key] = _analyse_or_fail(
                predictor, photo, gsd_cm, tta, index, len(keyed), text, report_progress
            )
            worked = True
        elif isinstance(cached, PhotoAnalysis) and cached.stats.gsd_cm != gsd_cm:
            report_progress(index / len(keyed), f"areas for {text}")
            cache[key] = with_gsd(cached, gsd_cm)
            worked = True
    if worked:  # nothing is reported when every result came from the cache (a slider moved)
        report_progress(1.0, f"{len(keyed)} photo{'s' if len(keyed) != 1 else ''} done")
    return [cache[k] for k in keyed]


def _charge_uploads(caller: Caller, photos: Sequence[PhotoInput]) -> None:
    uploads = [p for p in photos if isinstance(p.source, bytes)]  # samples are not uploads
    if not uploads:
        return
    names = ", ".join(p.name for p in uploads[:5]) + (", ..." if len(uploads) > 5 else "")
    what = f"{len(uploads)} photo{'s' if len(uploads) != 1 else ''} to Segment: {names}"
    caller.charge_upload(sum(len(p.source) for p in uploads), what)


def _analyse_or_fail(
    predictor, photo, gsd_cm, tta, index, total, text, progress
) -> PhotoAnalysis | PhotoFailure:
    try:
        return analyse_photo(
            predictor,
            photo.source,
            photo.name,
            gsd_cm,
            tta,
            progress=lambda fraction: progress((index + fraction) / total, text),
        )
    except ImageReadError as exc:
        return PhotoFailure(photo.name, str(exc))
    except MemoryError:
        return PhotoFailure(photo.name, f"{photo.name}: not enough memory to segment a photo this large")


# --- what the page draws ------------------------------------------------------------------------


def render_overlay(
    analysis: PhotoAnalysis,
    opacity: float = 0.5,
    classes: Iterable[int] | None = None,
    boundaries: bool = False,
) -> np.ndarray:
    """The colour overlay at display size, in the colours of the photo's scheme (see
    report.overlay for the arguments)."""
    return report.overlay(
        analysis.photo, analysis.display_mask, opacity, classes, boundaries, scheme=analysis.scheme
    )


def class_ids(names: Iterable[str], scheme: LabelScheme) -> list[int]:
    """Class names (as the page's class picker shows them) -> ids of `scheme`."""
    return [scheme.class_id(n) for n in names]


def render_uncertainty(analysis: PhotoAnalysis, opacity: float = 0.5) -> np.ndarray | None:
    """The uncertainty map over the photo at display size: dark = sure, bright yellow = unsure
    (inferno colour map, full scale at `UNCERTAINTY_FULL_SCALE`); None without a map."""
    if analysis.uncertainty is None:
        return None
    heat = cv2.applyColorMap(analysis.uncertainty, cv2.COLORMAP_INFERNO)[..., ::-1]  # BGR -> RGB
    alpha = float(np.clip(opacity, 0.0, 1.0))
    blend = analysis.photo.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha
    return blend.round().astype(np.uint8)
