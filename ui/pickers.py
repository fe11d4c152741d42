"""Pickers that hold on to what was chosen, not to a position in a list.

A keyed `st.selectbox` remembers its choice by the text shown for it: when the options are
re-sorted or their text changes (a photo's status after a save, a new batch), the remembered text
matches nothing and the box falls back to whatever now sits at the top, while the browser may
still show the old text. Here the choice is held by id in session state, and the widget is keyed
by the options it shows and by a count of the choices made outside it (code, buttons, other
pages), so a changed list, or a choice made elsewhere, is a fresh box opened on the chosen id.

`model_picker` is the one model picker of every page that picks a model (Segment, Map, Evaluate,
Label, Train's fine-tune): one choice per session (`MODEL_KEY`), so a model chosen on Runs or on
any of these pages is the one the next page opens with; `?model=<id>` in the URL chooses it too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence

import streamlit as st

from seg_core.services.catalog import ModelChoice

MODEL_KEY = "model_id"  # the model chosen in this session, by ModelChoice.id
MODEL_PARAM = "model"  # ?model=<id> (Runs' "Use this model" links)
_NOTHING = object()


def pick_by_id(
    label: str,
    ids: Sequence[Hashable],
    describe: Callable[[Hashable], str],
    state_key: str,
    container=None,
    default: Hashable | None = None,
    **kwargs,
) -> Hashable | None:
    """A select box over `ids` whose choice survives re-sorting, relabelling and being set by code.

    Buttons and code may set `st.session_state[state_key]` to choose (Label's class buttons do).
    A widget whose own value code sets loses it when the run that first shows it is stopped before
    the browser received it: the browser then shows the widget's default and sends that back with
    the next rerun, overwriting the value. Label's class box came up "0 · Background" so, and a fill
    and a brush stroke painted Background (one CI run; 7 of 8 first showings in a small app with
    Streamlit's sending interval widened to 2 s, and 8 of 8 choices made by a button). Here the box
    always starts at the choice (its index), and a choice made anywhere but in the box (code, a
    button, another page) since the box last showed one opens a new box (a new key), so what an
    older box still holds is ignored. A choice made in the box keeps the box, so the analyst's next
    choice in it counts too.

    Args:
        describe: the text shown for an id (may change between reruns).
        state_key: where the chosen id lives in session state (not a widget key: it outlives
            the widget, also across pages).
        default: the id chosen when none is held (else the first).
        kwargs: passed on to st.selectbox (help, label_visibility, ...).
    """
    ids = list(ids)
    if not ids:
        return None
    chosen = _held(state_key, ids, default)
    picked = (container or st).selectbox(
        label,
        ids,
        index=ids.index(chosen),
        format_func=describe,
        key=_widget_key(state_key, ids, describe, chosen),
        **kwargs,
    )
    _remember(state_key, picked)
    return picked


def pick_segment(
    label: str,
    ids: Sequence[Hashable],
    describe: Callable[[Hashable], str],
    state_key: str,
    container=None,
    default: Hashable | None = None,
    **kwargs,
) -> Hashable:
    """`pick_by_id` as a segmented control (a mode switch): the same guarantees, and the choice is
    never empty (a click on the chosen segment, which would clear it, keeps it).

    kwargs: passed on to st.segmented_control (help, label_visibility, ...).
    """
    ids = list(ids)
    chosen = _held(state_key, ids, default)
    picked = (container or st).segmented_control(
        label,
        ids,
        default=chosen,
        format_func=describe,
        key=_widget_key(state_key, ids, describe, chosen),
        **kwargs,
    )
    if picked is None:  # the chosen segment clicked again: it stays chosen, shown by a fresh control
        st.session_state.pop(_shown_key(state_key), None)
        st.rerun()
    _remember(state_key, picked)
    return picked


def _held(state_key: str, ids: list, default) -> Hashable:
    """The id chosen last (session state), else `default`, else the first."""
    chosen = st.session_state.get(state_key)
    if chosen not in ids:
        chosen = default if default in ids else ids[0]
    return chosen


def _widget_key(state_key: str, ids: list, describe: Callable[[Hashable], str], chosen) -> str:
    """The widget's key: the options it shows, and how many choices were made elsewhere than in it."""
    shown_key, boxes_key = _shown_key(state_key), f"{state_key}__boxes"
    if st.session_state.get(shown_key, _NOTHING) != chosen:  # chosen elsewhere than in the widget
        st.session_state[boxes_key] = st.session_state.get(boxes_key, 0) + 1
    shown = repr([(i, describe(i)) for i in ids]).encode()
    return f"{state_key}__{hashlib.sha1(shown).hexdigest()[:12]}_{st.session_state[boxes_key]}"


def _remember(state_key: str, picked: Hashable) -> None:
    st.session_state[state_key] = st.session_state[_shown_key(state_key)] = picked


def _shown_key(state_key: str) -> str:
    """Where the id the widget shows is kept (a choice made elsewhere differs from it)."""
    return f"{state_key}__shown"


def model_picker(
    models: Sequence[ModelChoice], label: str = "Model", container=None, **kwargs
) -> ModelChoice | None:
    """The session's model: what was chosen last on any page (or in `?model=`), else the first
    of `models` (the demo model)."""
    by_id = {m.id: m for m in models}
    wanted = st.query_params.get(MODEL_PARAM)
    if wanted is not None:
        if wanted in by_id:
            st.session_state[MODEL_KEY] = wanted
        del st.query_params[MODEL_PARAM]  # once: from now on the picker decides
    chosen = pick_by_id(label, list(by_id), lambda i: by_id[i].label, MODEL_KEY, container, **kwargs)
    return None if chosen is None else by_id[chosen]
