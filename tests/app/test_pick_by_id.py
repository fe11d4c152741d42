"""ui.pickers.pick_by_id: the choice lives in plain session state, which buttons may set too; the
box starts at it and is keyed by it, so what the browser held for an older box never overwrites it
(the browser races are in tests/e2e/test_rerun_races.py)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page():
    import streamlit as st

    from ui.pickers import pick_by_id

    st.button("Pick 2", on_click=st.session_state.__setitem__, args=("cls", 2))
    chosen = pick_by_id("Class", [0, 1, 2], lambda i: f"{i} · class", "cls", default=1)
    st.write(f"class {chosen}")


def box(app):
    [found] = [s for s in app.selectbox if s.label == "Class"]
    return found


def test_the_default_is_chosen_and_shown_when_nothing_is_held():
    app = AppTest.from_function(_page).run()
    assert app.session_state["cls"] == 1 and box(app).value == 1 and app.markdown[0].value == "class 1"


def test_a_choice_in_the_box_becomes_the_state_and_a_box_that_starts_there():
    app = AppTest.from_function(_page).run()
    box(app).select(0).run()
    assert app.session_state["cls"] == 0 and app.markdown[0].value == "class 0"
    app.run()
    assert box(app).value == 0 and app.session_state["cls"] == 0  # kept by the next run's box


def test_each_choice_in_a_row_in_the_same_box_counts():
    app = AppTest.from_function(_page).run()
    for choice in (0, 2, 1, 2):  # the analyst changes her mind without anything else between
        box(app).select(choice).run()
        assert app.session_state["cls"] == choice and app.markdown[0].value == f"class {choice}", choice


def test_a_button_after_a_choice_in_the_box_wins_over_what_the_box_holds():
    app = AppTest.from_function(_page).run()
    box(app).select(0).run()
    app.button[0].click().run()  # the box still holds 0 when the button chooses 2
    assert app.session_state["cls"] == 2 and box(app).value == 2 and app.markdown[0].value == "class 2"
    box(app).select(1).run()
    assert app.session_state["cls"] == 1 and app.markdown[0].value == "class 1"


def test_a_button_sets_the_choice_and_the_box_shows_it():
    app = AppTest.from_function(_page).run()
    app.button[0].click().run()
    assert app.session_state["cls"] == 2 and box(app).value == 2 and app.markdown[0].value == "class 2"


def test_a_held_value_that_is_no_option_falls_back_to_the_default():
    for stale in ("1 · Roof", 7, None):
        app = AppTest.from_function(_page)
        app.session_state["cls"] = stale
        app.run()
        assert not app.exception and app.session_state["cls"] == 1 and box(app).value == 1, stale
