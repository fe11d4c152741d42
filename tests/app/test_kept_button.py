"""ui.common.kept_button: a click whose run another rerun stopped before the button still acts,
once, in page order; a button disabled by then does not act."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page():
    import streamlit as st

    from ui.common import kept_button

    st.session_state.setdefault("saves", 0)
    st.session_state.setdefault("order", [])
    st.session_state.order.append("canvas")  # what the page does above the button
    if kept_button("Save", "save", disabled=st.session_state.get("off", False)):
        st.session_state.saves += 1
        st.session_state.order.append("save")


def test_a_click_acts_once_in_the_run_that_reaches_the_button():
    app = AppTest.from_function(_page).run()
    app.button(key="save").click().run()
    assert app.session_state.saves == 1 and app.session_state.order[-2:] == ["canvas", "save"]
    app.run()
    assert app.session_state.saves == 1  # not again


def test_a_click_left_by_a_stopped_run_acts_in_the_next_run():
    app = AppTest.from_function(_page).run()
    app.session_state["save__clicked"] = True  # the callback ran, then its run was stopped
    app.run()
    assert app.session_state.saves == 1
    app.run()
    assert app.session_state.saves == 1


def test_a_click_kept_for_a_button_disabled_since_does_not_act():
    app = AppTest.from_function(_page).run()
    app.session_state["save__clicked"] = True
    app.session_state["off"] = True
    app.run()
    assert app.session_state.saves == 0 and "save__clicked" not in app.session_state
