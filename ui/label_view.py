"""The Label page's correction view: tools, class picker with shortcuts, the drawing canvas, zoom.

The canvas (streamlit-drawable-canvas 0.13, a components-v2 element drawn in the page, no iframe)
shows the photo with the mask blended over it. Whatever is drawn on it is turned into an edit of
the original-size mask (seg_core.services.labelling.apply_canvas_objects) and the picture under
it is redrawn: the mask, not the canvas, holds the work.

The canvas stays mounted (same key) while the analyst draws: it sends its whole drawing 200 ms
after each stroke, and a canvas remounted in that window (a new key) drops the stroke without
a trace, which is what a fresh canvas after every edit did to fast strokes (and to the browser
test). So the page applies only the objects it has not applied yet, each with the class of its
own colour (`seg_core.labelling.strokes`: one colour per class even where the dataset's scheme
gives two classes one), and remounts the canvas only when the mask changes under it by other means (undo,
redo, discard, another photo, zoom).
"""

from __future__ import annotations

import hashlib

import streamlit as st
from PIL import Image

from seg_core.labelling.labelstore import ConflictError
from seg_core.labelling.strokes import eraser_class, stroke_colours
from seg_core.schemes.scheme import HARVEY, LabelScheme
from seg_core.services import labelling
from ui.auth import current_caller
from ui.common import kept_button, legend_html
from ui.pickers import pick_by_id

CANVAS_WIDTH = 900  # canvas px at the default page width; the sidebar setting changes it
CANVAS_MAX_HEIGHT = 720
# Harvey's shortcut key -> class id: the classes analysts set most after a hurricane.
CLASS_KEYS = {"1": 1, "2": 23, "3": 14, "4": 5, "5": 6, "6": 22, "7": 4, "8": 3, "9": 2, "0": 0}
SHORT_NAMES = {
    1: "Roof",
    23: "Flood",
    14: "Road",
    5: "Grass",
    6: "Tree",
    22: "Water",
    4: "Car",
    3: "Pool",
    2: "Shed",
    0: "Bg",
}
TOOLS = {  # name: (canvas drawing mode, shortcut key, what it does)
    "Fill": ("point", "F", "click a region: the superpixel under it takes the class"),
    "Brush": ("freedraw", "B", "paint the class"),
    "Polygon": ("polygon", "P", "click the corners; click the first one again to close and fill"),
    "Eraser": ("freedraw", "E", "paint Background"),
}
SOURCES = {
    "saved": "the saved mask",
    "pre-label": "the model's pre-label",
    "empty": "an empty mask",
    "draft": "your unsaved draft",
}


STATUS_COLUMNS = {
    "photo": st.column_config.TextColumn("Photo"),
    "status": st.column_config.TextColumn("Status"),
    "review": st.column_config.TextColumn("Review", help="submitted, accepted or rejected, and by whom"),
    "by": st.column_config.TextColumn("Saved by"),
    "when": st.column_config.TextColumn("When"),
    "by_person": st.column_config.ProgressColumn(
        "Made or confirmed by a person",
        format="percent",
        min_value=0.0,
        max_value=1.0,
        help="Of a saved mask: the pixels a person changed, or painted over with the class already there. "
        "The rest is the model's pre-label that nobody touched.",
    ),
    "model": st.column_config.TextColumn("Pre-labelled by"),
    "uncertain": st.column_config.NumberColumn(
        "Uncertain", format="percent", help="of the pre-label's pixels: the model hesitated there"
    ),
}


def status_rows(rows: list[dict]) -> list[dict]:
    """The photo table's rows in the order given (most uncertain first), columns of STATUS_COLUMNS."""
    return [{name: None if row.get(name) == "" else row.get(name) for name in STATUS_COLUMNS} for row in rows]


def photo_label(row: dict) -> str:
    """What the photo picker shows for a photo: name, status, who saved it and how much was theirs."""
    text = f"{row['photo']} · {row['status']}" + (f" · by {row['by']}" if row["by"] else "")
    if row.get("by_person") is not None:
        text += f" · {row['by_person']:.0%} a person's"
    return text


def _set(key: str, value) -> None:
    st.session_state[key] = value


def remount_canvas() -> None:
    """A fresh, empty canvas on the next render: after undo, redo or discard the objects drawn on
    it no longer match the mask."""
    st.session_state["label_canvas_round"] = st.session_state.get("label_canvas_round", 0) + 1


def _canvas_key(session: labelling.LabelSession, frame: labelling.CanvasFrame, mode: str) -> str:
    """Stable while the analyst draws on one photo at one zoom with one tool (class changes only
    switch its colour); new when the drawing must go or the tool's drawing mode changes. A canvas
    told to switch mode does so a moment after its new props arrive, and a stroke drawn in that
    moment would be recorded in the old mode (a brush stroke as a fill click); a fresh canvas is
    born in the new mode."""
    what = (
        str(session.store.root),
        session.stem,
        session.who,
        st.session_state.get("label_canvas_round", 0),
        frame.box,
        frame.canvas_size,
        mode,
    )
    return "label_canvas_" + hashlib.sha1(repr(what).encode()).hexdigest()[:16]


