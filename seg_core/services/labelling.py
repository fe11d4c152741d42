"""What the Label page (and `python -m seg_core label`) needs, without Streamlit.

A `LabelSession` is one analyst correcting one photo: the working image they see (long side
`VIEW_LONG_SIDE`), the original-size mask being corrected (`MaskEditor`), the mask version they
started from (for the conflict check) and superpixels cached per granularity. The guarded
actions (`save_labels`, `prelabel_photos`, `finetune_on_labels`, `create_dataset_from_photos`)
take the `Caller` and are each one function the page calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.analytics.uncertainty import photo_uncertainty, rank_for_labelling
from seg_core.core.text import count
from seg_core.imagery.imageio import load_rgb
from seg_core.labelling.agreement import independent, review_label, save_own_label, working_mask
from seg_core.labelling.labelset import trainable_masks
from seg_core.labelling.labelstore import LabelStore, check_new_dataset, check_who, write_dataset
from seg_core.labelling.mask_edit import MaskEditor, region_boundaries, superpixels
from seg_core.labelling.provenance import describe_save, person_share, training_cautions
from seg_core.labelling.strokes import eraser_class, object_class
from seg_core.schemes.remap import prelabel_remap
from seg_core.services.caller import Caller

VIEW_LONG_SIDE = 1024  # what the analyst sees and superpixels run on: sharp enough, a second to segment


@dataclass
class LabelSession:
    store: LabelStore
    stem: str
    who: str
    editor: MaskEditor
    base_version: str  # the saved mask's version when this session opened it
    source: str  # where the mask came from: saved, pre-label, empty, draft
    view: np.ndarray  # HxWx3 uint8 working image
    _superpixels: dict = field(default_factory=dict)
    edits: int = 0  # canvas drawings applied since opening (the page shows it: tests wait on it)

    @property
    def original_size(self) -> tuple[int, int]:
        return self.editor.size

    def superpixels(self, method: str, regions: int) -> np.ndarray:
        key = (method, regions)
        if key not in self._superpixels:
            self._superpixels = {key: superpixels(self.view, method, regions)}  # keep one: memory
        return self._superpixels[key]

    def keep_draft(self) -> None:
        """Called after every edit: a closed tab or a crash loses at most the last stroke."""
        self.store.save_draft(self.stem, self.who, self.editor.mask, self.base_version)


def open_photo(dataset: str | Path, stem: str, who: str) -> LabelSession:
    """Open a photo for correction: this analyst's draft if one exists, else the saved mask, else
    the pre-label, else all Background."""
    store = LabelStore(dataset)
    check_who(who)
    view = load_rgb(store.image_path(stem), long_side=VIEW_LONG_SIDE).pixels
    draft = store.load_draft(stem, who)
    if draft is not None:
        mask, base_version = draft
        source = "draft"
    else:  # a photo labelled independently opens from this analyst's own label (agreement)
        mask, source = (
            working_mask(store, stem, who) if independent(store, stem) else store.load_working_mask(stem)
        )
        base_version = store.version(stem)
    editor = MaskEditor(mask, num_classes=store.scheme.num_classes)
    return LabelSession(store, stem, who, editor, base_version, source, view)


def save_labels(session: LabelSession, force: bool = False, caller: Caller | None = None) -> str:
    """Save the corrected mask (original size, atomic); returns a sentence for the page.
    For analysts and admins (`caller` None: the owner).

    Raises:
        ConflictError: someone else saved this photo since it was opened (see labelstore).
        ValueError: the photo was removed, or the mask does not fit it.
        AccessDenied: the caller may not save masks.
    """
    target = f"{session.store.root.name}/{session.stem}"
    (caller or Caller()).authorize("label.save", target=target)
    store, mask = session.store, session.editor.mask
    prelabel = store.load_prelabel(session.stem, session.original_size)
    provenance = describe_save(
        mask, prelabel, store.prelabel_info(session.stem), session.editor.touched, session.edits
    )
    if independent(store, session.stem):
        return save_own_label(store, session.stem, session.who, mask, provenance)
    session.base_version = store.save(
        session.stem, mask, session.who, session.base_version, force=force, provenance=provenance
    )
    session.source = "saved"
    width, height = session.original_size
    return f"Saved {session.store.mask_path(session.stem).name} ({width}x{height} px) as {session.who}."


def discard_changes(session: LabelSession) -> LabelSession:
    """Drop this analyst's draft and reopen from what is saved."""
    session.store.discard_draft(session.stem, session.who)
    return open_photo(session.store.root, session.stem, session.who)


