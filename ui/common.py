"""Error handling, cached resources and small widgets shared by every page."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

log = logging.getLogger("stormseg.ui")


@contextlib.contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show seg_core's ValueErrors (bad file, bad setting) as their own sentence, anything else as
    one sentence plus a pointer to the server log: never a traceback on the page."""
    try:
        yield
    except ValueError as exc:  # seg_core's user-input errors (ImageReadError, CheckpointError, ...)
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - the page must keep working whatever happened
        log.error("%s failed:\n%s", action, traceback.format_exc())
        st.error(
            f"{action} failed unexpectedly ({type(exc).__name__}: {exc}). The details are in the "
            "server log; the app keeps running."
        )


def kept_button(label: str, key: str, where=None, **kwargs) -> bool:
    """`st.button` whose click is not lost when another rerun stops the run it started.

    A plain button is True only in the run its click starts; when another rerun request arrives
    before that run reaches the button (on Label the drawing canvas reports its value a moment
    after each drawing, and a loaded server is slow), Streamlit stops the run and the click is gone:
    5 of 5 clicks in a small app, "Create dataset" twice in 20 loaded first-hour tests. Its callback,
    which Streamlit runs before the page, keeps the click until the page reaches the button again,
    so the action still runs in page order (after the canvas's strokes are applied, for Save).

    Args:
        where: the container (a column, the sidebar); st by default.
        kwargs: more st.button arguments (icon, type, disabled, help, shortcut, width).
    """
    flag = f"{key}__clicked"
    (where or st).button(label, key=key, on_click=st.session_state.__setitem__, args=(flag, True), **kwargs)
    return bool(st.session_state.pop(flag, False)) and not kwargs.get("disabled")


@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def cached_predictor(path: str, modified_ns: int):
    """One Predictor per model file version, shared by all sessions (thread-safe, eval mode); an
    exported .onnx runs on ONNX Runtime without importing torch.

    `modified_ns` is part of the key so a retrained best.pt is reloaded, not served stale.
    """
    from seg_core.inference.onnx_predictor import open_predictor

    return open_predictor(path)


def load_predictor(path: Path):
    return cached_predictor(str(path), path.stat().st_mtime_ns)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _cached_checkpoint_summary(path: str, modified_ns: int) -> dict:
    from seg_core.services import catalog

    return catalog.checkpoint_summary(Path(path))


def checkpoint_summary(path: Path) -> dict:
    """`catalog.checkpoint_summary`, cached per file version: reading it loads and hashes the whole
    checkpoint (19 MB for the demo model), which no rerun of a page should repeat. A file that has
    gone since the model list was read gives an {"error": ...} like any unreadable one."""
    try:
        modified_ns = path.stat().st_mtime_ns  # in the key: a retrained best.pt is read again
    except OSError as exc:
        return {"error": f"{path}: the model file cannot be read ({exc.strerror or exc})"}
    return _cached_checkpoint_summary(str(path), modified_ns)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def legend_html(rows: list[dict]) -> str:
    """A compact colour legend: swatch, class name and share."""
    items = []
    for row in rows:
        share = f" <span style='opacity:.7'>{row['share']:.1%}</span>" if row.get("share") is not None else ""
        items.append(
            f"<div style='display:flex;align-items:center;gap:.5em;margin:.1em 0'>"
            f"<span style='display:inline-block;flex:none;width:1em;height:1em;border:1px solid #8884;"
            f"background:{row['color']}'></span>{row['name']}{share}</div>"
        )
    return "".join(items)


FIGURES_PER_ROW = 4  # headline figures per row: each reads in full from a 1280 px window up


def metrics_grid(figures: list) -> None:
    """Headline figures (views.figures.KeyFigure) in rows of FIGURES_PER_ROW equal columns: at
    1400 px a single row of eight left each about 110 px, and "Flooded 7.1%" read "Fl… 7…"."""
    for start in range(0, len(figures), FIGURES_PER_ROW):
        row = figures[start : start + FIGURES_PER_ROW]
        for column, figure in zip(st.columns(FIGURES_PER_ROW), row, strict=False):
            column.metric(
                figure.label,
                figure.value,
                figure.detail,
                delta_color="off",
                delta_arrow="off",
                help=figure.help or None,
                border=True,
            )


def show_note(note: tuple[str, str] | None, label_link: bool = False) -> None:
    """A (level, sentence) note from views.figures.familiarity_note; with `label_link`, a way to
    Label when the figures are unreliable or unusual."""
    if note is None:
        return
    level, sentence = note
    {"error": st.error, "warning": st.warning, "info": st.info}[level](sentence)
    if label_link and level in ("error", "warning"):
        st.page_link(
            "app_pages/label.py",
            label="Label a few of these photos and fine-tune the model on them",
            icon=":material/brush:",
        )


def colour_bar_html(colours: list[str], top: str, bottom: str) -> str:
    """A vertical colour bar, `colours` from the bottom up, labelled at both ends."""
    gradient = ", ".join(reversed(colours))  # a CSS gradient runs from the top down
    return (
        "<div style='display:flex;gap:.5em;height:12em;margin-top:.3em'>"
        f"<div style='width:1.2em;border:1px solid #8884;background:linear-gradient({gradient})'></div>"
        "<div style='display:flex;flex-direction:column;justify-content:space-between;font-size:.9em'>"
        f"<span>{top}</span><span>{bottom}</span></div></div>"
    )


def cross_off(state, key: str, item) -> list:
    """Remove `item` from the work list `state[key]` by value and store a new list; returns what is
    left. Streamlit starts a new run for each rerun request while the old run finishes its step, so
    two runs may work through one list: removing by value (never `pop(0)` of a shared list) means
    a step done twice is harmless and no other item is ever dropped."""
    left = [x for x in state.get(key) or [] if x != item]
    state[key] = left
    return left