def _new_objects(key: str, objects: list[dict]) -> list[dict]:
    """The canvas objects not applied yet (the canvas sends all of them every time). Its own
    toolbar's undo/reset removes objects: those edits stay in the mask (the page's Undo undoes)."""
    seen_key, seen = st.session_state.get("label_canvas_applied", (None, 0))
    seen = min(seen, len(objects)) if seen_key == key else 0
    st.session_state["label_canvas_applied"] = (key, len(objects))
    return objects[seen:]


def class_keys(scheme: LabelScheme) -> dict[str, tuple[int, str]]:
    """Shortcut key -> (class id, button text). Harvey: its ten most used classes. Any other
    scheme: its first ten classes, key = id (1-9, then 0); the select box lists them all."""
    if scheme.names == HARVEY.names:
        return {key: (class_id, SHORT_NAMES[class_id]) for key, class_id in CLASS_KEYS.items()}
    ids = [i for i in (*range(1, 10), 0) if i < scheme.num_classes]
    words = {i: scheme.names[i].replace("-", " ").replace("_", " ").split() for i in ids}
    firsts = [w[0] for w in words.values() if w]
    return {str(i): (i, button_text(words[i], firsts)) for i in ids}


def button_text(words: list[str], firsts: list[str]) -> str:
    """A class name short enough for its button: a first word that several of the buttons share
    is left out when two words remain ('building-major-damage': 'major damage'; 'road-blocked'
    stays whole); the full name is in the button's tooltip and the picker."""
    if len(words) > 2 and firsts.count(words[0]) > 1:
        words = words[1:]
    return " ".join(words) or "?"


def class_buttons(chosen: int, scheme: LabelScheme) -> None:
    """Up to ten classes as one row of buttons with keys 0-9 (the select box has every class)."""
    keys = class_keys(scheme)
    per_row = len(keys) if scheme.names == HARVEY.names else 5  # published names are long
    columns = [c for start in range(0, len(keys), per_row) for c in st.columns(per_row)]
    for column, (key, (class_id, text)) in zip(columns[: len(keys)], keys.items(), strict=True):
        column.button(
            text,
            key=f"label_key_{key}",
            shortcut=key,
            width="stretch",
            type="primary" if class_id == chosen else "secondary",
            on_click=_set,
            args=("label_class", class_id),
            help=f"{scheme.names[class_id]} (key {key})",
        )


def tool_picker() -> str:
    """The four tools as buttons with shortcut keys F, B, P, E; returns the active one."""
    st.session_state.setdefault("label_tool", "Fill")
    tool = st.session_state["label_tool"]
    for column, name in zip(st.columns(len(TOOLS)), TOOLS, strict=True):
        _mode, key, what = TOOLS[name]
        column.button(
            name,
            key=f"label_tool_{name}",
            shortcut=key,
            width="stretch",
            type="primary" if name == tool else "secondary",
            on_click=_set,
            args=("label_tool", name),
            help=what,
        )
    return tool


