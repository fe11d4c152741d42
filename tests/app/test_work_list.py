"""A work list in the session, crossed off by two script runs at once (Streamlit's fast reruns
start a new run while the old one finishes its step): no item may be dropped."""

from __future__ import annotations

from ui.common import cross_off


def test_two_runs_on_one_list_both_finish_the_same_photo_and_drop_no_other():
    state = {"todo": ["dry_suburb", "flooded_street"]}
    first_run_photo = state["todo"][0]
    second_run_photo = state["todo"][0]  # the rerun starts while the first run still works
    assert cross_off(state, "todo", first_run_photo) == ["flooded_street"]  # then it is stopped
    assert cross_off(state, "todo", second_run_photo) == ["flooded_street"]  # kept for the rerun
    assert cross_off(state, "todo", state["todo"][0]) == []
    assert state["todo"] == []


def test_an_old_run_finishing_after_the_list_is_gone_leaves_an_empty_list():
    state = {}
    assert cross_off(state, "todo", "dry_suburb") == [] and state["todo"] == []


def test_the_stored_list_is_a_new_one_never_the_list_a_run_holds():
    held = ["a", "b"]
    state = {"todo": held}
    cross_off(state, "todo", "a")
    assert held == ["a", "b"] and state["todo"] == ["b"]