def render_view(
    session: LabelSession,
    opacity: float,
    box: tuple[int, int, int, int] | None = None,
    boundaries: np.ndarray | None = None,
) -> np.ndarray:
    """The working image with the mask blended over it, optionally only the zoom box
    (x0, y0, x1, y1 in working px) and with superpixel borders drawn in white."""
    height, width = session.view.shape[:2]
    mask_small = np.asarray(
        Image.fromarray(session.editor.mask).resize((width, height), Image.Resampling.NEAREST)
    )
    blended = session.view * (1 - opacity) + session.store.scheme.colorize(mask_small) * opacity
    if boundaries is not None:
        blended[boundaries] = 255
    picture = blended.astype(np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        picture = picture[y0:y1, x0:x1]
    return picture


def superpixel_borders(session: LabelSession, method: str, regions: int) -> np.ndarray:
    return region_boundaries(session.superpixels(method, regions))


def zoom_box(
    view_size: tuple[int, int], zoom: float, centre: tuple[float, float]
) -> tuple[int, int, int, int]:
    """The part of the working image shown at `zoom` (1 = all), centred on (cx, cy) in 0..1."""
    if zoom < 1:
        raise ValueError(f"zoom {zoom} must be at least 1")
    width, height = view_size
    box_w, box_h = max(1, round(width / zoom)), max(1, round(height / zoom))
    x0 = int(round(min(max(centre[0] * width - box_w / 2, 0), width - box_w)))
    y0 = int(round(min(max(centre[1] * height - box_h / 2, 0), height - box_h)))
    return x0, y0, x0 + box_w, y0 + box_h


@dataclass(frozen=True)
class CanvasFrame:
    """How canvas pixels map to original photo pixels: the zoom box and the canvas size."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in working px
    canvas_size: tuple[int, int]  # width, height in canvas px
    view_size: tuple[int, int]  # working image width, height
    original_size: tuple[int, int]

    def to_original(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        wx = x0 + x * (x1 - x0) / self.canvas_size[0]
        wy = y0 + y * (y1 - y0) / self.canvas_size[1]
        return wx * self.original_size[0] / self.view_size[0], wy * self.original_size[1] / self.view_size[1]

    def scale(self) -> float:
        """Original px per canvas px (for brush widths)."""
        x0, _, x1, _ = self.box
        return (x1 - x0) / self.canvas_size[0] * self.original_size[0] / self.view_size[0]


def apply_canvas_objects(
    session: LabelSession,
    objects: list[dict],
    frame: CanvasFrame,
    class_id: int,
    eraser: bool = False,
    regions: tuple[str, int] = ("slic", 400),
) -> int:
    """Apply what was drawn on the canvas (Fabric.js objects) to the mask; returns edits applied.

    Freehand paths are brush (or eraser) strokes of their stroke width; polygons and rectangles
    are filled; points/circles fill the superpixel under them. Each object is painted with the
    class of its own colour (`labelling.strokes`: unique per class even where the scheme's
    colours are not; the eraser draws in the background class's): a drawing that reaches Python
    after the analyst picked another class or tool keeps the class it was drawn with.
    `class_id` / `eraser` only serve objects without a class colour.
    """
    applied = 0
    editor, scheme = session.editor, session.store.scheme
    for obj in objects:
        paint = object_class(obj, eraser_class(scheme) if eraser else class_id, scheme)
        kind = str(obj.get("type", "")).lower()
        if kind == "path":
            points = [frame.to_original(x, y) for x, y in _path_points(obj.get("path") or [])]
            width = float(obj.get("strokeWidth", 1)) * frame.scale()
            changed = editor.paint_stroke(points, width, paint)
        elif kind == "polygon":
            points = [frame.to_original(p["x"], p["y"]) for p in obj.get("points", [])]
            changed = editor.fill_polygon(points, paint) if len(points) >= 3 else 0
        elif kind == "rect":
            left, top = float(obj["left"]), float(obj["top"])
            right = left + float(obj["width"]) * float(obj.get("scaleX", 1))
            bottom = top + float(obj["height"]) * float(obj.get("scaleY", 1))
            corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
            changed = editor.fill_polygon([frame.to_original(x, y) for x, y in corners], paint)
        elif kind == "circle":
            x, y = _circle_centre(obj)
            changed = editor.fill_superpixel(session.superpixels(*regions), *frame.to_original(x, y), paint)
        else:
            continue
        applied += 1 if changed else 0
    if applied:
        session.edits += applied
        session.keep_draft()
    return applied


def _path_points(commands: list) -> list[tuple[float, float]]:
    """The on-curve points of an SVG-style path: ["M", x, y], ["L", x, y], ["Q", cx, cy, x, y]."""
    points = []
    for command in commands:
        if len(command) >= 3 and command[0] in ("M", "L", "Q", "C"):
            points.append((float(command[-2]), float(command[-1])))
    return points


def _circle_centre(obj: dict) -> tuple[float, float]:
    """A point marker's centre: Fabric measures `left`/`top` at the stroked bounding box's edge."""
    half = (float(obj.get("radius", 0)) + float(obj.get("strokeWidth", 0)) / 2) * float(obj.get("scaleX", 1))
    x, y = float(obj.get("left", 0)), float(obj.get("top", 0))
    if obj.get("originX", "left") == "left":
        x += half
    if obj.get("originY", "top") == "top":
        y += half
    return x, y


def photo_table(dataset: str | Path) -> list[dict]:
    """Every photo with its status, who corrected it and when, how much of a saved mask a person
    made or confirmed (`by_person`, 0..1; None when not recorded) and its pre-label's uncertainty."""
    rows, store = [], LabelStore(dataset)
    for photo in store.photos():
        row = {"photo": photo.stem, "status": photo.status, "by": photo.by or "", "model": photo.model or ""}
        row["when"] = time.strftime("%Y-%m-%d %H:%M", time.localtime(photo.at)) if photo.at else ""
        row["by_person"] = person_share(photo.provenance)
        row["uncertain"] = photo.uncertainty["uncertain_share"] if photo.uncertainty else None
        row["review"] = review_label(store, photo.stem)
        rows.append(row)
    return rows


def scheme_problem(dataset: str | Path) -> str | None:
    """The sentence naming what is wrong with the dataset's classes.json, or None when its masks
    can be labelled (a declared scheme, or harvey without the file)."""
    try:
        LabelStore(dataset)
    except ValueError as exc:
        return str(exc)
    return None


def photos_to_prelabel(dataset: str | Path) -> list[str]:
    """The photos no person has labelled yet (unlabelled or only pre-labelled), by name."""
    return [p.stem for p in LabelStore(dataset).photos() if p.status in ("unlabelled", "pre-labelled")]


def prelabel_photos(
    dataset: str | Path,
    predictor,
    model_label: str,
    stems: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    caller: Caller | None = None,
    mapping: str | Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> list[str]:
    """Pre-label photos (default: all not yet labelled by a person) with a loaded Predictor,
    storing each pre-label, its model (`model_label` and the weights checksum) and its
    uncertainty; returns one sentence per photo that failed.
    It writes into the dataset: analysts and admins (`caller` None: the owner).
    A model of another scheme pre-labels through `mapping` (a mapping file, or "roles":
    `schemes.remap.prelabel_remap`); `announce` hears the sentence saying how its classes map.

    Raises:
        ValueError: another scheme's model without a mapping (its ids would be stored as the
            dataset's classes: wrong, without a word), or a mapping that does not fit the two.
    """
    (caller or Caller()).authorize("label.save", target=f"{Path(dataset).name} (pre-labels)")
    store = LabelStore(dataset)
    try:
        table, how = prelabel_remap(predictor.scheme, store.scheme, mapping, eraser_class(store.scheme))
    except ValueError as exc:
        raise ValueError(f"{model_label} cannot pre-label {store.root.name}: {exc}") from None
    if how and announce:
        announce(how)
    if stems is None:
        stems = photos_to_prelabel(dataset)
    problems = []
    for done, stem in enumerate(stems, start=1):
        try:
            result = predictor.predict_full(store.image_path(stem), confidence=True)
            figures = photo_uncertainty(result.mask, result.confidence, predictor.scheme).to_dict()
            sha = predictor.meta.get("weights_sha256")
            mask = result.mask if table is None else table[result.mask]
            store.save_prelabel(stem, mask, model_label, figures, weights_sha256=sha)
        except ValueError as exc:
            problems.append(str(exc))
        if progress:
            progress(done, len(stems))
    return problems


def next_to_label(dataset: str | Path) -> list[dict]:
    """Photos no person has labelled yet, most uncertain pre-label first, each with its reason;
    photos not pre-labelled yet come last (their uncertainty is unknown)."""
    photos = [p for p in LabelStore(dataset).photos() if p.status in ("unlabelled", "pre-labelled")]
    known = {p.stem: p.uncertainty for p in photos if p.uncertainty}
    rows = rank_for_labelling(known)
    for p in photos:
        if p.stem not in known:
            rows.append({"stem": p.stem, "rank": None, "reason": "not pre-labelled yet: uncertainty unknown"})
    return rows


def finetune_cautions(dataset: str | Path) -> list[str]:
    """What to know before fine-tuning on this dataset's saved masks (one sentence each): a
    single photo, masks that are mostly a model's unreviewed pre-label. The page and the CLI
    show them before a run starts."""
    store = LabelStore(dataset)
    return training_cautions(
        [p for p in store.photos() if p.status in ("corrected", "labelled")], store.root.name
    )


def finetune_on_labels(
    dataset: str | Path, parent: str | Path, name: str = "", caller: Caller | None = None, **overrides
):
    """Queue a fine-tuning run of `parent` on this dataset's accepted masks (`include_unreviewed=True`:
    submitted ones too); returns run_queue.Submission. The caller is checked and limited as for
    any Start (`services.runs.start`; None: the owner).

    Raises:
        ValueError: no saved mask training may use, or the parent checkpoint is unusable.
    """
    from seg_core.services import runs
    from seg_core.training.finetune import batch_for, finetune_config
    from seg_core.training.preflight import check_before_run

    # Refuse before reading the dataset or the parent; runs.start checks again (and the limit).
    caller = (caller or Caller()).opened()
    caller.authorize("run.start", target=f"fine-tune on {Path(dataset).name}", record=False)
    store = LabelStore(dataset)
    usable = trainable_masks(store, bool(overrides.get("include_unreviewed")))  # accepted, by default
    cfg = finetune_config(parent, store.root, name=name or f"finetune-{store.root.name}", **overrides)
    cfg = batch_for(cfg, len(usable))
    check_before_run(cfg)  # the same checks as the Train page's Start and the CLI's finetune
    return runs.start(cfg, caller)


def lineage(run_id: str | None, registry=None) -> list[str]:
    """The chain of runs a model was fine-tuned from, newest first (its own id excluded);
    stops at a parent that is not in the registry (e.g. the shipped demo model's own run)."""
    from seg_core.runs.registry import RunRegistry

    registry = registry or RunRegistry()
    chain, seen = [], {run_id}
    while run_id:
        try:
            parent = registry.get(run_id).config.get("parent_run_id") or ""
        except (ValueError, KeyError):
            break
        if not parent or parent in seen:
            break
        chain.append(parent)
        seen.add(parent)
        run_id = parent
    return chain


def create_dataset_from_photos(
    root: Path, name: str, photos: list[tuple[str, bytes]], caller: Caller | None = None
) -> tuple[Path, list[str]]:
    """labelstore.create_dataset for the page: analysts and admins only, and the photos count
    against the uploader's daily quota (`caller` None: the owner). The audit row says how it
    ended: allowed (created, before the photos are written) or failed (with the reason)."""
    caller = (caller or Caller()).opened()
    caller.authorize("dataset.create", target=name, record=False)
    try:
        folder, accepted, refused = check_new_dataset(root, name, photos)
    except ValueError as exc:
        caller.record_outcome("dataset.create", "failed", target=name, detail=str(exc))
        raise
    caller.charge_upload(
        sum(len(data) for _, data in photos), f"{count(len(photos), 'photo')} for dataset {name}"
    )
    detail = f"{count(len(accepted), 'photo')}" + (f", {len(refused)} refused" if refused else "")
    caller.record_outcome("dataset.create", "allowed", target=name, detail=detail)
    return write_dataset(folder, accepted), refused