def _canvas_size(box: tuple[int, int, int, int], max_width: int) -> tuple[int, int]:
    width, height = box[2] - box[0], box[3] - box[1]
    scale = min(max_width / width, CANVAS_MAX_HEIGHT / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def correction_view(session: labelling.LabelSession) -> None:
    """Tools above, the canvas below; applies each drawing to the mask as it arrives."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # noqa: BLE001 - a missing or broken component must not kill the page
        st.error(
            f"The drawing surface is not available ({type(exc).__name__}: {exc}); "
            "install it with `pip install -r requirements.txt`."
        )
        return
    scheme = session.store.scheme
    tools_col, class_col, zoom_col, settings_col = st.columns([5, 3, 1.3, 1.5], vertical_alignment="bottom")
    with tools_col:
        tool = tool_picker()
    # A class picked on another dataset may not exist here (an id past this scheme's): this
    # scheme's default then. The class buttons below set the same state.
    class_id = pick_by_id(
        "Class",
        list(range(scheme.num_classes)),
        lambda i: f"{i} · {scheme.names[i]}",
        "label_class",
        container=class_col,
        default=1 if scheme.num_classes > 1 else 0,
        label_visibility="collapsed",
    )
    zoom = zoom_col.selectbox(
        "Zoom",
        [1, 2, 4, 8],
        format_func=lambda z: f"Zoom {z}×",
        key="label_zoom",
        label_visibility="collapsed",
    )
    with settings_col.popover("Settings", icon=":material/tune:", width="stretch"):
        method = st.segmented_control(
            "Regions",
            ["slic", "felzenszwalb"],
            default="slic",
            required=True,
            key="label_regions_method",
            help="SLIC: compact, even regions. Felzenszwalb: follows colour edges.",
        )
        regions = st.slider("Region count (granularity)", 50, 3000, 400, 50, key="label_regions")
        brush = st.slider("Brush width (screen px)", 2, 80, 16, key="label_brush")
        opacity = st.slider("Mask opacity", 0.0, 1.0, 0.45, 0.05, key="label_opacity")
        show_regions = st.toggle("Show region borders (Fill)", value=True, key="label_show_regions")
        max_width = st.slider("Canvas width (px)", 400, 1600, CANVAS_WIDTH, 50, key="label_canvas_width")
        centre = (
            st.slider("Pan ←→ (when zoomed)", 0.0, 1.0, 0.5, 0.05, key="label_pan_x"),
            st.slider("Pan ↑↓ (when zoomed)", 0.0, 1.0, 0.5, 0.05, key="label_pan_y"),
        )
    class_buttons(class_id, scheme)
    view_size = (session.view.shape[1], session.view.shape[0])
    box = labelling.zoom_box(view_size, zoom, centre)
    canvas_size = _canvas_size(box, max_width)
    frame = labelling.CanvasFrame(box, canvas_size, view_size, session.original_size)
    borders = (
        labelling.superpixel_borders(session, method, regions) if show_regions and tool == "Fill" else None
    )
    picture = Image.fromarray(labelling.render_view(session, opacity, box, borders)).resize(canvas_size)
    mode = TOOLS[tool][0]
    colour = stroke_colours(scheme)[eraser_class(scheme) if tool == "Eraser" else class_id]
    st.markdown(
        legend_html(
            [{"name": f"<b>{scheme.names[class_id]}</b> · {tool}: {TOOLS[tool][2]}", "color": colour}]
        ),
        unsafe_allow_html=True,
    )  # (also room for the canvas's floating toolbar)
    key = _canvas_key(session, frame, mode)
    result = st_canvas(
        fill_color=colour + "88",
        stroke_width=brush if mode == "freedraw" else 2,
        stroke_color=colour + ("cc" if mode == "freedraw" else "ff"),
        background_image=picture,
        width=canvas_size[0],
        height=canvas_size[1],
        drawing_mode=mode,
        point_display_radius=4,
        key=key,
    )
    width, height = session.original_size
    st.caption(
        f"{session.stem}: {width}×{height} px, edited at full size; started from {SOURCES[session.source]}. "
        f"Zoom {zoom}× shows {box[2] - box[0]}×{box[3] - box[1]} of {view_size[0]}×{view_size[1]} "
        "working px."
    )
    # Printed after the canvas, so once it shows a count the canvas above has that picture.
    st.caption(
        f"{session.edits} edit{'' if session.edits == 1 else 's'} applied since this photo was opened."
    )
    if fresh := _new_objects(key, (result.json_data or {}).get("objects", [])):
        applied = labelling.apply_canvas_objects(
            session, fresh, frame, class_id, eraser=tool == "Eraser", regions=(method, regions)
        )
        if applied:
            st.rerun()  # redraw the picture under the canvas (same key: strokes in flight survive)


def actions(session: labelling.LabelSession) -> None:
    """Undo, redo, save (with the conflict message and an explicit overwrite) and discard."""
    undo_col, redo_col, save_col, discard_col = st.columns(4)
    # A click kept across a stopped run acts on the photo it was made on, never on the next one.
    photo = f"{session.store.root.name}_{session.stem}"
    if kept_button(
        "Undo",
        f"label_undo_{photo}",
        undo_col,
        icon=":material/undo:",
        shortcut="Ctrl+Z",
        width="stretch",
        disabled=not session.editor.undo_stack,
    ):
        session.editor.undo()
        session.keep_draft()
        remount_canvas()
        st.rerun()
    if kept_button(
        "Redo",
        f"label_redo_{photo}",
        redo_col,
        icon=":material/redo:",
        shortcut="Ctrl+Shift+Z",
        width="stretch",
        disabled=not session.editor.redo_stack,
    ):
        session.editor.redo()
        session.keep_draft()
        remount_canvas()
        st.rerun()
    force = st.session_state.get("label_conflict") == session.stem
    label = "Overwrite their save" if force else "Save mask"
    if kept_button(
        label,
        f"label_save_{photo}",
        save_col,
        icon=":material/save:",
        type="primary",
        shortcut="Ctrl+S",
        width="stretch",
    ):
        try:
            st.session_state["label_saved"] = labelling.save_labels(
                session, force=force, caller=current_caller()
            )
            st.session_state.pop("label_conflict", None)
            st.rerun()
        except ConflictError as exc:
            st.session_state["label_conflict"] = session.stem
            st.warning(str(exc))
        except ValueError as exc:
            st.error(str(exc))
    if kept_button(
        "Discard draft",
        f"label_discard_{photo}",
        discard_col,
        icon=":material/delete_history:",
        width="stretch",
        help="Forget unsaved edits and reopen what is saved (or the pre-label).",
    ):
        st.session_state["label_session"] = labelling.discard_changes(session)
        st.session_state.pop("label_conflict", None)
        remount_canvas()
        st.rerun()
    if message := st.session_state.pop("label_saved", None):
        st.success(message)
