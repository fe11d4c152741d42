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
